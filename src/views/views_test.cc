#include "views/views.h"

#include <gtest/gtest.h>

#include <random>
#include <set>

namespace tally {
namespace {

constexpr Millis kHourStart = 1793527200000;  // an hour boundary

Event Make(std::string type, std::string user, Millis timestamp) {
  Event event;
  event.type = std::move(type);
  event.user_id = std::move(user);
  event.timestamp = timestamp;
  return event;
}

void Apply(Views& views, LogRecord record) { views.Apply(record, LogPosition{}); }

TEST(Views, AnHourHoldsItsFirstAndLastMillisecondAndNothingElse) {
  Views views;
  Apply(views, Make("click", "a", kHourStart - 1));
  Apply(views, Make("click", "b", kHourStart));
  Apply(views, Make("impression", "c", kHourStart + kMillisPerHour - 1));
  Apply(views, Make("click", "d", kHourStart + kMillisPerHour));
  EXPECT_EQ(views.TakeHomeHour(HourOf(kHourStart)), (TakeHomeCounts{2, 1, 1}));
  EXPECT_EQ(views.TakeHomeHour(HourOf(kHourStart) - 1), (TakeHomeCounts{1, 1, 0}));
  EXPECT_EQ(views.TakeHomeHour(HourOf(kHourStart) + 1), (TakeHomeCounts{1, 1, 0}));
}

TEST(Views, AnEmptyHourIsZeros) {
  Views views;
  EXPECT_EQ(views.TakeHomeHour(0), (TakeHomeCounts{0, 0, 0}));
  Apply(views, Make("click", "a", 0));
  EXPECT_EQ(views.TakeHomeHour(HourOf(kMaxTimestampMillis)), (TakeHomeCounts{0, 0, 0}));
}

TEST(Views, OneUserClickingAndViewingIsOneUniqueUser) {
  Views views;
  for (int i = 0; i < 5; ++i) Apply(views, Make("click", "alice", kHourStart + i));
  for (int i = 0; i < 3; ++i) Apply(views, Make("impression", "alice", kHourStart + 100 + i));
  EXPECT_EQ(views.TakeHomeHour(HourOf(kHourStart)), (TakeHomeCounts{1, 5, 3}));
}

TEST(Views, OtherEventTypesCountTowardsUniqueUsersButNotClicksOrImpressions) {
  Views views;
  Apply(views, Make("page_view", "x", kHourStart));
  Apply(views, Make("click", "y", kHourStart));
  EXPECT_EQ(views.TakeHomeHour(HourOf(kHourStart)), (TakeHomeCounts{2, 1, 0}));
}

TEST(Views, RejectedRecordsChangeNoCount) {
  Views views;
  Apply(views, RejectedInput{1, "/analytics", "user: missing", "POST /analytics?x", ""});
  EXPECT_EQ(views.TakeHomeHour(0), (TakeHomeCounts{0, 0, 0}));
  EXPECT_EQ(views.global().rejected().size(), 1u);
  EXPECT_EQ(views.rows(), 0u);
}

TEST(Views, UniqueUsersAreExactAgainstASetOverManyRandomEvents) {
  Views views;
  std::mt19937_64 random(42);
  std::map<int64_t, std::set<std::string>> users_by_hour;
  std::map<int64_t, std::pair<uint64_t, uint64_t>> counts_by_hour;
  for (int i = 0; i < 50'000; ++i) {
    std::string user = "user-" + std::to_string(random() % 7'000);
    Millis timestamp = kHourStart + static_cast<Millis>(random() % (5 * kMillisPerHour));
    bool click = random() % 10 < 3;
    Apply(views, Make(click ? "click" : "impression", user, timestamp));
    users_by_hour[HourOf(timestamp)].insert(user);
    (click ? counts_by_hour[HourOf(timestamp)].first : counts_by_hour[HourOf(timestamp)].second)++;
  }
  for (auto& [hour, users] : users_by_hour) {
    EXPECT_EQ(views.TakeHomeHour(hour),
              (TakeHomeCounts{users.size(), counts_by_hour[hour].first, counts_by_hour[hour].second}));
  }
}

TEST(DimensionIndex, CountsEventsAndDistinctUsersPerKeyAndType) {
  // key 7: type 0 by users 1, 1, 2; type 3 by user 2. key 9: type 0 by user 5. Given in no order.
  DimensionIndex index = DimensionIndex::Build({{9, 0, 5}, {7, 0, 1}, {7, 3, 2}, {7, 0, 2}, {7, 0, 1}});
  ASSERT_EQ(index.key_count(), 2u);
  EXPECT_EQ(index.key_at(0), 7u);
  EXPECT_EQ(index.key_at(1), 9u);
  EXPECT_FALSE(index.Find(8).has_value());
  const size_t seven = *index.Find(7);
  EXPECT_EQ(index.Events(seven, std::nullopt), 4u);
  EXPECT_EQ(index.Events(seven, 0), 3u);
  EXPECT_EQ(index.Events(seven, 3), 1u);
  EXPECT_EQ(index.Events(seven, 1), 0u);
  Roaring users;
  index.AddUsers(seven, std::nullopt, &users);
  EXPECT_EQ(users, Roaring::bitmapOf(2, 1, 2));
  Roaring of_type_three;
  index.AddUsers(seven, 3, &of_type_three);
  EXPECT_EQ(of_type_three, Roaring::bitmapOf(1, 2));
  std::vector<std::pair<uint32_t, size_t>> groups;
  index.ForEachGroup(seven, [&](const DimensionIndex::Group& group) {
    groups.emplace_back(group.type, group.users.size());
  });
  EXPECT_EQ(groups, (std::vector<std::pair<uint32_t, size_t>>{{0, 2}, {3, 1}}));
  EXPECT_EQ(index.Events(*index.Find(9), std::nullopt), 1u);
  EXPECT_EQ(DimensionIndex::Build({}).key_count(), 0u);
  EXPECT_TRUE(index.Fits(10, 4));
  EXPECT_FALSE(index.Fits(9, 4));   // key 9 is not below 9
  EXPECT_FALSE(index.Fits(10, 3));  // type 3 is not below 3
  EXPECT_TRUE(DimensionIndex::Build({}).Fits(0, 0));
}

Event WithDimensions(std::string id, uint32_t version, std::string user, Millis timestamp,
                     std::string product) {
  Event event = Make(version % 2 == 0 ? "click" : "impression", std::move(user), timestamp);
  event.event_id = std::move(id);
  event.version = version;
  event.product_id = std::move(product);
  event.store_id = "store-" + std::to_string(timestamp % 3);
  return event;
}

TEST(Views, SealingChangesNoDigestAndARetractionDropsTheIndex) {
  Views sealed(3), plain(3);
  std::mt19937_64 random(7);
  for (int i = 0; i < 4000; ++i) {
    const Event event =
        WithDimensions("id-" + std::to_string(random() % 3000), 1 + static_cast<uint32_t>(random() % 3),
                       "user-" + std::to_string(random() % 300),
                       kHourStart + static_cast<Millis>(random() % (4 * kMillisPerHour)),
                       "product-" + std::to_string(random() % 50));
    sealed.Apply(event, LogPosition{0, static_cast<uint32_t>(16 + i)});
    plain.Apply(event, LogPosition{0, static_cast<uint32_t>(16 + i)});
    if (i % 500 == 499) sealed.SealHours(0);
  }
  EXPECT_EQ(sealed.Digest(), plain.Digest());

  // A correction of an event in a sealed hour takes the index away until the hour is sealed again.
  sealed.SealHours(0);
  const Event first = WithDimensions("fresh", 1, "user-1", kHourStart + 5, "product-1");
  sealed.Apply(first, LogPosition{1, 16});
  sealed.SealHours(0);
  const ShardViews& shard = sealed.shard(sealed.ShardOf("user-1"));
  const HourData& hour = shard.hours().at(HourOf(kHourStart));
  ASSERT_NE(hour.sealed, nullptr);
  EXPECT_EQ(hour.sealed_rows, hour.rows.size());
  sealed.Apply(WithDimensions("fresh", 2, "user-1", kHourStart + 6, "product-2"), LogPosition{1, 100});
  EXPECT_EQ(hour.sealed, nullptr);
  // A pass with a quiet period seals only hours unchanged for that many passes.
  sealed.SealHours(1);
  EXPECT_EQ(hour.sealed, nullptr);
  sealed.SealHours(1);
  EXPECT_NE(hour.sealed, nullptr);
}

TEST(Views, ABusyHourIsSealedEachTimeItsUnsealedRowsDouble) {
  Views views;
  ShardViews& shard = views.shard_to_seal(0);
  const int64_t hour = HourOf(kHourStart);
  auto apply = [&, next = 0](int count) mutable {
    for (int i = 0; i < count; ++i, ++next) {
      views.Apply(WithDimensions("b" + std::to_string(next), 1, "user-" + std::to_string(next % 9),
                                 kHourStart + next, "product-" + std::to_string(next % 5)),
                  LogPosition{0, static_cast<uint32_t>(16 + next)});
    }
  };
  constexpr uint32_t kNeverQuiet = 1'000'000;
  apply(63);
  shard.SealHours(kNeverQuiet, 64);
  EXPECT_EQ(shard.hours().at(hour).sealed, nullptr);  // 63 rows: fewer than 64
  apply(37);
  shard.SealHours(kNeverQuiet, 64);
  EXPECT_EQ(shard.hours().at(hour).sealed_rows, 100u);
  apply(99);
  shard.SealHours(kNeverQuiet, 64);
  EXPECT_EQ(shard.hours().at(hour).sealed_rows, 100u);  // 99 new rows: fewer than the 100 sealed
  apply(1);
  shard.SealHours(kNeverQuiet, 64);
  EXPECT_EQ(shard.hours().at(hour).sealed_rows, 200u);
  shard.SealHours(kNeverQuiet, 0);  // busy sealing off, nothing quiet: nothing happens
  EXPECT_EQ(shard.hours().at(hour).sealed_rows, 200u);
}

TEST(Views, ASealedFileNamingAProductTheShardDoesNotHaveIsNotInstalled) {
  Views views;
  views.Apply(WithDimensions("a", 1, "user-1", kHourStart, "product-1"), LogPosition{0, 16});
  ShardViews& shard = views.shard_to_seal(0);
  const int64_t hour = HourOf(kHourStart);
  const uint64_t digest = shard.RowsDigest(hour, 1);
  auto fitting = std::make_shared<SealedHour>(shard.BuildSealedHour(hour));
  auto foreign = std::make_shared<SealedHour>(*fitting);
  foreign->by_product = DimensionIndex::Build({{7, 0, 0}});  // product 7: the shard has one product
  EXPECT_FALSE(shard.InstallSealedFile(hour, 1, digest, foreign));
  EXPECT_FALSE(shard.InstallSealedFile(hour, 1, digest + 1, fitting));
  EXPECT_FALSE(shard.InstallSealedFile(hour, 2, digest, fitting));
  EXPECT_TRUE(shard.InstallSealedFile(hour, 1, digest, fitting));
  EXPECT_EQ(shard.hours().at(hour).sealed, fitting);
}

}  // namespace
}  // namespace tally

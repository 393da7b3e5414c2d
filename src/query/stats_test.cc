// The engine's views and queries against the brute-force reference model, over random events with
// duplicates, late events and corrections.
#include "query/stats.h"

#include <random>

#include <gtest/gtest.h>

#include <functional>

#include "../../tests/support/reference_model.h"

namespace tally {
namespace {

using testing::ModelAggregate;
using testing::ModelFilter;
using testing::RandomEvents;
using testing::ReferenceModel;

constexpr Millis kBase = 1793527200000;  // an hour boundary
constexpr int kHours = 5;

void ExpectSame(const Aggregate& actual, const ModelAggregate& expected, const std::string& where) {
  EXPECT_EQ(actual.events, expected.events) << where;
  EXPECT_EQ(actual.unique_users, expected.users.size()) << where;
  std::map<std::string, uint64_t> by_type(actual.by_type.begin(), actual.by_type.end());
  EXPECT_EQ(by_type, expected.by_type) << where;
}

// (seed, shards): the answers must not depend on the number of shards, also when a correction moves an
// event to a user of another shard, nor on when hours were sealed: most seeds seal every hour at random
// points while events arrive (a quarter of them only the hours whose unsealed rows doubled), so late
// events land beside a sealed index and corrections are masked from it; a quarter end with a few late
// rows and corrections waiting beside their hours' seals. Some seeds drop the first hours
// (retention) twice on the way.
class ModelTest : public ::testing::TestWithParam<std::tuple<uint64_t, uint32_t>> {};

TEST_P(ModelTest, StatsTopAndTimelinesEqualTheReference) {
  const auto [seed, shards] = GetParam();
  const uint64_t users = seed % 2 == 0 ? 40 : 5000;
  const bool seals = seed % 4 != 0;
  RandomEvents random(seed, users);
  Views views(shards);
  ReferenceModel model;
  // Top lists of the whole day, asked now and then on the way: the day's sums kept from one to the next
  // must be summed again whenever one of its hours' seals was replaced (sealed again, dropped).
  DayCounts day_counts;
  const Millis day = kBase - kBase % (24 * kMillisPerHour);
  auto expect_day_top = [&](uint32_t at) {
    for (bool by_product : {true, false}) {
      for (const std::optional<std::string>& type :
           {std::optional<std::string>(), std::optional<std::string>("click")}) {
        const TopRequest request{by_product ? TopDimension::kProduct : TopDimension::kStore, day,
                                 day + 24 * kMillisPerHour, type, 5};
        auto expected = model.Top(by_product, request.from, request.to, type, 5);
        std::vector<TopEntry> actual = ComputeTopBetweenReads(
            [&](const std::function<void(const Views&)>& step) { step(views); }, request, &day_counts);
        ASSERT_EQ(actual.size(), expected.size()) << at;
        for (size_t i = 0; i < actual.size(); ++i) {
          EXPECT_EQ(actual[i].key, expected[i].key) << at;
          EXPECT_EQ(actual[i].events, expected[i].events) << at << " " << actual[i].key;
          EXPECT_EQ(actual[i].unique_users, expected[i].unique_users) << at << " " << actual[i].key;
        }
      }
    }
  };
  for (uint32_t i = 0; i < 3000; ++i) {
    if (i % 250 == 249) expect_day_top(i);
    if (seals && random.Below(200) == 0) {
      if (seed % 4 == 2) {
        // Busy sealing only: an hour is sealed once its unsealed rows reach 16 and the sealed ones.
        views.SealHours(1'000'000, 16);
      } else {
        views.SealHours(0);
      }
    }
    if (seed % 5 == 3 && (i == 1200 || i == 2400)) {
      // Retention drops the first hours; later events may still fall into them (and into a sealed
      // index), until the next cut drops them too.
      const int64_t first_kept_hour = HourOf(kBase) + (i == 1200 ? 1 : 2);
      // (Log positions grow in log order: the cut's is just before the next event's.)
      ASSERT_EQ(views.Apply(RecordView(RetentionCut{kBase, first_kept_hour}), LogPosition{0, 15 + 2 * i}),
                ApplyOutcome::kRetentionCut);
      model.DropHoursBefore(first_kept_hour);
    }
    Event event = random.Make(kBase, kHours);
    const auto expected = model.Apply(event);
    const ApplyOutcome actual = views.Apply(event, LogPosition{0, 16 + 2 * i});
    ASSERT_EQ(actual == ApplyOutcome::kDuplicate, expected == testing::ModelOutcome::kDuplicate) << i;
    ASSERT_EQ(actual == ApplyOutcome::kCorrection, expected == testing::ModelOutcome::kCorrection) << i;
  }
  if (seed % 4 == 3) {
    // Every hour sealed, then a few late events: an hour with at most 1 row in 32 after its seal waits
    // quiet beside it (ShardViews::kLateRowsShare), the others' become a part of their own. And a few
    // corrections of sealed events, masked from their parts' indexes meanwhile.
    views.SealHours(0);
    auto apply_late = [&](uint32_t count, uint32_t first_position) {
      for (uint32_t i = 0; i < count; ++i) {
        Event event = random.Make(kBase, kHours);
        if (i % 5 == 0 && count < 100) {
          event.event_id = "id-" + std::to_string(i * 97);  // (ids up to about id-2500 exist)
          event.version = 1000 + i;                         // (higher than any before)
        }
        model.Apply(event);
        views.Apply(event, LogPosition{0, 16 + 2 * (first_position + i)});
      }
    };
    auto count_hours = [&](size_t* masked_hours, size_t* hours_in_parts) {
      *masked_hours = *hours_in_parts = 0;
      for (uint32_t shard = 0; shard < views.shard_count(); ++shard) {
        for (const auto& [hour, data] : views.shard(shard).hours()) {
          *masked_hours += data.masked.empty() ? 0 : 1;
          *hours_in_parts += data.parts.size() > 1 ? 1 : 0;
        }
      }
    };
    apply_late(25, 3000);
    for (int pass = 0; pass < 3; ++pass) views.SealHours(1);
    EXPECT_GT(views.tiers().late_rows_hours, 0u);
    size_t masked_hours = 0, hours_in_parts = 0;
    count_hours(&masked_hours, &hours_in_parts);
    EXPECT_GT(masked_hours, 0u);
    // Then many late events: a part of each hour's seal of their own, the masks kept.
    expect_day_top(3025);
    apply_late(400, 3025);
    for (int pass = 0; pass < 3; ++pass) views.SealHours(1);
    count_hours(&masked_hours, &hours_in_parts);
    EXPECT_GT(masked_hours, 0u);
    EXPECT_GT(hours_in_parts, 0u);
  }
  if (seed % 4 == 1) {
    // Every hour answered from its index alone.
    views.SealHours(0);
    for (uint32_t shard = 0; shard < views.shard_count(); ++shard) {
      for (const auto& [hour, data] : views.shard(shard).hours()) {
        ASSERT_TRUE(data.sealed()) << hour;
        ASSERT_EQ(data.sealed_rows(), data.rows.size()) << hour;
      }
    }
  }

  expect_day_top(3100);  // (after the late events and seals above)
  if (seals) {
    EXPECT_GT(day_counts.days(), 0u);
  }

  const std::vector<ModelFilter> filters = {{},
                                            {"click", {}, {}},
                                            {{}, "product-3", {}},
                                            {{}, {}, "store-1"},
                                            {"page_view", "product-1", {}},
                                            {{}, "product-2", "store-2"},
                                            {"impression", {}, "store-0"},
                                            {"no-such-type", {}, {}}};
  // Whole hours (served from cells), ranges cutting hours (served by scanning), and every bucket size.
  const std::vector<std::pair<Millis, Millis>> ranges = {
      {kBase, kBase + kHours * kMillisPerHour},
      {kBase + 1234567, kBase + 3 * kMillisPerHour + 999},
      {kBase - kMillisPerHour, kBase + kMillisPerHour},
      {kBase + kMillisPerHour, kBase + kMillisPerHour + 1}};
  for (const auto& [from, to] : ranges) {
    for (const ModelFilter& filter : filters) {
      for (Bucket bucket : {Bucket::kHour, Bucket::kDay, Bucket::kAll}) {
        StatsRequest request{from, to, bucket, EventFilter{filter.type, filter.product_id, filter.store_id}};
        auto result = ComputeStats(views, request);
        ASSERT_TRUE(result.ok());
        const std::string where = std::to_string(from) + ".." + std::to_string(to) + " bucket " +
                                  std::to_string(static_cast<int>(bucket)) + " type " +
                                  filter.type.value_or("*") + " product " + filter.product_id.value_or("*") +
                                  " store " + filter.store_id.value_or("*");
        ExpectSame(result->total, model.Aggregate(from, to, filter), where + " total");
        for (const StatsBucket& b : result->buckets) {
          ExpectSame(b.aggregate, model.Aggregate(b.start, b.end, filter),
                     where + " bucket " + std::to_string(b.start));
        }
      }
    }
    for (bool by_product : {true, false}) {
      for (const std::optional<std::string>& type :
           {std::optional<std::string>(), std::optional<std::string>("click")}) {
        TopRequest request{by_product ? TopDimension::kProduct : TopDimension::kStore, from, to, type, 5};
        auto expected = model.Top(by_product, from, to, type, 5);
        // From copies of the rows counted one by one, and (none copied) all under the views' locks.
        for (uint64_t max_rows_copied : {kMaxTopRowsCopied, uint64_t{0}}) {
          std::vector<TopEntry> actual =
              ComputeTopBetweenReads([&](const std::function<void(const Views&)>& step) { step(views); },
                                     request, nullptr, max_rows_copied);
          ASSERT_EQ(actual.size(), expected.size());
          for (size_t i = 0; i < actual.size(); ++i) {
            EXPECT_EQ(actual[i].key, expected[i].key);
            EXPECT_EQ(actual[i].events, expected[i].events) << actual[i].key;
            EXPECT_EQ(actual[i].unique_users, expected[i].unique_users) << actual[i].key;
          }
        }
      }
    }
  }
  // Timelines: the same events in the same order (compared by timestamp, type and id).
  for (int u = 0; u < 60; ++u) {
    const std::string user = "user-" + std::to_string(u);
    auto expected = model.Timeline(user, kMaxTimestampMillis + 1, std::nullopt);
    const ShardViews& shard = views.shard(views.ShardOf(user));
    auto index = shard.users().Find(user);
    if (!index) {
      EXPECT_TRUE(expected.empty());
      continue;
    }
    const std::vector<RowAt> timeline = shard.Timeline(*index);
    ASSERT_EQ(timeline.size(), expected.size()) << user;
    for (size_t i = 0; i < expected.size(); ++i) {
      const EventRow& row = shard.Row(timeline[timeline.size() - 1 - i]);
      EXPECT_EQ(row.timestamp, expected[i].timestamp) << user << " #" << i;
      EXPECT_EQ(shard.types().KeyOf(row.type), expected[i].type) << user << " #" << i;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Seeds, ModelTest,
                         ::testing::Combine(::testing::Range<uint64_t>(1, 21),
                                            ::testing::Values(1u, 3u, 7u)));

// Views sealed and then given many corrections of sealed events (masked from the seals, never sealed
// again) answer as views never sealed do: several masked rows of one user, key and type; corrections into
// the same hour, another hour and another shard; every event of a key masked in one hour and more of that
// key in a later one.
TEST(Stats, SealsWithManyRowsMaskedAnswerAsTheRowsDo) {
  for (uint32_t shards : {1u, 3u}) {
    Views sealed(shards), plain(shards);
    std::mt19937_64 random(shards);
    uint32_t position = 16;
    std::vector<Event> applied;
    auto apply = [&](const Event& event) {
      EXPECT_EQ(sealed.Apply(event, LogPosition{0, position}), plain.Apply(event, LogPosition{0, position}));
      ++position;
      applied.push_back(event);
    };
    auto make = [&](const std::string& id, uint32_t version, int64_t hour) {
      Event event;
      event.event_id = id;
      event.version = version;
      event.type = random() % 2 ? "click" : "impression";
      event.user_id = "user-" + std::to_string(random() % 12);
      event.timestamp = kBase + hour * kMillisPerHour + static_cast<Millis>(random() % kMillisPerHour);
      event.product_id = "product-" + std::to_string(random() % 6);
      if (random() % 3 != 0) event.store_id = "store-" + std::to_string(random() % 3);
      return event;
    };
    for (int i = 0; i < 1500; ++i) apply(make("id-" + std::to_string(i), 1, i % 3));
    sealed.SealHours(0);
    // Every event of product-5 in the first hour moves to product-0, in the same hour.
    for (const Event& event : std::vector<Event>(applied)) {
      if (event.product_id != "product-5" || HourOf(event.timestamp) != HourOf(kBase)) continue;
      Event moved = event;
      moved.version = 2;
      moved.product_id = "product-0";
      apply(moved);
    }
    // Corrections of random events into any of the three hours (a user of any shard), and new events.
    for (int i = 0; i < 400; ++i) apply(make("id-" + std::to_string(random() % 1500), 3 + i, random() % 3));
    for (int i = 0; i < 100; ++i) apply(make("new-" + std::to_string(i), 1, 2));
    size_t masked = 0;
    for (uint32_t shard = 0; shard < shards; ++shard) {
      for (const auto& [hour, data] : sealed.shard(shard).hours()) {
        ASSERT_TRUE(data.sealed());
        masked += data.masked.size();
      }
    }
    EXPECT_GT(masked, 300u);
    EXPECT_EQ(sealed.Digest(), plain.Digest());

    const Millis from = kBase, to = kBase + 3 * kMillisPerHour;
    std::vector<EventFilter> filters;
    for (const char* product : {"product-0", "product-1", "product-5"}) {
      for (const std::optional<std::string>& type :
           {std::optional<std::string>(), std::optional<std::string>("click")})
        filters.push_back(EventFilter{type, product, std::nullopt});
    }
    filters.push_back(EventFilter{std::nullopt, std::nullopt, "store-2"});
    filters.push_back(EventFilter{"impression", std::nullopt, "store-0"});
    for (const EventFilter& filter : filters) {
      const StatsRequest request{from, to, Bucket::kHour, filter};
      auto expected = ComputeStats(plain, request), actual = ComputeStats(sealed, request);
      ASSERT_TRUE(expected.ok() && actual.ok());
      const std::string where = filter.product_id.value_or("*") + " " + filter.store_id.value_or("*") + " " +
                                filter.type.value_or("*");
      ASSERT_EQ(actual->buckets.size(), expected->buckets.size());
      for (size_t i = 0; i < expected->buckets.size(); ++i) {
        EXPECT_EQ(actual->buckets[i].aggregate.events, expected->buckets[i].aggregate.events) << where << i;
        EXPECT_EQ(actual->buckets[i].aggregate.unique_users, expected->buckets[i].aggregate.unique_users)
            << where << i;
        EXPECT_EQ(actual->buckets[i].aggregate.by_type, expected->buckets[i].aggregate.by_type) << where << i;
      }
    }
    for (TopDimension by : {TopDimension::kProduct, TopDimension::kStore}) {
      for (const std::optional<std::string>& type :
           {std::optional<std::string>(), std::optional<std::string>("click")}) {
        for (Millis first : {from, from + kMillisPerHour}) {
          const TopRequest request{by, first, to, type, 20};
          const std::vector<TopEntry> expected = ComputeTop(plain, request),
                                      actual = ComputeTop(sealed, request);
          ASSERT_EQ(actual.size(), expected.size());
          for (size_t i = 0; i < expected.size(); ++i) {
            EXPECT_EQ(actual[i].key, expected[i].key);
            EXPECT_EQ(actual[i].events, expected[i].events) << actual[i].key;
            EXPECT_EQ(actual[i].unique_users, expected[i].unique_users) << actual[i].key;
          }
        }
      }
    }
  }
}

TEST(Stats, TooManyBucketsIsAnErrorNamingTo) {
  Views views;
  auto result = ComputeStats(views, StatsRequest{0, kMaxTimestampMillis, Bucket::kHour, {}});
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().field(), "to");
  EXPECT_TRUE(ComputeStats(views, StatsRequest{0, kMaxTimestampMillis, Bucket::kAll, {}}).ok());
}

TEST(Stats, EmptyBucketsAreListedWithZeros) {
  Views views;
  Event event;
  event.type = "click";
  event.user_id = "a";
  event.timestamp = kBase + 2 * kMillisPerHour;
  views.Apply(event, LogPosition{});
  auto result = ComputeStats(views, StatsRequest{kBase, kBase + 4 * kMillisPerHour, Bucket::kHour, {}});
  ASSERT_TRUE(result.ok());
  ASSERT_EQ(result->buckets.size(), 4u);
  EXPECT_EQ(result->buckets[0].aggregate.events, 0u);
  EXPECT_EQ(result->buckets[2].aggregate.events, 1u);
  EXPECT_EQ(result->buckets[2].start, kBase + 2 * kMillisPerHour);
}

}  // namespace
}  // namespace tally

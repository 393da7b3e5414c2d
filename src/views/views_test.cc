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

}  // namespace
}  // namespace tally

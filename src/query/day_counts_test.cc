#include "query/day_counts.h"

#include <gtest/gtest.h>

namespace tally {
namespace {

// A seal whose index by product holds `entries` (key, type, user).
std::shared_ptr<const SealedHour> SealOf(std::vector<DimensionIndex::Entry> entries) {
  auto seal = std::make_shared<SealedHour>();
  seal->by_product = DimensionIndex::Build(std::move(entries));
  return seal;
}

TEST(DayCounts, SumsAreUsedOnlyWithTheSealsTheyWereSummedFrom) {
  DayCounts day_counts;
  auto ten = SealOf({{1, 0, 5}, {1, 1, 6}, {3, 0, 5}});
  auto eleven = SealOf({{1, 0, 7}, {2, 1, 7}});
  const DayCounts::Seals seals = {{10, ten}, {11, eleven}};
  const DayCounts::Key all{0, 0, true, std::nullopt};

  auto summed = DayCounts::Sum(seals, true, std::nullopt, 4);
  EXPECT_EQ(summed->keys, (std::vector<uint32_t>{1, 2, 3}));
  EXPECT_EQ(summed->events, (std::vector<uint64_t>{3, 1, 1}));
  auto of_type_one = DayCounts::Sum(seals, true, 1, 4);
  EXPECT_EQ(of_type_one->keys, (std::vector<uint32_t>{1, 2}));
  EXPECT_EQ(of_type_one->events, (std::vector<uint64_t>{1, 1}));

  EXPECT_EQ(day_counts.Find(all, seals), nullptr);
  day_counts.Keep(all, seals, summed);
  EXPECT_EQ(day_counts.Find(all, seals), summed);
  EXPECT_EQ(day_counts.Find({0, 0, true, 1}, seals), nullptr);   // another type
  EXPECT_EQ(day_counts.Find({1, 0, true, {}}, seals), nullptr);  // another shard
  EXPECT_EQ(day_counts.Find({0, 1, true, {}}, seals), nullptr);  // another day
  // An hour sealed again, an hour more, an hour less: summed again.
  EXPECT_EQ(day_counts.Find(all, {{10, ten}, {11, SealOf({{1, 0, 7}, {2, 1, 7}})}}), nullptr);
  EXPECT_EQ(day_counts.Find(all, {{10, ten}, {11, eleven}, {12, eleven}}), nullptr);
  EXPECT_EQ(day_counts.Find(all, {{10, ten}}), nullptr);
  EXPECT_EQ(day_counts.Find(all, {{10, ten}, {12, eleven}}), nullptr);
  // A seal dropped (by retention) matches no other seal, and its day is forgotten at the next Keep.
  {
    auto dropped = SealOf({{1, 0, 1}});
    day_counts.Keep(all, {{10, dropped}}, summed);
  }
  EXPECT_EQ(day_counts.Find(all, {{10, SealOf({{1, 0, 1}})}}), nullptr);
  EXPECT_EQ(day_counts.days(), 1u);  // (kept again under the same key: the one before replaced)
  day_counts.Keep({0, 5, true, std::nullopt}, seals, summed);
  EXPECT_EQ(day_counts.days(), 1u);  // the day of the dropped seal forgotten
  EXPECT_EQ(day_counts.Find({0, 5, true, std::nullopt}, seals), summed);
}

TEST(DayCounts, PastTheBytesAllowedTheLeastRecentlyUsedDaysAreForgotten) {
  auto seal = SealOf({{1, 0, 5}});
  const DayCounts::Seals seals = {{10, seal}};
  auto counts = DayCounts::Sum(seals, true, std::nullopt, 2);
  auto day = [](int64_t number) { return DayCounts::Key{0, number, true, std::nullopt}; };
  // Room for three days exactly.
  DayCounts probe;
  probe.Keep(day(0), seals, counts);
  DayCounts small(3 * probe.bytes());
  for (int64_t number = 0; number < 3; ++number) small.Keep(day(number), seals, counts);
  EXPECT_EQ(small.days(), 3u);
  // Day 0 is asked for again: day 1 is now the least recently used, and the fourth day takes its place.
  EXPECT_EQ(small.Find(day(0), seals), counts);
  small.Keep(day(3), seals, counts);
  EXPECT_EQ(small.days(), 3u);
  EXPECT_LE(small.bytes(), 3 * probe.bytes());
  EXPECT_EQ(small.Find(day(1), seals), nullptr);
  for (int64_t number : {0, 2, 3}) EXPECT_EQ(small.Find(day(number), seals), counts) << number;
  // Asked in the order 0, 2, 3 just now: two more days push out 0 and 2.
  small.Keep(day(4), seals, counts);
  small.Keep(day(5), seals, counts);
  for (int64_t number : {0, 1, 2}) EXPECT_EQ(small.Find(day(number), seals), nullptr) << number;
  for (int64_t number : {3, 4, 5}) EXPECT_EQ(small.Find(day(number), seals), counts) << number;

  DayCounts none(10);  // sums larger than allowed are not kept at all
  none.Keep(day(0), seals, counts);
  EXPECT_EQ(none.days(), 0u);
}

}  // namespace
}  // namespace tally

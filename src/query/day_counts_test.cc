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

TEST(DayCounts, PastTheBytesAllowedEverythingKeptIsForgotten) {
  auto seal = SealOf({{1, 0, 5}});
  const DayCounts::Seals seals = {{10, seal}};
  auto counts = DayCounts::Sum(seals, true, std::nullopt, 2);
  DayCounts small(600);
  for (int64_t day = 0; day < 10; ++day) {
    small.Keep({0, day, true, std::nullopt}, seals, counts);
    EXPECT_LE(small.bytes(), 600u);
    EXPECT_EQ(small.Find({0, day, true, std::nullopt}, seals), counts);  // the newest is always kept
  }
  EXPECT_LT(small.days(), 10u);
  DayCounts none(10);  // sums larger than allowed are not kept at all
  none.Keep({0, 0, true, std::nullopt}, seals, counts);
  EXPECT_EQ(none.days(), 0u);
}

}  // namespace
}  // namespace tally

#include "views/user_sets.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

namespace tally {
namespace {

// Bytes at a page boundary, as the cold file maps them (in whole pages of memory, as aligned_alloc asks).
struct PageAligned {
  explicit PageAligned(const std::string& bytes)
      : data(static_cast<char*>(std::aligned_alloc(4096, (bytes.size() + 4095) / 4096 * 4096)), &std::free),
        size(bytes.size()) {
    if (size > 0) std::memcpy(data.get(), bytes.data(), bytes.size());
  }
  std::string_view view() const { return {data.get(), size}; }
  std::unique_ptr<char, decltype(&std::free)> data;
  size_t size;
};

// Sets with array, bitmap and run containers, and an empty one among the types.
std::vector<Roaring> SomeSets() {
  std::mt19937 random(7);
  std::vector<Roaring> sets(4);
  for (int i = 0; i < 3000; ++i) sets[0].add(random() % 1'000'000);     // arrays, spread out
  for (uint32_t user = 0; user < 70'000; user += 2) sets[1].add(user);  // a bitmap container
  sets[2].addRange(100'000, 190'000);                                   // runs
  sets[2].runOptimize();
  for (const Roaring& set : sets) sets[3] |= set;  // (the cell's all: users, first in the block)
  return {sets[3], sets[0], sets[1], Roaring(), sets[2]};
}

TEST(FrozenUserSets, ReadInPlaceTheyEqualTheSetsFrozen) {
  const std::vector<Roaring> sets = SomeSets();
  const std::string block = FreezeUserSets(sets[0], {sets.data() + 1, sets.size() - 1});
  EXPECT_EQ(block.size() % 4096, 0u);
  const PageAligned bytes(block);
  auto frozen = FrozenUserSets::View(bytes.view());
  ASSERT_NE(frozen, nullptr);
  EXPECT_EQ(frozen->users(), sets[0]);
  ASSERT_EQ(frozen->users_by_type().size(), sets.size() - 1);
  for (size_t type = 0; type + 1 < sets.size(); ++type)
    EXPECT_EQ(frozen->users_by_type()[type], sets[type + 1]);
  // Read only, yet usable as any bitmap: unions copy from it.
  Roaring union_of_types;
  for (const Roaring& of_type : frozen->users_by_type()) union_of_types |= of_type;
  EXPECT_EQ(union_of_types, sets[0]);
  EXPECT_EQ((frozen->users() & sets[2]).cardinality(), sets[2].cardinality());
}

TEST(FrozenUserSets, ABlockThatIsNotOneOrHoldsASetOutOfOrderIsRefused) {
  const std::vector<Roaring> sets = SomeSets();
  const std::string block = FreezeUserSets(sets[0], {sets.data() + 1, sets.size() - 1});
  auto refused = [](std::string bytes) { return FrozenUserSets::View(PageAligned(bytes).view()) == nullptr; };
  EXPECT_FALSE(refused(block));
  std::string changed = block;
  changed[0] ^= 1;  // the magic
  EXPECT_TRUE(refused(changed));
  changed = block;
  changed[4] = 100;  // more sets than there is room for sizes of
  EXPECT_TRUE(refused(changed));
  changed = block;
  changed[8] ^= 0x10;  // the first set's size
  EXPECT_TRUE(refused(changed));
  EXPECT_TRUE(refused(block.substr(0, 4)));
  // A set of one array container: its values from byte 32 on (after the 8-byte header and one size, at the
  // next 32-byte boundary). Two of them swapped parse, but are out of order.
  Roaring few;
  few.addMany(3, std::vector<uint32_t>{3, 9, 200}.data());
  const std::string small = FreezeUserSets(few, {});
  EXPECT_FALSE(refused(small));
  changed = small;
  uint16_t values[3];
  std::memcpy(values, changed.data() + 32, sizeof(values));
  ASSERT_EQ(values[0], 3);
  ASSERT_EQ(values[2], 200);
  std::swap(values[0], values[2]);
  std::memcpy(changed.data() + 32, values, sizeof(values));
  EXPECT_TRUE(refused(changed));
  // Not at a 32-byte boundary.
  std::string shifted(8, '\0');
  shifted += block;
  EXPECT_EQ(FrozenUserSets::View(PageAligned(shifted).view().substr(8)), nullptr);
}

// Bitmaps a damaged block or checkpoint could hold, made by changing a good one's containers in place.
TEST(WellFormed, KeysOutOfOrderAMiscountedBitsetAndRunsThatOverlapOrOverflowAreNot) {
  Roaring arrays;
  arrays.addMany(3, std::vector<uint32_t>{5, 9, 70'000}.data());  // two array containers
  EXPECT_TRUE(WellFormed(arrays));
  roaring_array_t& two = arrays.roaring.high_low_container;
  std::swap(two.keys[0], two.keys[1]);
  EXPECT_FALSE(WellFormed(arrays));
  std::swap(two.keys[0], two.keys[1]);
  auto* values = static_cast<array_container_t*>(two.containers[0])->array;
  std::swap(values[0], values[1]);
  EXPECT_FALSE(WellFormed(arrays));
  std::swap(values[0], values[1]);
  EXPECT_TRUE(WellFormed(arrays));

  Roaring bitset;
  for (uint32_t user = 0; user < 20'000; user += 2) bitset.add(user);
  ASSERT_EQ(bitset.roaring.high_low_container.typecodes[0], BITSET_CONTAINER_TYPE_CODE);
  EXPECT_TRUE(WellFormed(bitset));
  auto* counted = static_cast<bitset_container_t*>(bitset.roaring.high_low_container.containers[0]);
  ++counted->cardinality;
  EXPECT_FALSE(WellFormed(bitset));
  --counted->cardinality;

  Roaring runs;
  runs.addRange(100, 200);
  runs.addRange(300, 400);
  runs.runOptimize();
  ASSERT_EQ(runs.roaring.high_low_container.typecodes[0], RUN_CONTAINER_TYPE_CODE);
  EXPECT_TRUE(WellFormed(runs));
  rle16_t* run = static_cast<run_container_t*>(runs.roaring.high_low_container.containers[0])->runs;
  run[1].value = 150;  // inside the first run
  EXPECT_FALSE(WellFormed(runs));
  run[1].value = 300;
  run[1].length = 65'500;  // past the container's end
  EXPECT_FALSE(WellFormed(runs));
  run[1].length = 99;
  EXPECT_TRUE(WellFormed(runs));
}

}  // namespace
}  // namespace tally

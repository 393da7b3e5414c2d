#include "views/saved_bytes.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <string>
#include <utility>

namespace tally {
namespace {

// A bitmap as saved views hold it: its length, then its portable serialization.
std::string Saved(const Roaring& bitmap) {
  std::string out;
  StringSink sink(&out);
  saved::Writer(&sink).Bitmap(bitmap);
  return out;
}

bool ReadsBack(const std::string& bytes, Roaring* bitmap) { return saved::Reader(bytes).Bitmap(bitmap); }

TEST(SavedBytes, BitmapsOfEveryContainerKindReadBack) {
  Roaring sparse, dense, runs, empty;
  std::mt19937 random(7);
  for (int i = 0; i < 50'000; ++i) sparse.add(random() % 20'000'000);
  for (uint32_t value = 0; value < 200'000; value += 3) dense.add(value);
  runs.addRange(1000, 300'000);
  runs.runOptimize();
  for (const Roaring* bitmap : {&sparse, &dense, &runs, &empty}) {
    Roaring read;
    ASSERT_TRUE(ReadsBack(Saved(*bitmap), &read));
    EXPECT_EQ(read, *bitmap);
  }
}

// The safe deserialization keeps its reads inside the bytes, but takes values that do not increase.
TEST(SavedBytes, BitmapsWhoseValuesDoNotIncreaseAreRefused) {
  Roaring read;
  // {5, 9}: one array container. After the length (8 bytes): the cookie (4), the number of containers (4),
  // the container's key and cardinality - 1 (2 + 2), its offset (4), then its values (2 + 2).
  std::string one_container = Saved(Roaring::bitmapOf(2, 5, 9));
  ASSERT_EQ(one_container.size(), 8u + 20u);
  ASSERT_TRUE(ReadsBack(one_container, &read));
  std::swap(one_container[24], one_container[26]);  // values 9, 5
  EXPECT_FALSE(ReadsBack(one_container, &read));

  // {5, 70000}: two containers, keys 0 and 1, whose keys are swapped.
  std::string two_containers = Saved(Roaring::bitmapOf(2, 5, 70'000));
  ASSERT_EQ(two_containers.size(), 8u + 28u);
  ASSERT_TRUE(ReadsBack(two_containers, &read));
  std::swap(two_containers[16], two_containers[20]);
  EXPECT_FALSE(ReadsBack(two_containers, &read));
}

}  // namespace
}  // namespace tally

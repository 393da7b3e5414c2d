#include "views/event_id_index.h"

#include <gtest/gtest.h>

#include <map>
#include <string>

#include "views/chunked_vector.h"

namespace tally {
namespace {

TEST(EventIdIndex, FindsEveryIdAndKeepsRowsInOrder) {
  EventIdIndex index;
  std::map<std::string, uint32_t> expected;
  // Enough ids to fill several arena blocks and grow the set many times; lengths from 1 to 128 bytes.
  for (uint32_t i = 0; i < 200'000; ++i) {
    std::string id = "id-" + std::to_string(i) + std::string(i % 120, 'x');
    auto [number, inserted] = index.FindOrInsert(id, RowRef{i % 7, i}, 1);
    ASSERT_TRUE(inserted);
    ASSERT_EQ(number, i);
    if (i % 997 == 0) expected[id] = i;
  }
  EXPECT_EQ(index.size(), 200'000u);
  for (const auto& [id, number] : expected) {
    ASSERT_EQ(index.Find(id), number) << id;
    EXPECT_EQ(index.Text(number), id);
    EXPECT_EQ(index.Rows(number), std::vector<RowRef>{(RowRef{number % 7, number})});
    EXPECT_EQ(index.current_version(number), 1u);
  }
  EXPECT_FALSE(index.Find("id-").has_value());
  EXPECT_FALSE(index.Find("id-0x").has_value());
  auto [again, inserted] = index.FindOrInsert("id-5xxxxx", RowRef{0, 999'999}, 9);
  EXPECT_FALSE(inserted);
  EXPECT_EQ(again, 5u);
  // A duplicate keeps the current row; a correction on another shard replaces it.
  index.AddDuplicate(5, RowRef{3, 300'000});
  index.AddCorrection(5, RowRef{6, 300'001}, 2);
  EXPECT_EQ(index.Rows(5), (std::vector<RowRef>{{5, 5}, {3, 300'000}, {6, 300'001}}));
  EXPECT_EQ(index.current(5), (RowRef{6, 300'001}));
  EXPECT_EQ(index.current_version(5), 2u);
  EXPECT_EQ(index.Find(std::string(128, 'z')), std::nullopt);
  EXPECT_TRUE(index.FindOrInsert(std::string(128, 'z'), RowRef{}, 1).second);
  EXPECT_EQ(index.Text(*index.Find(std::string(128, 'z'))), std::string(128, 'z'));
}

TEST(ChunkedVector, KeepsElementsInPlaceAcrossChunks) {
  ChunkedVector<uint64_t, 4> values;  // chunks of 16
  std::vector<const uint64_t*> addresses;
  for (uint64_t i = 0; i < 1000; ++i) {
    values.push_back(i * 3);
    addresses.push_back(&values[i]);
  }
  ASSERT_EQ(values.size(), 1000u);
  for (uint64_t i = 0; i < 1000; ++i) {
    EXPECT_EQ(values[i], i * 3);
    EXPECT_EQ(&values[i], addresses[i]);  // never moved
  }
  uint64_t expected = 0;
  for (uint64_t value : values) {
    EXPECT_EQ(value, expected);
    expected += 3;
  }
  EXPECT_EQ(values.back(), 999u * 3);
}

}  // namespace
}  // namespace tally

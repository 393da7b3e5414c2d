#include "views/row_columns.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

namespace tally {
namespace {

constexpr int64_t kHour = 498'202;  // 2026-10-31T10:00Z

struct Part {
  std::vector<EventRow> rows;
  RowBounds bounds;
};

// Rows of every shape a part holds: every state, rows without a product or a store, the hour's first and
// last millisecond, versions from 0 to the largest, log positions a byte or segments apart, and users who
// have many rows, one, or only duplicates.
Part RowsOfEveryShape(uint32_t count, uint32_t seed) {
  std::mt19937 random(seed);
  Part part;
  part.bounds = {70'000, 9, 20'001, 201, 0, 0};
  uint64_t position = (uint64_t{3} << 32) + 4096;
  part.bounds.first_position = position;
  for (uint32_t i = 0; i < count; ++i) {
    EventRow row{};
    row.timestamp = kHour * kMillisPerHour + (i == 0   ? 0
                                              : i == 1 ? kMillisPerHour - 1
                                                       : random() % kMillisPerHour);
    row.state = static_cast<RowState>(random() % 3);
    row.user = i % 5 == 0 ? 69'999 : random() % 300;
    row.type = random() % 9;
    row.product = i % 4 == 0 ? kNoDimension : static_cast<uint32_t>(random() % 20'001);
    row.store = i % 3 == 0 ? kNoDimension : static_cast<uint32_t>(random() % 201);
    row.version = i % 97 == 0 ? UINT32_MAX : random() % 3;
    row.position = position;
    position += i % 50 == 0 ? uint64_t{1} << 32 : 1 + random() % 300;
    part.rows.push_back(row);
  }
  part.bounds.last_position = part.rows.back().position;
  return part;
}

std::shared_ptr<const std::string> Write(const Part& part) {
  RowColumnsWriter writer(kHour, static_cast<uint32_t>(part.rows.size()), part.bounds);
  for (const EventRow& row : part.rows) writer.Add(row);
  return std::make_shared<const std::string>(writer.Finish());
}

TEST(RowColumns, EveryRowReadsBackAsItWasAndEachUsersCountedRowsAreFound) {
  for (uint32_t count : {1u, 2u, 63u, 64u, 65u, 5000u}) {
    const Part part = RowsOfEveryShape(count, count);
    auto bytes = Write(part);
    auto columns = RowColumns::FromBytes(*bytes, bytes, kHour, count);
    ASSERT_TRUE(columns.ok()) << columns.status().message();
    ASSERT_EQ(columns->rows(), count);
    std::map<uint32_t, std::vector<uint32_t>> counted;
    for (uint32_t place = 0; place < count; ++place) {
      ASSERT_EQ(columns->Row(place), part.rows[place]) << count << " " << place;
      EXPECT_EQ(columns->Position(place), part.rows[place].position);
      if (part.rows[place].state != RowState::kDuplicate) counted[part.rows[place].user].push_back(place);
    }
    for (uint32_t user : {0u, 1u, 7u, 299u, 300u, 69'999u, 70'000u}) {
      std::vector<uint32_t> found;
      columns->ForEachOf(user, [&](uint32_t place) { found.push_back(place); });
      EXPECT_EQ(found, counted[user]) << count << " user " << user;
    }
    EXPECT_TRUE(columns->Fits(70'000, 9, 20'001, 201));
    EXPECT_FALSE(columns->Fits(69'999, 9, 20'001, 201));
    EXPECT_FALSE(columns->Fits(70'000, 8, 20'001, 201));
    EXPECT_FALSE(columns->Fits(70'000, 9, 20'000, 201));
    EXPECT_FALSE(columns->Fits(70'000, 9, 20'001, 200));
  }
}

TEST(RowColumns, TheyTakeTheBitsTheirBoundsNeed) {
  const Part part = RowsOfEveryShape(100'000, 7);
  auto bytes = Write(part);
  // Time 22 bits, state 2, type 4, user 17, product 15, store 8, version 32 (one row in 97 has the
  // largest), log position 43 (2 000 segments apart): 17.9 bytes; and two rows in three counted, a note of
  // 17 bits each: 1.4 bytes more.
  EXPECT_LT(bytes->size(), part.rows.size() * 19.5);
  EXPECT_GT(bytes->size(), part.rows.size() * 19);
}

TEST(RowColumns, NoBytesAreNoColumns) {
  auto columns = RowColumns::FromBytes({}, nullptr, kHour, 10);
  ASSERT_TRUE(columns.ok());
  EXPECT_TRUE(columns->empty());
  EXPECT_TRUE(columns->Fits(0, 0, 0, 0));
  bool visited = false;
  columns->ForEachOf(0, [&](uint32_t) { visited = true; });
  EXPECT_FALSE(visited);
}

TEST(RowColumns, SizesThatDoNotHoldTogetherAreRefused) {
  const Part part = RowsOfEveryShape(300, 3);
  auto bytes = Write(part);
  EXPECT_FALSE(RowColumns::FromBytes(*bytes, bytes, kHour, 299).ok());  // not the part's rows
  EXPECT_FALSE(RowColumns::FromBytes(*bytes, bytes, -1, 300).ok());
  for (size_t cut = 1; cut < bytes->size(); cut += 7)
    EXPECT_FALSE(RowColumns::FromBytes(bytes->substr(0, cut), bytes, kHour, 300).ok()) << cut;
  auto changed = [&](size_t at, uint32_t value) {
    std::string copy = *bytes;
    std::memcpy(copy.data() + at, &value, sizeof(value));
    return copy;
  };
  EXPECT_FALSE(RowColumns::FromBytes(changed(4, 301), bytes, kHour, 300).ok());       // more notes than rows
  EXPECT_FALSE(RowColumns::FromBytes(changed(16 + 16, 65), bytes, kHour, 300).ok());  // a width of 65 bits
  EXPECT_FALSE(RowColumns::FromBytes(changed(16 + 16, 23), bytes, kHour, 300).ok());  // a size not matching
  // A time's bound past the hour.
  EXPECT_FALSE(RowColumns::FromBytes(changed(16 + 8, 3'600'000), bytes, kHour, 300).ok());
}

TEST(RowColumns, AValueAboveItsColumnsBoundReadsAsTheBound) {
  Part part = RowsOfEveryShape(10, 5);
  part.rows[4].user = 12;
  part.bounds.users = 10;  // (a row past its bounds is the writer's caller's error: it is kept within them)
  auto bytes = Write(part);
  auto columns = RowColumns::FromBytes(*bytes, bytes, kHour, 10);
  ASSERT_TRUE(columns.ok());
  EXPECT_EQ(columns->Row(4).user, 9u);
  EXPECT_TRUE(columns->Fits(10, 9, 20'001, 201));
}

}  // namespace
}  // namespace tally

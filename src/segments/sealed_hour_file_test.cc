#include "segments/sealed_hour_file.h"

#include <unistd.h>

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <tuple>

#include "log/record.h"

namespace tally {
namespace {

namespace fs = std::filesystem;

class SealedHourFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = (fs::temp_directory_path() / ("tally-segments-test-" + std::to_string(::getpid()) + "-" +
                                         ::testing::UnitTest::GetInstance()->current_test_info()->name()))
               .string();
    fs::remove_all(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  static SealedHourFile Example() {
    auto sealed = std::make_shared<SealedHour>();
    std::vector<DimensionIndex::Entry> products, stores;
    for (uint32_t i = 0; i < 500; ++i) {
      products.push_back({i % 37, i % 3, i % 101});
      stores.push_back({i % 5, i % 4, i % 13});
    }
    sealed->by_product = DimensionIndex::Build(products);
    sealed->by_store = DimensionIndex::Build(stores);
    const std::vector<EventRow> rows = ExampleRows();
    RowColumnsWriter columns(498202, 500, {101, 4, 37, 5, rows.front().position, rows.back().position});
    for (const EventRow& row : rows) columns.Add(row);
    auto bytes = std::make_shared<const std::string>(columns.Finish());
    sealed->rows = *RowColumns::FromBytes(*bytes, bytes, 498202, 500);
    return SealedHourFile{2, 3, 498202, PartRows{0, 500, 0x1234567890abcdefull}, sealed};
  }
  // The rows of Example()'s entries.
  static std::vector<EventRow> ExampleRows() {
    std::vector<EventRow> rows;
    for (uint32_t i = 0; i < 500; ++i) {
      EventRow row{};
      row.timestamp = 498202 * kMillisPerHour + i;
      row.state = i % 50 == 0 ? RowState::kDuplicate : RowState::kCurrent;
      row.position = 4096 + uint64_t{i} * 100;
      row.user = i % 101;
      row.type = i % 3;
      row.product = i % 37;
      row.store = i % 5;
      rows.push_back(row);
    }
    return rows;
  }
  static void ExpectExampleRows(const SealedHourFile& file) {
    const std::vector<EventRow> rows = ExampleRows();
    ASSERT_EQ(file.sealed->rows.rows(), rows.size());
    for (uint32_t i = 0; i < rows.size(); ++i) EXPECT_EQ(file.sealed->rows.Row(i), rows[i]) << i;
    std::vector<uint32_t> of_user_7;
    file.sealed->rows.ForEachOf(7, [&](uint32_t place) { of_user_7.push_back(place); });
    EXPECT_EQ(of_user_7, (std::vector<uint32_t>{7, 108, 209, 310, 411}));
  }
  // The whole events of Example()'s 500 rows (the log's payloads), and the section they make.
  static std::vector<std::string> ExamplePayloads() {
    std::vector<std::string> payloads;
    for (int i = 0; i < 500; ++i) {
      Event event;
      event.type = "click";
      event.user_id = "u" + std::to_string(i % 101);
      event.timestamp = 498202 * kMillisPerHour + i;
      event.properties_json = R"({"n":)" + std::to_string(i) + "}";
      std::string frame;
      AppendEventFrame(event, &frame);
      payloads.push_back(frame.substr(kFrameHeaderBytes));
    }
    return payloads;
  }
  static std::string ExampleEvents() {
    EventBlocksWriter writer;
    for (const std::string& payload : ExamplePayloads()) writer.Add(payload);
    return *writer.Finish();
  }
  static void ExpectExampleEvents(const SealedHourFile& file) {
    const std::vector<std::string> payloads = ExamplePayloads();
    ASSERT_EQ(file.sealed->events.records(), payloads.size());
    EventBlocks::Reader reader;
    for (uint32_t i = 0; i < payloads.size(); ++i)
      EXPECT_EQ(*file.sealed->events.Payload(i, &reader), payloads[i]);
  }
  static std::string Read(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), {}};
  }
  static void Write(const std::string& path, const std::string& bytes) {
    std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
  }
  std::string dir_;
};

void ExpectSameAnswers(const DimensionIndex& a, const DimensionIndex& b) {
  ASSERT_EQ(a.key_count(), b.key_count());
  for (size_t at = 0; at < a.key_count(); ++at) {
    EXPECT_EQ(a.key_at(at), b.key_at(at));
    for (std::optional<uint32_t> type : {std::optional<uint32_t>(), std::optional<uint32_t>(1)}) {
      EXPECT_EQ(a.Events(at, type), b.Events(at, type));
      Roaring users_a, users_b;
      a.AddUsers(at, type, &users_a);
      b.AddUsers(at, type, &users_b);
      EXPECT_EQ(users_a, users_b);
    }
  }
}

TEST_F(SealedHourFileTest, WrittenFilesAreReadBackInPlaceWithTheSameAnswers) {
  const SealedHourFile written = Example();
  auto file = WriteSealedHourFile(dir_, written, ExampleEvents());
  ASSERT_TRUE(file.ok()) << file.status().message();
  EXPECT_EQ(file->shard, 2u);
  EXPECT_EQ(file->shard_count, 3u);
  EXPECT_EQ(file->hour, 498202);
  EXPECT_EQ(file->rows, (PartRows{0, 500, 0x1234567890abcdefull}));
  ExpectSameAnswers(file->sealed->by_product, written.sealed->by_product);
  ExpectSameAnswers(file->sealed->by_store, written.sealed->by_store);
  ExpectExampleEvents(*file);
  ExpectExampleRows(*file);
  // Read in place: the index's words and the rows are the file's, not a copy on the heap.
  EXPECT_NE(file->sealed->by_product.words().data(), written.sealed->by_product.words().data());
  EXPECT_NE(file->sealed->rows.bytes().data(), written.sealed->rows.bytes().data());
  EXPECT_EQ(ListSealedHourFiles(dir_),
            std::vector<std::string>{dir_ + "/" + SealedHourFileName({2, 3, 498202, 0})});
}

// A later part of an hour (its rows from the 700th on) is named by its first row, and so is found again.
TEST_F(SealedHourFileTest, ALaterPartIsNamedByItsFirstRow) {
  SealedHourFile written = Example();
  written.rows = {700, 1200, 42};
  auto file = WriteSealedHourFile(dir_, written, ExampleEvents());
  ASSERT_TRUE(file.ok()) << file.status().message();
  EXPECT_EQ(file->rows, written.rows);
  ExpectExampleEvents(*file);
  const std::string name = "s2of3-h498202-r700.seg";
  EXPECT_EQ(SealedHourFileName({2, 3, 498202, 700}), name);
  EXPECT_EQ(ListSealedHourFiles(dir_), std::vector<std::string>{dir_ + "/" + name});
  const std::optional<SealedHourFileId> id = ParseSealedHourFileName(dir_ + "/" + name);
  ASSERT_TRUE(id.has_value());
  EXPECT_EQ(std::tie(id->shard, id->shard_count, id->hour, id->first_row),
            std::make_tuple(2u, 3u, int64_t{498202}, 700u));
  EXPECT_EQ(ParseSealedHourFileName("s2of3-h498202.seg")->first_row, 0u);
  for (const char* other : {"s2of3-h498202-r0.seg", "s2of3-h498202-r07.seg", "s2of3-h498202-r7.seg.tmp",
                            "s2of3-h498202-r7x.seg", "s2of3-h498202.segx"}) {
    EXPECT_FALSE(ParseSealedHourFileName(other).has_value()) << other;
  }
  // Its events are as many as its own rows: 500 for rows [700, 1200), not 1200.
  written.rows = {700, 1201, 42};
  EXPECT_FALSE(WriteSealedHourFile(dir_, written, ExampleEvents()).ok());
  written.rows = {700, 700, 42};  // no rows
  EXPECT_FALSE(WriteSealedHourFile(dir_, written).ok());
}

// A file of a former format (5: parts without their rows; 4: whole hours) is refused: its rows are sealed
// again.
TEST_F(SealedHourFileTest, FilesOfAFormerFormatAreRefused) {
  ASSERT_TRUE(WriteSealedHourFile(dir_, Example(), ExampleEvents()).ok());
  const std::string path = dir_ + "/" + SealedHourFileName({2, 3, 498202, 0});
  ASSERT_TRUE(OpenSealedHourFile(path).ok());
  for (const uint32_t former_version : {4u, 5u}) {
    std::string bytes = Read(path);
    std::memcpy(bytes.data() + 8, &former_version, sizeof(former_version));  // (not checksummed)
    Write(path + std::to_string(former_version), bytes);
    auto refused = OpenSealedHourFile(path + std::to_string(former_version));
    ASSERT_FALSE(refused.ok());
    EXPECT_NE(refused.status().message().find("format version " + std::to_string(former_version)),
              std::string::npos)
        << refused.status().message();
  }
}

// A damaged byte is found when the file is opened, or, in the events' blocks, when they are read; the
// few bytes of a block whose change changes nothing it holds (a flag zstd ignores, the padding after the
// last block) read the same events. No damage ever reads as another event.
TEST_F(SealedHourFileTest, EveryDamagedByteAndEveryCutIsFound) {
  ASSERT_TRUE(WriteSealedHourFile(dir_, Example(), ExampleEvents()).ok());
  const std::string path = dir_ + "/" + SealedHourFileName({2, 3, 498202, 0});
  const std::string bytes = Read(path);
  const std::vector<std::string> payloads = ExamplePayloads();
  size_t found_when_read = 0, harmless = 0;
  for (size_t at = 0; at < bytes.size(); at += 3) {
    std::string damaged = bytes;
    damaged[at] = static_cast<char>(damaged[at] ^ 0x40);
    Write(path, damaged);
    auto file = OpenSealedHourFile(path);
    if (!file.ok()) continue;
    EventBlocks::Reader reader;
    bool found = false;
    for (uint32_t i = 0; i < file->sealed->events.records() && !found; ++i) {
      auto payload = file->sealed->events.Payload(i, &reader);
      found = !payload.ok();
      if (!found) {
        ASSERT_EQ(*payload, payloads[i]) << "byte " << at << ", record " << i;
      }
    }
    found_when_read += found ? 1 : 0;
    harmless += found ? 0 : 1;
  }
  EXPECT_GT(found_when_read, 0u);
  EXPECT_LT(harmless, found_when_read / 20);
  for (size_t size : {size_t{0}, size_t{10}, size_t{71}, size_t{72}, bytes.size() / 2, bytes.size() - 4}) {
    Write(path, bytes.substr(0, size));
    EXPECT_FALSE(OpenSealedHourFile(path).ok()) << "cut at " << size;
  }
  Write(path, bytes);
  EXPECT_TRUE(OpenSealedHourFile(path).ok());
}

// A file without events (they could not be read from the log) answers by product and store; a file whose
// events, or rows, are not as many as the rows it was sealed from is refused, and so is one without rows.
TEST_F(SealedHourFileTest, EventsAndRowsAreAllTheSealedRowsOrNone) {
  auto without = WriteSealedHourFile(dir_, Example());
  ASSERT_TRUE(without.ok()) << without.status().message();
  EXPECT_EQ(without->sealed->events.records(), 0u);
  SealedHourFile fewer = Example();
  fewer.rows.end = 499;
  auto refused = WriteSealedHourFile(dir_, fewer, ExampleEvents());
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("rows"), std::string::npos) << refused.status().message();
  EventBlocksWriter fewer_events;
  const std::vector<std::string> payloads = ExamplePayloads();
  for (size_t i = 0; i + 1 < payloads.size(); ++i) fewer_events.Add(payloads[i]);
  refused = WriteSealedHourFile(dir_, Example(), *fewer_events.Finish());
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("events"), std::string::npos) << refused.status().message();
  SealedHourFile without_rows = Example();
  auto sealed = std::make_shared<SealedHour>(*without_rows.sealed);
  sealed->rows = {};
  without_rows.sealed = sealed;
  refused = WriteSealedHourFile(dir_, without_rows, ExampleEvents());
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("no rows"), std::string::npos) << refused.status().message();
}

TEST_F(SealedHourFileTest, IndexWordsThatDoNotHoldTogetherAreRefused) {
  const DimensionIndex built = DimensionIndex::Build({{1, 0, 5}, {2, 0, 6}, {2, 1, 7}, {2, 1, 8}});
  const std::vector<uint32_t> words(built.words().begin(), built.words().end());
  ASSERT_TRUE(DimensionIndex::FromWords(words, nullptr).ok());
  auto refused = [&](size_t at, uint32_t value) {
    std::vector<uint32_t> changed = words;
    changed.at(at) = value;
    return !DimensionIndex::FromWords(changed, nullptr).ok();
  };
  // Counts at words 0-5: keys 2, key_groups 3, group_type 3, group_events 3, group_users 4, users 4; then
  // keys [1 2] at 6, key_groups [0 1 3] at 8, group_type [0 0 1] at 11, group_events [1 1 2] at 14,
  // group_users [0 1 2 4] at 17, users [5 6 7 8] at 21.
  EXPECT_TRUE(refused(0, 3));   // a count that does not add up
  EXPECT_TRUE(refused(6, 2));   // keys out of order (2, 2)
  EXPECT_TRUE(refused(9, 0));   // the first key without groups
  EXPECT_TRUE(refused(10, 2));  // key_groups does not end at the group count
  EXPECT_TRUE(refused(13, 0));  // types of key 2 out of order (0, 0)
  EXPECT_TRUE(refused(16, 1));  // a group with fewer events than users
  EXPECT_TRUE(refused(20, 5));  // group_users past the users
  // An offset in the middle far past its array (a fuzzer's find: the users of the first group were read
  // before the next offset showed that it did not grow).
  EXPECT_TRUE(refused(18, 1'000'000));
  EXPECT_TRUE(refused(23, 9));  // users of a group out of order (9, 8)
  EXPECT_FALSE(DimensionIndex::FromWords(std::vector<uint32_t>(3, 0), nullptr).ok());
}

// Leftovers of a crash: a file being written, and a merge's file whose part was not installed yet.
TEST_F(SealedHourFileTest, LeftoverTemporaryAndPendingFilesAreRemoved) {
  fs::create_directories(dir_);
  const std::vector<std::string> leftovers = {SealedHourFileName({0, 1, 5, 0}) + ".tmp",
                                              PendingSealedHourFileName({0, 1, 5, 0}),
                                              PendingSealedHourFileName({0, 1, 5, 300}) + ".tmp"};
  for (const std::string& name : leftovers) Write(dir_ + "/" + name, "half a file");
  EXPECT_TRUE(ListSealedHourFiles(dir_).empty());
  for (const std::string& name : leftovers) EXPECT_FALSE(fs::exists(dir_ + "/" + name)) << name;
}

}  // namespace
}  // namespace tally

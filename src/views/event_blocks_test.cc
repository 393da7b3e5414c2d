#include "views/event_blocks.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "common/fixed_width.h"
#include "log/record.h"

namespace tally {
namespace {

// `count` events' records as the log holds them (payloads), of sizes from a few dozen bytes to past a
// block (every 97th carries 40 KiB of properties).
std::vector<std::string> MakePayloads(int count) {
  std::vector<std::string> made;
  for (int i = 0; i < count; ++i) {
    Event event;
    event.type = i % 3 ? "click" : "PaymentSuccessful";
    event.user_id = "user-" + std::to_string(i % 71);
    event.timestamp = 1793527200000 + i;
    event.event_id = "event-" + std::to_string(i);
    event.properties_json = R"({"total_amount":)" + std::to_string(i * 7 % 1000) + R"(,"note":")" +
                            std::string(i % 97 == 0 ? 40 << 10 : i % 50, 'x') + "\"}";
    std::string frame;
    AppendEventFrame(event, &frame);
    made.push_back(frame.substr(kFrameHeaderBytes));
  }
  return made;
}

std::string Section(const std::vector<std::string>& payloads) {
  EventBlocksWriter writer;
  for (const std::string& payload : payloads) writer.Add(payload);
  auto section = writer.Finish();
  EXPECT_TRUE(section.ok()) << section.status().message();
  return section.ok() ? *section : std::string();
}

// A section's bytes in words, aligned as a memory map is.
std::shared_ptr<std::vector<uint32_t>> Aligned(const std::string& bytes) {
  auto words = std::make_shared<std::vector<uint32_t>>((bytes.size() + 3) / 4);
  if (!bytes.empty()) std::memcpy(words->data(), bytes.data(), bytes.size());
  return words;
}

Result<EventBlocks> Open(const std::string& bytes) {
  auto words = Aligned(bytes);
  return EventBlocks::FromBytes({reinterpret_cast<const char*>(words->data()), bytes.size()}, words);
}

TEST(EventBlocks, EveryRecordIsReadBackAsTheLogHeldIt) {
  const std::vector<std::string> payloads = MakePayloads(3000);
  const std::string section = Section(payloads);
  EXPECT_EQ(section.size() % 4, 0u);
  size_t raw = 0;
  for (const std::string& payload : payloads) raw += payload.size();
  EXPECT_LT(section.size(), raw / 4);  // compressed: the records repeat their names and values
  auto blocks = Open(section);
  ASSERT_TRUE(blocks.ok()) << blocks.status().message();
  EXPECT_EQ(blocks->records(), 3000u);
  EventBlocks::Reader reader;
  // In order, backwards (a timeline), and by jumps from block to block.
  for (uint32_t i = 0; i < 3000; ++i) ASSERT_EQ(*blocks->Payload(i, &reader), payloads[i]) << i;
  for (uint32_t i = 3000; i-- > 0;) ASSERT_EQ(*blocks->Payload(i, &reader), payloads[i]) << i;
  for (uint32_t i = 0; i < 3000; i += 389) {
    EventBlocks::Reader fresh;
    ASSERT_EQ(*blocks->Payload(2999 - i, &fresh), payloads[2999 - i]);
    ASSERT_EQ(*blocks->Payload(i, &fresh), payloads[i]);
  }
  EXPECT_EQ(blocks->Payload(3000, &reader).status().code(), Status::Code::kNotFound);
}

TEST(EventBlocks, AWriterWithoutRecordsWritesASectionWithout) {
  EventBlocksWriter writer;
  auto section = writer.Finish();
  ASSERT_TRUE(section.ok());
  auto blocks = Open(*section);
  ASSERT_TRUE(blocks.ok());
  EXPECT_EQ(blocks->records(), 0u);
  EventBlocks::Reader reader;
  EXPECT_FALSE(blocks->Payload(0, &reader).ok());
  // A writer is empty again after Finish.
  writer.Add(MakePayloads(1)[0]);
  auto one = writer.Finish();
  ASSERT_TRUE(one.ok());
  EXPECT_EQ(Open(*one)->records(), 1u);
}

// Sealing an hour again takes the events it sealed before from their section: the section written is the
// one writing every record would write, byte for byte, wherever the earlier seal ended (in a block, at a
// block's end, after one record, after all of them).
TEST(EventBlocks, RecordsTakenFromAnEarlierSectionWriteTheSameBytes) {
  const std::vector<std::string> payloads = MakePayloads(3000);
  const std::string whole = Section(payloads);
  auto first_blocks = Open(whole);
  ASSERT_TRUE(first_blocks.ok());
  // Where the second block starts: an earlier seal that ended there ended at a block's end.
  const uint32_t block_end = GetFixed<uint32_t>(whole.data() + 8 + 16);
  for (const uint32_t earlier : {0u, 1u, 1234u, block_end, block_end + 1, 2999u, 3000u}) {
    const std::vector<std::string> prefix(payloads.begin(), payloads.begin() + earlier);
    const std::string earlier_section = Section(prefix);
    auto previous = Open(earlier_section);
    ASSERT_TRUE(previous.ok());
    EventBlocksWriter writer;
    ASSERT_TRUE(writer.AddRecordsOf(*previous).ok()) << earlier;
    for (size_t i = earlier; i < payloads.size(); ++i) writer.Add(payloads[i]);
    auto section = writer.Finish();
    ASSERT_TRUE(section.ok());
    EXPECT_EQ(*section, whole) << "an earlier seal of " << earlier << " records";
  }
}

// An earlier section whose last block is damaged is refused, and the writer is empty again.
TEST(EventBlocks, AnEarlierSectionWhoseLastBlockIsDamagedIsNotTaken) {
  const std::vector<std::string> payloads = MakePayloads(300);
  std::string section = Section(payloads);
  const uint32_t block_count = GetFixed<uint32_t>(section.data() + 4);
  const uint32_t last_offset = GetFixed<uint32_t>(section.data() + 8 + 16 * (block_count - 1) + 8);
  section[8 + 16 * block_count + last_offset + 8] ^= 0x20;
  auto previous = Open(section);
  ASSERT_TRUE(previous.ok());
  EventBlocksWriter writer;
  EXPECT_EQ(writer.AddRecordsOf(*previous).code(), Status::Code::kCorruption);
  writer.Add(payloads[0]);
  auto written = writer.Finish();
  ASSERT_TRUE(written.ok());
  auto blocks = Open(*written);
  ASSERT_TRUE(blocks.ok());
  EXPECT_EQ(blocks->records(), 1u);
}

// The blocks are checked when read: a damaged byte in one is found there (by zstd: its checksum, or the
// block does not decode), and the other blocks still read.
TEST(EventBlocks, ADamagedBlockIsFoundWhenReadAndTheOthersStillRead) {
  const std::vector<std::string> payloads = MakePayloads(3000);
  const std::string section = Section(payloads);
  const uint32_t block_count = GetFixed<uint32_t>(section.data() + 4);
  ASSERT_GT(block_count, 3u);
  const size_t blocks_start = 8 + size_t{block_count} * 16;
  // The second block: its first record, the next block's first record, and its place.
  const uint32_t first = GetFixed<uint32_t>(section.data() + 8 + 16);
  const uint32_t next = GetFixed<uint32_t>(section.data() + 8 + 32);
  const uint32_t offset = GetFixed<uint32_t>(section.data() + 8 + 16 + 8);
  const uint32_t compressed = GetFixed<uint32_t>(section.data() + 8 + 16 + 12);
  for (uint32_t at = 0; at < compressed; at += compressed / 7 + 1) {
    std::string damaged = section;
    damaged[blocks_start + offset + at] = static_cast<char>(damaged[blocks_start + offset + at] ^ 0x10);
    auto blocks = Open(damaged);
    ASSERT_TRUE(blocks.ok()) << blocks.status().message();
    EventBlocks::Reader reader;
    auto payload = blocks->Payload(first + (next - first) / 2, &reader);
    ASSERT_FALSE(payload.ok()) << "byte " << at;
    EXPECT_EQ(payload.status().code(), Status::Code::kCorruption);
    EXPECT_NE(payload.status().message().find("block 1"), std::string::npos) << payload.status().message();
    EXPECT_EQ(*blocks->Payload(first - 1, &reader), payloads[first - 1]);
    EXPECT_EQ(*blocks->Payload(next, &reader), payloads[next]);
    // The reader keeps the damaged block's error: its every record fails the same way, and the block
    // after it still reads.
    for (uint32_t record = first; record < next; ++record) {
      auto again = blocks->Payload(record, &reader);
      ASSERT_FALSE(again.ok()) << record;
      EXPECT_EQ(again.status().message(), payload.status().message());
    }
    EXPECT_EQ(*blocks->Payload(next, &reader), payloads[next]);
  }
}

TEST(EventBlocks, ATableThatDoesNotHoldTogetherIsRefused) {
  const std::string section = Section(MakePayloads(3000));
  ASSERT_TRUE(Open(section).ok());
  auto refused = [&](size_t at, uint32_t value) {
    std::string changed = section;
    std::memcpy(changed.data() + at, &value, sizeof(value));
    return !Open(changed).ok();
  };
  const uint32_t blocks = GetFixed<uint32_t>(section.data() + 4);
  EXPECT_TRUE(refused(0, 0));                         // records without blocks
  EXPECT_TRUE(refused(4, 0));                         // blocks without records
  EXPECT_TRUE(refused(4, blocks + 1));                // a block more than there are
  EXPECT_TRUE(refused(4, 0x10000000));                // a table longer than the section
  EXPECT_TRUE(refused(8, 1));                         // the first block not at record 0
  EXPECT_TRUE(refused(8 + 16, 0));                    // blocks out of order
  EXPECT_TRUE(refused(8 + 16 * (blocks - 1), 3000));  // a block past the records
  EXPECT_TRUE(refused(8 + 16 + 4, 0));                // a block of no bytes
  EXPECT_TRUE(refused(8 + 16 + 8, 12));               // a block not where the one before ends
  EXPECT_TRUE(refused(8 + 12, 1));                    // ... nor ending where the next starts
  // More records than a block's bytes can hold: each takes at least one byte, and a block is closed at
  // 8 KiB. A table claiming billions of records in a few blocks is refused when opened.
  const uint32_t last_first = GetFixed<uint32_t>(section.data() + 8 + 16 * (blocks - 1));
  const uint32_t last_bytes = GetFixed<uint32_t>(section.data() + 8 + 16 * (blocks - 1) + 4);
  EXPECT_TRUE(refused(0, last_first + last_bytes + 1));
  EXPECT_TRUE(refused(0, last_first + (8 << 10) + 1));
  EXPECT_TRUE(refused(0, UINT32_MAX));
  EXPECT_FALSE(refused(0, last_first + std::min<uint32_t>(last_bytes, 8 << 10)));  // only read refuses
  EXPECT_FALSE(Open(section + std::string(4, '\0')).ok());  // bytes after the last block
  EXPECT_FALSE(Open(section.substr(0, section.size() - 8)).ok());
  EXPECT_FALSE(Open(section.substr(0, 7)).ok());
}

}  // namespace
}  // namespace tally

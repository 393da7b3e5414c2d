#include "views/event_columns.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "log/record.h"

namespace tally {
namespace {

std::string Payload(const Event& event) {
  std::string payload;
  AppendEventPayload(ViewOf(event), &payload);
  return payload;
}

// Events of every shape the columns must carry: received_at going back as well as forward, timestamps a
// millisecond or years apart, ids that share a prefix with the one before or none (or are absent),
// sessions, properties, and the largest values a record can hold.
std::vector<std::string> EventsOfEveryShape() {
  std::vector<std::string> made;
  for (int i = 0; i < 200; ++i) {
    Event event;
    event.type = i % 4 == 0 ? "impression" : "PaymentSuccessful";
    event.user_id = "user-" + std::to_string(i * 7919 % 1000);
    event.timestamp = 1793527200000 + (i % 5 == 0 ? int64_t{i} * 86'400'000 * 365 : i);
    event.received_at = 1793527300000 + (i % 3 == 0 ? -i : i * 1000);
    event.event_id = i % 11 == 0 ? "" : "order-2026-" + std::to_string(100000 + i * (i % 2 ? 1 : 97));
    event.version = 1 + static_cast<uint32_t>(i % 3);
    event.session_id = i % 2 ? "session-" + std::to_string(i / 10) : "";
    event.product_id = i % 7 ? "p" + std::to_string(i * 31 % 500) : "";
    event.store_id = i % 9 ? "s" + std::to_string(i % 20) : "";
    event.properties_json = i % 4 ? R"({"total_amount":)" + std::to_string(i) + "}" : "";
    made.push_back(Payload(event));
  }
  Event largest;
  largest.type = "t";
  largest.user_id = "u";
  largest.timestamp = kMaxTimestampMillis;
  largest.received_at = INT64_MAX;
  largest.version = UINT32_MAX;
  made.push_back(Payload(largest));
  largest.timestamp = 0;
  largest.received_at = 0;
  made.push_back(Payload(largest));
  return made;
}

std::string Columns(const std::vector<std::string>& payloads) {
  std::vector<std::string_view> views(payloads.begin(), payloads.end());
  std::string columns;
  EventColumnsWriter().Write(views, &columns);
  return columns;
}

std::string PayloadOf(const EventColumns& columns, uint32_t record) {
  std::string payload;
  columns.AppendPayload(record, &payload);
  return payload;
}

void ExpectReadBack(const std::vector<std::string>& payloads) {
  const std::string bytes = Columns(payloads);
  EventColumns columns;
  const Status read = columns.Read(bytes, static_cast<uint32_t>(payloads.size()));
  ASSERT_TRUE(read.ok()) << read.message();
  ASSERT_EQ(columns.records(), payloads.size());
  for (uint32_t i = 0; i < payloads.size(); ++i)
    EXPECT_EQ(PayloadOf(columns, i), payloads[i]) << "record " << i;
  // Backwards too: a record's id does not depend on which was asked for before.
  for (uint32_t i = static_cast<uint32_t>(payloads.size()); i-- > 0;)
    EXPECT_EQ(PayloadOf(columns, i), payloads[i]);
}

TEST(EventColumns, EveryEventIsReadBackAsTheLogHeldIt) {
  ExpectReadBack(EventsOfEveryShape());
  ExpectReadBack({});
  ExpectReadBack({EventsOfEveryShape().front()});
}

// An event goes into the columns: its payload is not kept whole among them.
TEST(EventColumns, AnEventIsSplitIntoItsFields) {
  const std::string payload = EventsOfEveryShape()[1];
  EXPECT_EQ(Columns({payload}).find(payload), std::string::npos);
}

// A record the columns would not write back byte for byte (another kind, an event whose varint has a
// byte too many, bytes that are no record) is kept whole, among events that are not, and reads back.
TEST(EventColumns, ARecordTheColumnsWouldNotWriteAgainIsKeptWhole) {
  std::vector<std::string> payloads = EventsOfEveryShape();
  std::string rejected;
  AppendRejectedFrame({1793527200000, "/v1/events", "user_id: missing", "{}", ""}, &rejected);
  rejected.erase(0, kFrameHeaderBytes);
  // received_at 1 written in two bytes (0x81 0x00) instead of one.
  std::string padded = payloads[3];
  const std::string canonical = Payload(ToEvent(std::get<EventView>(*DecodePayloadView(padded))));
  ASSERT_EQ(canonical, padded);
  Event small = ToEvent(std::get<EventView>(*DecodePayloadView(padded)));
  small.received_at = 1;
  padded = Payload(small);
  ASSERT_EQ(padded[2], '\x01');
  padded.replace(2, 1, "\x81\x00", 2);
  ASSERT_TRUE(DecodePayloadView(padded).ok());
  // received_at of 64 bits whose tenth byte carries bits past the 64th, which reading drops: as long as
  // the payload written again, but not the same bytes.
  Event widest = small;
  widest.received_at = INT64_MIN;
  std::string wide = Payload(widest);
  ASSERT_EQ(wide[11], '\x01');
  wide[11] = '\x7f';
  ASSERT_EQ(std::get<EventView>(*DecodePayloadView(wide)).received_at, INT64_MIN);
  for (const std::string& kept : {rejected, padded, wide, std::string("\x07\x07garbage")}) {
    payloads.insert(payloads.begin() + 5, kept);
    EXPECT_NE(Columns({kept}).find(kept), std::string::npos);
  }
  ExpectReadBack(payloads);
}

// A writer kept from block to block writes each block as a fresh one does.
TEST(EventColumns, AWriterKeptFromBlockToBlockWritesEachAsAFreshOne) {
  const std::vector<std::string> payloads = EventsOfEveryShape();
  const std::vector<std::string_view> views(payloads.begin(), payloads.end());
  EventColumnsWriter kept;
  std::string first, second;
  kept.Write(views, &first);
  kept.Write(std::span(views).subspan(7, 20), &second);
  std::string fresh;
  EventColumnsWriter().Write(std::span(views).subspan(7, 20), &fresh);
  EXPECT_EQ(second, fresh);
  EXPECT_EQ(first, Columns(payloads));
}

// Columns cut anywhere, or asked for another number of records, are refused with a reason and hold
// nothing; a byte changed anywhere is refused or reads back records (AddressSanitizer sees any read outside
// the bytes).
TEST(EventColumns, ColumnsThatDoNotHoldTogetherAreRefused) {
  const std::vector<std::string> payloads = EventsOfEveryShape();
  const std::string bytes = Columns(payloads);
  const auto records = static_cast<uint32_t>(payloads.size());
  EventColumns columns;
  for (size_t cut = 0; cut < bytes.size(); ++cut) {
    const std::string cut_bytes = bytes.substr(0, cut);
    const Status read = columns.Read(cut_bytes, records);
    ASSERT_FALSE(read.ok()) << "cut at " << cut;
    EXPECT_EQ(read.code(), Status::Code::kCorruption);
    EXPECT_EQ(columns.records(), 0u);
  }
  EXPECT_FALSE(columns.Read(bytes, records - 1).ok());
  EXPECT_FALSE(columns.Read(bytes, records + 1).ok());
  const std::string longer = bytes + "x";
  EXPECT_FALSE(columns.Read(longer, records).ok());
  for (size_t at = 0; at < bytes.size(); ++at) {
    std::string changed = bytes;
    changed[at] = static_cast<char>(changed[at] ^ 0x5a);
    if (!columns.Read(changed, records).ok()) continue;
    ASSERT_EQ(columns.records(), records);
    for (uint32_t record = 0; record < records; ++record) (void)PayloadOf(columns, record);
  }
}

// Crafted columns that would make reading hold far more than the block: an id that runs past the longest
// an event may have (shared by every event after it, each would copy it again), a record kept whole or an
// event longer than the log's largest record. Each is refused, and nothing is held.
TEST(EventColumns, ColumnsThatClaimMoreThanARecordCanHoldAreRefused) {
  Event event;
  event.type = "click";
  event.user_id = "u";
  const auto refused = [](std::vector<std::string> payloads) {
    const std::string bytes = Columns(payloads);
    EventColumns columns;
    const Status read = columns.Read(bytes, static_cast<uint32_t>(payloads.size()));
    EXPECT_EQ(columns.records(), read.ok() ? payloads.size() : 0u);
    return read.code() == Status::Code::kCorruption;
  };
  // An event with an id of `id_bytes` (the writer keeps such an event whole: the log's reader refuses
  // it), as the columns' format has it: the streams' sizes, then kinds, received, timestamps (base 0,
  // width 0), versions, lengths (shared 0, the id's, the type's 1, the user's 1, the rest 0), types,
  // users, ids.
  const auto with_id_of = [](size_t id_bytes) {
    std::string lengths;
    for (const size_t length :
         {size_t{0}, id_bytes, size_t{1}, size_t{1}, size_t{0}, size_t{0}, size_t{0}, size_t{0}})
      PutVarint(length, &lengths);
    const std::vector<std::string> streams = {std::string(1, '\0'),
                                              std::string(1, '\0'),
                                              std::string(2, '\0'),
                                              "\x01",
                                              lengths,
                                              "t",
                                              "u",
                                              std::string(id_bytes, 'e'),
                                              "",
                                              "",
                                              "",
                                              ""};
    std::string columns;
    for (const std::string& stream : streams) PutVarint(stream.size(), &columns);
    for (const std::string& stream : streams) columns += stream;
    EventColumns read;
    const Status status = read.Read(columns, 1);
    EXPECT_EQ(read.records(), status.ok() ? 1u : 0u);
    return status;
  };
  EXPECT_TRUE(with_id_of(kMaxEventIdBytes).ok());
  EXPECT_EQ(with_id_of(kMaxEventIdBytes + 1).code(), Status::Code::kCorruption);
  // The writer takes these (it does not check a record's length); the reader refuses them.
  event.properties_json = std::string(kMaxPayloadBytes, 'x');
  EXPECT_TRUE(refused({Payload(event)}));
  EXPECT_TRUE(refused({std::string(kMaxPayloadBytes + 1, 'x')}));
}

}  // namespace
}  // namespace tally

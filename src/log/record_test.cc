#include "log/record.h"

#include <gtest/gtest.h>

namespace tally {
namespace {

Event FullEvent() {
  Event event;
  event.type = "ArticleAddedToCart";
  event.user_id = "123e4567-e89b-12d3-a456-426614174000";
  event.timestamp = 1723888800000;
  event.event_id = "1a2b3c4d";
  event.version = 3;
  event.session_id = "s-42";
  event.product_id = "98765";
  event.store_id = "store_1";
  event.properties_json = R"({"article_price":29.99,"currency":"USD"})";
  event.received_at = 1723888801234;
  return event;
}

FrameView SingleFrame(const std::string& bytes) {
  FrameView frame;
  EXPECT_EQ(ReadFrame(bytes, &frame), FrameCheck::kComplete);
  EXPECT_EQ(frame.frame_bytes, bytes.size());
  return frame;
}

TEST(Record, EventRoundTripsEveryField) {
  std::string bytes;
  AppendEventFrame(FullEvent(), &bytes);
  auto decoded = DecodePayload(SingleFrame(bytes).payload);
  ASSERT_TRUE(decoded.ok()) << decoded.status().message();
  EXPECT_EQ(std::get<Event>(*decoded), FullEvent());
}

TEST(Record, MinimalTakeHomeEventRoundTrips) {
  Event event;
  event.type = "click";
  event.user_id = std::string(256, 'u');
  event.timestamp = kMaxTimestampMillis;
  std::string bytes;
  AppendEventFrame(event, &bytes);
  auto decoded = DecodePayload(SingleFrame(bytes).payload);
  ASSERT_TRUE(decoded.ok());
  EXPECT_EQ(std::get<Event>(*decoded), event);
}

TEST(Record, RejectedInputRoundTripsAndRawIsCappedAt4KiB) {
  RejectedInput rejected{17, "/analytics", "timestamp: not an integer", std::string(10000, 'x'), "partner"};
  std::string bytes;
  AppendRejectedFrame(rejected, &bytes);
  auto decoded = DecodePayload(SingleFrame(bytes).payload);
  ASSERT_TRUE(decoded.ok());
  rejected.raw.resize(kMaxRejectedRawBytes);
  EXPECT_EQ(std::get<RejectedInput>(*decoded), rejected);
}

TEST(Record, SchemaChangeRoundTrips) {
  SchemaChange change{5, "ArticleAddedToCart", R"({"required":["article_price"]})"};
  std::string bytes;
  AppendSchemaChangeFrame(change, &bytes);
  auto decoded = DecodePayload(SingleFrame(bytes).payload);
  ASSERT_TRUE(decoded.ok());
  EXPECT_EQ(std::get<SchemaChange>(*decoded), change);
}

TEST(Record, EveryTruncationIsIncompleteNeverComplete) {
  std::string bytes;
  AppendEventFrame(FullEvent(), &bytes);
  for (size_t length = 0; length < bytes.size(); ++length) {
    FrameView frame;
    EXPECT_EQ(ReadFrame(std::string_view(bytes).substr(0, length), &frame), FrameCheck::kIncomplete)
        << length;
  }
}

TEST(Record, EveryFlippedByteIsDetected) {
  std::string bytes;
  AppendEventFrame(FullEvent(), &bytes);
  for (size_t at = 0; at < bytes.size(); ++at) {
    std::string damaged = bytes;
    damaged[at] ^= 0x40;
    FrameView frame;
    EXPECT_NE(ReadFrame(damaged, &frame), FrameCheck::kComplete) << at;
  }
}

TEST(Record, ZeroFilledBytesAreNotARecord) {
  std::string zeros(64, '\0');
  FrameView frame;
  EXPECT_EQ(ReadFrame(zeros, &frame), FrameCheck::kCorrupt);
}

TEST(Record, UnknownFormatVersionOrKindIsRefused) {
  EXPECT_EQ(DecodePayload(std::string("\x02\x01", 2)).status().code(), Status::Code::kCorruption);
  EXPECT_EQ(DecodePayload(std::string("\x01\x63", 2)).status().code(), Status::Code::kCorruption);
  EXPECT_FALSE(DecodePayload(std::string("\x01", 1)).ok());
}

TEST(Record, TrailingGarbageInsideAValidFrameIsRefused) {
  std::string bytes;
  Event event = FullEvent();
  AppendEventFrame(event, &bytes);
  std::string payload(SingleFrame(bytes).payload);
  payload.push_back('x');
  EXPECT_FALSE(DecodePayload(payload).ok());
}

}  // namespace
}  // namespace tally

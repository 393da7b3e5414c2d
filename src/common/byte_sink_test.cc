#include "common/byte_sink.h"

#include <gtest/gtest.h>

#include <cstring>

#include <string>
#include <vector>

namespace tally {
namespace {

// Keeps every buffer it is handed, and fails the hand-on numbered `fail_at` (from 0) if set.
class RecordingSink final : public ByteSink {
 public:
  explicit RecordingSink(size_t capacity, int fail_at = -1) : ByteSink(capacity), fail_at_(fail_at) {}
  std::vector<std::string> drained;

 private:
  Status Drain(std::string_view bytes) override {
    if (static_cast<int>(drained.size()) == fail_at_) {
      drained.emplace_back("(failed)");
      return Status::IoError("disk full");
    }
    drained.emplace_back(bytes);
    return Status::Ok();
  }
  int fail_at_;
};

std::string Joined(const std::vector<std::string>& parts) {
  std::string all;
  for (const std::string& part : parts) all += part;
  return all;
}

TEST(ByteSink, BytesArriveInOrderAcrossBufferBoundariesWhateverTheirSizes) {
  RecordingSink sink(16);
  std::string expected;
  for (int round = 0; round < 20; ++round) {
    const std::string piece(static_cast<size_t>(round * 3 % 41), static_cast<char>('a' + round));
    sink.Append(piece.data(), piece.size());
    expected += piece;
    sink.Value<uint32_t>(0x01020304u + static_cast<uint32_t>(round));
    const uint32_t value = 0x01020304u + static_cast<uint32_t>(round);
    expected.append(reinterpret_cast<const char*>(&value), sizeof(value));
    EXPECT_EQ(sink.size(), expected.size());
  }
  ASSERT_TRUE(sink.Flush().ok());
  EXPECT_EQ(Joined(sink.drained), expected);
  for (const std::string& part : sink.drained) EXPECT_LE(part.size(), 16u);
  EXPECT_EQ(sink.size(), expected.size());
}

TEST(ByteSink, ReservedRoomIsWrittenInPlaceAndTooMuchIsRefused) {
  RecordingSink sink(8);
  sink.Append("abcde", 5);
  char* place = sink.Reserve(6);  // does not fit after "abcde": the buffer is handed on first
  ASSERT_NE(place, nullptr);
  std::memcpy(place, "012345", 6);
  sink.Commit(6);
  EXPECT_EQ(sink.Reserve(9), nullptr);
  ASSERT_TRUE(sink.Flush().ok());
  EXPECT_EQ(sink.drained, (std::vector<std::string>{"abcde", "012345"}));
}

TEST(ByteSink, AFailedHandOnIsReportedAndNothingAfterItIsHandedOn) {
  RecordingSink sink(4, /*fail_at=*/1);
  sink.Append("0123456789abcdef", 16);
  const Status status = sink.Flush();
  EXPECT_FALSE(status.ok());
  EXPECT_NE(status.message().find("disk full"), std::string::npos);
  EXPECT_EQ(sink.drained, (std::vector<std::string>{"0123", "(failed)"}));
  sink.Append("more", 4);
  EXPECT_FALSE(sink.Flush().ok());
  EXPECT_EQ(sink.drained.size(), 2u);
}

TEST(ByteSink, AStringSinkAppendsToItsString) {
  std::string out = "kept:";
  {
    StringSink sink(&out);
    const std::string large(200'000, 'x');
    sink.Append(large.data(), large.size());
    sink.Value<uint8_t>(7);
  }
  ASSERT_EQ(out.size(), 5u + 200'000u + 1u);
  EXPECT_EQ(out.substr(0, 6), "kept:x");
  EXPECT_EQ(out.back(), '\7');
}

}  // namespace
}  // namespace tally

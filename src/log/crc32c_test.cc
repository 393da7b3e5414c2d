#include "log/crc32c.h"

#include <gtest/gtest.h>

#include <string>

namespace tally {
namespace {

TEST(Crc32c, MatchesTheStandardCheckValue) {
  // The check value from the CRC catalogue for CRC-32C.
  EXPECT_EQ(Crc32c("123456789"), 0xE3069283u);
  EXPECT_EQ(Crc32cPortable("123456789"), 0xE3069283u);
  EXPECT_EQ(Crc32c(""), 0u);
}

TEST(Crc32c, HardwareAndPortablePathsAgreeOnEveryLengthAndAlignment) {
  std::string data;
  for (int i = 0; i < 300; ++i) data.push_back(static_cast<char>(i * 37 + 11));
  for (size_t start = 0; start < 9; ++start) {
    for (size_t len = 0; start + len <= data.size(); len += 7) {
      std::string_view view(data.data() + start, len);
      ASSERT_EQ(Crc32c(view), Crc32cPortable(view)) << start << " " << len;
    }
  }
}

// Long inputs take the three-stream path: around its block edges (12 KiB) and from odd addresses.
TEST(Crc32c, LongInputsAgreeWithTheByteAtATimeChecksum) {
  std::string data;
  uint64_t state = 88172645463325252ull;
  for (int i = 0; i < 50'000; ++i) {
    state ^= state << 13, state ^= state >> 7, state ^= state << 17;
    data.push_back(static_cast<char>(state));
  }
  for (size_t start : {0, 1, 5}) {
    for (size_t len : {12'287, 12'288, 12'289, 12'295, 24'576, 24'583, 36'871, 49'995}) {
      const std::string_view view(data.data() + start, len);
      ASSERT_EQ(Crc32c(view), Crc32cPortable(view)) << start << " " << len;
      ASSERT_EQ(Crc32c(view.substr(777), Crc32c(view.substr(0, 777))), Crc32cPortable(view)) << len;
    }
  }
}

TEST(Crc32c, AChecksumComputedAPieceAtATimeEqualsTheWholeOne) {
  std::string data;
  for (int i = 0; i < 100; ++i) data.push_back(static_cast<char>(i * 53 + 7));
  for (size_t split = 0; split <= data.size(); split += 13) {
    const std::string_view first(data.data(), split), second(data.data() + split, data.size() - split);
    EXPECT_EQ(Crc32c(second, Crc32c(first)), Crc32c(data)) << split;
    EXPECT_EQ(Crc32cPortable(second, Crc32cPortable(first)), Crc32c(data)) << split;
  }
}

TEST(Crc32c, DetectsASingleFlippedBit) {
  std::string data = "user=alice&event=click";
  uint32_t before = Crc32c(data);
  data[5] ^= 0x01;
  EXPECT_NE(before, Crc32c(data));
}

}  // namespace
}  // namespace tally

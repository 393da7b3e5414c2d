#include "common/hasher.h"

#include <gtest/gtest.h>

#include <string>

namespace tally {
namespace {

// Digests are kept in files (a sealed hour's rows), so the buffering must not change a hash: it is XXH3-64
// of the bytes of every value and text, in order, however many there are.
TEST(Hasher, IsXxh3OfTheBytesInOrderAcrossItsBuffer) {
  for (size_t values : {0, 1, 127, 128, 129, 1000, 100000}) {
    Hasher hasher;
    std::string bytes;
    for (size_t i = 0; i < values; ++i) {
      const uint64_t position = i * 0x9E3779B97F4A7C15ull;
      const auto state = static_cast<uint8_t>(i % 5);
      hasher.Value(position);
      hasher.Value(state);
      bytes.append(reinterpret_cast<const char*>(&position), sizeof(position));
      bytes.push_back(static_cast<char>(state));
      if (i % 97 == 0) {  // texts too, one of them longer than the buffer
        const std::string text(i % 3 == 0 ? 3000 : i % 40, 'x');
        hasher.Text(text);
        const size_t size = text.size();
        bytes.append(reinterpret_cast<const char*>(&size), sizeof(size)).append(text);
      }
    }
    EXPECT_EQ(hasher.Finish(), XXH3_64bits(bytes.data(), bytes.size())) << values;
  }
}

}  // namespace
}  // namespace tally

#include "ingest/gzip.h"

#include <gtest/gtest.h>

#include <string>

#include "../../tests/support/gzip.h"

namespace tally {
namespace {

using tally::testing::Gzip;

std::string Compress(std::string_view plain) {
  std::string compressed = Gzip(plain, Z_BEST_COMPRESSION);
  EXPECT_FALSE(compressed.empty());
  return compressed;
}

TEST(Gunzip, GivesBackWhatWasCompressed) {
  std::string plain;
  for (int i = 0; i < 20000; ++i) plain += R"({"type":"click","user_id":"u)" + std::to_string(i) + "\"}\n";
  auto inflated = Gunzip(Compress(plain), plain.size());
  ASSERT_TRUE(inflated.ok()) << inflated.status().message();
  EXPECT_EQ(*inflated, plain);
}

TEST(Gunzip, MembersOneAfterTheOtherAreOneBody) {
  auto inflated = Gunzip(Compress("first,") + Compress("second"), 100);
  ASSERT_TRUE(inflated.ok()) << inflated.status().message();
  EXPECT_EQ(*inflated, "first,second");
}

TEST(Gunzip, StopsAtTheLimitOfDecompressedBytes) {
  // 64 MiB of zeros compress to about 64 KiB: a bomb for a 1 MiB limit.
  const std::string bomb = Compress(std::string(64u << 20, '\0'));
  ASSERT_LT(bomb.size(), 128u << 10);
  auto inflated = Gunzip(bomb, 1u << 20);
  ASSERT_FALSE(inflated.ok());
  EXPECT_EQ(inflated.status().code(), Status::Code::kTooLarge);
  EXPECT_EQ(inflated.status().message(), "body: larger than 1048576 bytes once decompressed");
  // Exactly at the limit is allowed.
  EXPECT_TRUE(Gunzip(Compress(std::string(1000, 'x')), 1000).ok());
  EXPECT_FALSE(Gunzip(Compress(std::string(1001, 'x')), 1000).ok());
}

TEST(Gunzip, WhatIsNotGzipIsRefusedNamingTheBody) {
  const std::string whole = Compress("hello, world");
  for (const std::string& bad : {std::string(), std::string("hello"), whole.substr(0, whole.size() / 2),
                                 whole + "trailing", std::string("\x1f\x8b\x08\x00garbage", 11)}) {
    auto inflated = Gunzip(bad, 1000);
    ASSERT_FALSE(inflated.ok()) << bad.size();
    EXPECT_EQ(inflated.status().code(), Status::Code::kInvalidArgument);
    EXPECT_EQ(inflated.status().field(), "body");
  }
}

}  // namespace
}  // namespace tally

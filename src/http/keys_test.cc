#include "http/keys.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>

namespace tally {
namespace {

TEST(KeyRing, FindsEachKeyByItsSecretOnly) {
  auto ring = KeyRing::Parse(
      "# comment\n\nweb ingest 0123456789abcdef\n  analyst\tread  fedcba9876543210xx\nops admin "
      "admin-secret-000000\n");
  ASSERT_TRUE(ring.ok()) << ring.status().message();
  EXPECT_EQ(ring->size(), 3u);
  auto web = ring->Find("0123456789abcdef");
  ASSERT_TRUE(web.has_value());
  EXPECT_EQ(web->name, "web");
  EXPECT_EQ(web->role, Role::kIngest);
  EXPECT_EQ(ring->Find("fedcba9876543210xx")->role, Role::kRead);
  EXPECT_EQ(ring->Find("admin-secret-000000")->name, "ops");
  EXPECT_FALSE(ring->Find("0123456789abcde").has_value());    // a prefix
  EXPECT_FALSE(ring->Find("0123456789abcdefX").has_value());  // longer
  EXPECT_FALSE(ring->Find("").has_value());
}

TEST(KeyRing, ABadFileIsRefusedNamingTheLine) {
  const std::pair<const char*, const char*> cases[] = {
      {"a ingest 0123456789abcdef\nb write 0123456789abcdeg\n", "line 2: role must be"},
      {"a ingest short\n", "line 1: the secret must have at least 16"},
      {"a ingest 0123456789abcdef extra\n", "line 1: expected"},
      {"a ingest\n", "line 1: expected"},
      {"a ingest 0123456789abcdef\na read 0123456789abcdeg\n", "name 'a' repeated"},
      {"a ingest 0123456789abcdef\nb read 0123456789abcdef\n", "secret repeated"},
      {"# nothing\n", "no key"},
  };
  for (const auto& [text, message] : cases) {
    auto ring = KeyRing::Parse(text);
    ASSERT_FALSE(ring.ok()) << text;
    EXPECT_EQ(ring.status().field(), "keys");
    EXPECT_NE(ring.status().message().find(message), std::string::npos) << ring.status().message();
  }
}

TEST(KeyRing, OnlyARegularFileOfBoundedSizeIsRead) {
  // A FIFO would block a reader for ever (and /dev/zero never end): both are refused at once.
  char dir_template[] = "/tmp/tally-keys-XXXXXX";
  ASSERT_NE(::mkdtemp(dir_template), nullptr);
  const std::string dir = dir_template;
  const std::string fifo = dir + "/fifo";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  for (const std::string& path : {fifo, std::string("/dev/zero"), dir}) {
    auto ring = KeyRing::LoadFile(path);
    ASSERT_FALSE(ring.ok()) << path;
    EXPECT_NE(ring.status().message().find("not a regular file"), std::string::npos)
        << ring.status().message();
  }
  const std::string large = dir + "/large";
  {
    std::ofstream out(large);
    out << "a ingest 0123456789abcdef\n" << std::string(2u << 20, '#');
  }
  auto ring = KeyRing::LoadFile(large);
  ASSERT_FALSE(ring.ok());
  EXPECT_NE(ring.status().message().find("larger than"), std::string::npos) << ring.status().message();
  const std::string good = dir + "/keys";
  {
    std::ofstream out(good);
    out << "a ingest 0123456789abcdef\n";
  }
  ring = KeyRing::LoadFile(good);
  ASSERT_TRUE(ring.ok()) << ring.status().message();
  EXPECT_EQ(ring->size(), 1u);
  std::remove(fifo.c_str());
  std::remove(large.c_str());
  std::remove(good.c_str());
  ::rmdir(dir.c_str());
}

}  // namespace
}  // namespace tally

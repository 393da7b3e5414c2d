#include "engine/checkpoint.h"

#include <sys/resource.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>

namespace tally {
namespace {

namespace fs = std::filesystem;

class CheckpointFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = (fs::temp_directory_path() / ("tally-checkpoint-test-" + std::to_string(::getpid()) + "-" +
                                         ::testing::UnitTest::GetInstance()->current_test_info()->name()))
               .string();
    fs::remove_all(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string dir_;
};

std::string RandomBytes(size_t size, uint32_t seed) {
  std::mt19937 random(seed);
  std::string bytes(size, '\0');
  for (char& byte : bytes) byte = static_cast<char>(random());
  return bytes;
}

// Appends `bytes` in pieces of varied sizes, some larger than the writer's buffer.
void AppendInPieces(ByteSink* sink, std::string_view bytes) {
  constexpr size_t kSizes[] = {1, 7, 4096, 3 << 20, 9 << 20, 13};
  for (size_t at = 0, i = 0; at < bytes.size(); ++i) {
    const size_t part = std::min(kSizes[i % std::size(kSizes)], bytes.size() - at);
    sink->Append(bytes.data() + at, part);
    at += part;
  }
}

TEST_F(CheckpointFileTest, APayloadWrittenInPiecesReadsBackWholeAndOnlyTheNewestAreKept) {
  for (uint64_t lsn : {10, 20, 30}) {
    const std::string payload = RandomBytes(11 << 20, static_cast<uint32_t>(lsn));
    auto writer = CheckpointWriter::Create(dir_, lsn);
    ASSERT_TRUE(writer.ok()) << writer.status().message();
    AppendInPieces(writer->get(), payload);
    auto bytes = (*writer)->Finish(/*keep=*/2);
    ASSERT_TRUE(bytes.ok()) << bytes.status().message();
    const std::vector<CheckpointFile> files = ListCheckpoints(dir_);
    ASSERT_FALSE(files.empty());
    EXPECT_EQ(files.front().lsn, lsn);
    EXPECT_EQ(fs::file_size(files.front().path), *bytes);
    auto read = ReadCheckpoint(files.front());
    ASSERT_TRUE(read.ok()) << read.status().message();
    EXPECT_TRUE(read->bytes == payload);
    EXPECT_EQ(read->layout, kSavedLayout);
  }
  const std::vector<CheckpointFile> files = ListCheckpoints(dir_);
  ASSERT_EQ(files.size(), 2u);
  EXPECT_EQ(files[1].lsn, 20u);
}

TEST_F(CheckpointFileTest, AFlippedByteIsFoundByTheChecksum) {
  auto writer = CheckpointWriter::Create(dir_, 5);
  ASSERT_TRUE(writer.ok());
  AppendInPieces(writer->get(), RandomBytes(5 << 20, 1));
  ASSERT_TRUE((*writer)->Finish().ok());
  const CheckpointFile file = ListCheckpoints(dir_).front();
  {
    std::fstream stream(file.path, std::ios::in | std::ios::out | std::ios::binary);
    stream.seekp(4 << 20);
    stream.put('\xA5' ^ static_cast<char>(stream.peek()));
  }
  auto read = ReadCheckpoint(file);
  ASSERT_TRUE(read.ok()) << read.status().message();  // the header and the length are whole
  const Status verified = read->Verify();
  ASSERT_FALSE(verified.ok());
  EXPECT_NE(verified.message().find("checksum"), std::string::npos);
}

TEST_F(CheckpointFileTest, ACheckpointNotFinishedLeavesNoFile) {
  {
    auto writer = CheckpointWriter::Create(dir_, 7);
    ASSERT_TRUE(writer.ok());
    AppendInPieces(writer->get(), RandomBytes(6 << 20, 2));  // more than a buffer: some is on disk
  }
  EXPECT_TRUE(fs::is_empty(dir_));
}

TEST_F(CheckpointFileTest, AWriteTheDiskRefusesFailsTheCheckpointAndLeavesNoFile) {
  // A file size limit stands in for a full disk: writes past it fail (EFBIG once SIGXFSZ is ignored).
  rlimit before{};
  ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &before), 0);
  auto* previous_handler = std::signal(SIGXFSZ, SIG_IGN);
  rlimit limited = before;
  limited.rlim_cur = 1 << 20;
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &limited), 0);
  Result<uint64_t> bytes = Status::Internal("not run");
  {
    auto writer = CheckpointWriter::Create(dir_, 9);
    if (writer.ok()) {
      AppendInPieces(writer->get(), RandomBytes(8 << 20, 3));
      bytes = (*writer)->Finish();
    } else {
      bytes = writer.status();
    }
  }
  ::setrlimit(RLIMIT_FSIZE, &before);
  std::signal(SIGXFSZ, previous_handler);
  ASSERT_FALSE(bytes.ok());
  EXPECT_NE(bytes.status().message().find(".snap.tmp"), std::string::npos) << bytes.status().message();
  EXPECT_TRUE(ListCheckpoints(dir_).empty());
  EXPECT_TRUE(fs::is_empty(dir_));
}

}  // namespace
}  // namespace tally

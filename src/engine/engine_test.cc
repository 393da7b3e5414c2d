#include "engine/engine.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <absl/strings/str_cat.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "engine/checkpoint.h"
#include "query/event_lookup.h"
#include "query/stats.h"

namespace tally {
namespace {

namespace fs = std::filesystem;

class EngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = (fs::temp_directory_path() / ("tally-engine-test-" + std::to_string(::getpid()) + "-" +
                                         ::testing::UnitTest::GetInstance()->current_test_info()->name()))
               .string();
    fs::remove_all(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string dir_;
};

Event Make(std::string type, std::string user, Millis timestamp) {
  Event event;
  event.type = std::move(type);
  event.user_id = std::move(user);
  event.timestamp = timestamp;
  return event;
}

TEST_F(EngineTest, CommittedEventsAreQueryableAndSurviveAReopen) {
  const int64_t hour = HourOf(1793527200000);
  {
    auto engine = Engine::Open(EngineOptions{dir_});
    ASSERT_TRUE(engine.ok()) << engine.status().message();
    IngestBatch batch;
    batch.Add(Make("click", "a", 1793527200000));
    batch.Add(Make("impression", "a", 1793527200001));
    batch.Add(RejectedInput{1, "/analytics", "user: missing", "POST /analytics?timestamp=1", ""});
    batch.Add(Make("impression", "b", 1793527200002));
    auto committed = (*engine)->Commit(batch);
    ASSERT_TRUE(committed.ok());
    EXPECT_EQ(committed->end_lsn, 4u);
    EXPECT_EQ((*engine)->TakeHomeHour(hour), (TakeHomeCounts{2, 1, 2}));
  }
  auto reopened = Engine::Open(EngineOptions{dir_});
  ASSERT_TRUE(reopened.ok());
  EXPECT_EQ((*reopened)->TakeHomeHour(hour), (TakeHomeCounts{2, 1, 2}));
  EXPECT_EQ((*reopened)->start_report().log.records, 4u);
}

TEST_F(EngineTest, ASecondServerOnTheSameDataDirectoryIsRefused) {
  auto first = Engine::Open(EngineOptions{dir_});
  ASSERT_TRUE(first.ok());
  auto second = Engine::Open(EngineOptions{dir_});
  ASSERT_FALSE(second.ok());
  EXPECT_NE(second.status().message().find("in use"), std::string::npos);
}

// A process forked by a server shares the directory's lock until it closes it. Once the server is gone, the
// next start waits for such a process instead of refusing the directory; while the server lives it refuses.
TEST_F(EngineTest, TheLockAForkedProcessOfAKilledServerStillHoldsIsWaitedFor) {
  int ready[2];
  ASSERT_EQ(::pipe(ready), 0);
  const pid_t server = ::fork();
  ASSERT_GE(server, 0);
  if (server == 0) {
    auto engine = Engine::Open(EngineOptions{dir_});
    if (!engine.ok()) ::_exit(1);
    if (::fork() == 0) {  // holds the inherited lock a while after its server is killed
      std::this_thread::sleep_for(std::chrono::milliseconds(400));
      ::_exit(0);
    }
    (void)!::write(ready[1], "r", 1);
    for (;;) ::pause();
  }
  char byte = 0;
  ASSERT_EQ(::read(ready[0], &byte, 1), 1);
  auto refused = Engine::Open(EngineOptions{dir_});
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("(process " + std::to_string(server) + ")"), std::string::npos)
      << refused.status().message();
  ::kill(server, SIGKILL);
  ASSERT_EQ(::waitpid(server, nullptr, 0), server);
  const auto killed = std::chrono::steady_clock::now();
  auto next = Engine::Open(EngineOptions{dir_});
  ASSERT_TRUE(next.ok()) << next.status().message();
  EXPECT_GT(std::chrono::steady_clock::now() - killed, std::chrono::milliseconds(100));
  ::close(ready[0]);
  ::close(ready[1]);
}

}  // namespace
}  // namespace tally

namespace tally {
namespace {

class CheckpointTest : public EngineTest {
 protected:
  // `count` events, numbered from `first`, in one commit.
  static void CommitEvents(Engine& engine, int first, int count) {
    IngestBatch batch;
    for (int i = first; i < first + count; ++i) {
      Event event = Make(i % 3 ? "click" : "impression", std::string("u").append(std::to_string(i % 17)),
                         1793527200000 + i * 60'000);
      event.event_id =
          "id-" + std::to_string(i % 150);  // repeats: duplicates and, with versions, corrections
      event.version = static_cast<uint32_t>(1 + i / 150);
      event.product_id = std::string("p").append(std::to_string(i % 5));
      batch.Add(std::move(event));
    }
    ASSERT_TRUE(engine.Commit(batch).ok());
  }
  uint64_t ReplayDigest() { return ReplayLog(dir_, UINT64_MAX)->digest; }
  std::vector<CheckpointFile> Checkpoints() { return ListCheckpoints(dir_ + "/checkpoints"); }
};

TEST_F(CheckpointTest, RestartLoadsTheCheckpointAndReplaysOnlyTheTail) {
  uint64_t digest = 0;
  {
    auto engine = Engine::Open(EngineOptions{dir_});
    ASSERT_TRUE(engine.ok());
    CommitEvents(**engine, 0, 400);
    ASSERT_TRUE((*engine)->Checkpoint().ok());
    CommitEvents(**engine, 400, 100);
    digest = (*engine)->Digest().digest;
  }
  auto reopened = Engine::Open(EngineOptions{dir_});
  ASSERT_TRUE(reopened.ok());
  EXPECT_EQ((*reopened)->start_report().checkpoint_lsn, 400u);
  EXPECT_EQ((*reopened)->start_report().replayed, 100u);
  EXPECT_EQ((*reopened)->Digest().digest, digest);
  EXPECT_EQ(ReplayDigest(), digest);
}

// A checkpoint of an older format is not read: the start replays the log, says why it skipped the file,
// and writes the next checkpoint in today's format, which the start after it loads.
TEST_F(CheckpointTest, ACheckpointOfAnOlderFormatIsSkippedAndTheLogReplayed) {
  EngineOptions options{dir_};
  options.shards = 3;
  uint64_t digest = 0;
  {
    auto engine = Engine::Open(options);
    ASSERT_TRUE(engine.ok()) << engine.status().message();
    CommitEvents(**engine, 0, 500);
    digest = (*engine)->Digest().digest;
    ASSERT_TRUE((*engine)->Checkpoint().ok());
  }
  const std::string path = ListCheckpoints(dir_ + "/checkpoints").at(0).path;
  auto format_of = [&](const std::string& file) {
    std::ifstream in(file, std::ios::binary);
    char header[12] = {};
    in.read(header, sizeof header);
    uint32_t format = 0;
    std::memcpy(&format, header + 8, sizeof format);
    return format;
  };
  const uint32_t today = format_of(path);
  {
    // The header says format 16, the last one before today's (its checksum covers the payload alone).
    std::fstream file(path, std::ios::binary | std::ios::in | std::ios::out);
    const uint32_t format = 16;
    file.seekp(8);
    file.write(reinterpret_cast<const char*>(&format), sizeof format);
  }
  {
    auto engine = Engine::Open(options);
    ASSERT_TRUE(engine.ok()) << engine.status().message();
    EXPECT_TRUE((*engine)->start_report().checkpoint_path.empty());
    ASSERT_EQ((*engine)->start_report().checkpoints_skipped.size(), 1u);
    EXPECT_NE((*engine)->start_report().checkpoints_skipped[0].find("format version"), std::string::npos)
        << (*engine)->start_report().checkpoints_skipped[0];
    EXPECT_EQ((*engine)->start_report().replayed, 500u);
    EXPECT_EQ((*engine)->Digest().digest, digest);
    ASSERT_TRUE((*engine)->Checkpoint().ok());
  }
  auto reopened = Engine::Open(options);
  ASSERT_TRUE(reopened.ok()) << reopened.status().message();
  ASSERT_FALSE((*reopened)->start_report().checkpoint_path.empty());
  EXPECT_EQ(format_of((*reopened)->start_report().checkpoint_path), today);
  EXPECT_EQ((*reopened)->start_report().replayed, 0u);
  EXPECT_EQ((*reopened)->Digest().digest, digest);
}

TEST_F(CheckpointTest, ACheckpointTheChildCannotWriteSaysWhyAndTheNextOneIsWritten) {
  auto engine = Engine::Open(EngineOptions{dir_});
  ASSERT_TRUE(engine.ok());
  CommitEvents(**engine, 0, 300);
  // The checkpoint directory replaced by a file: the child process cannot write there.
  std::filesystem::remove_all(dir_ + "/checkpoints");
  { std::ofstream(dir_ + "/checkpoints") << "not a directory"; }
  const Status failed = (*engine)->Checkpoint();
  EXPECT_FALSE(failed.ok());
  EXPECT_NE(failed.message().find("checkpoint of 300 records not written"), std::string::npos)
      << failed.message();
  EXPECT_NE(failed.message().find("checkpoints"), std::string::npos) << failed.message();
  EXPECT_EQ((*engine)->last_checkpoint_lsn(), 0u);
  std::filesystem::remove(dir_ + "/checkpoints");
  std::filesystem::create_directory(dir_ + "/checkpoints");
  CommitEvents(**engine, 300, 50);
  ASSERT_TRUE((*engine)->Checkpoint().ok());
  EXPECT_EQ((*engine)->last_checkpoint_lsn(), 350u);
  ASSERT_EQ(Checkpoints().size(), 1u);
  EXPECT_EQ(Checkpoints()[0].lsn, 350u);
  // The server goes on after its children: ingest and answers as before.
  CommitEvents(**engine, 350, 10);
  const uint64_t digest = (*engine)->Digest().digest;
  engine->reset();
  auto reopened = Engine::Open(EngineOptions{dir_});
  ASSERT_TRUE(reopened.ok());
  EXPECT_EQ((*reopened)->start_report().checkpoint_lsn, 350u);
  EXPECT_EQ((*reopened)->Digest().digest, digest);
}

TEST_F(CheckpointTest, ACorruptCheckpointIsSkippedForTheOlderOneOrAFullReplay) {
  uint64_t digest = 0;
  {
    auto engine = Engine::Open(EngineOptions{dir_});
    CommitEvents(**engine, 0, 200);
    ASSERT_TRUE((*engine)->Checkpoint().ok());
    CommitEvents(**engine, 200, 200);
    ASSERT_TRUE((*engine)->Checkpoint().ok());
    digest = (*engine)->Digest().digest;
  }
  std::vector<CheckpointFile> files = Checkpoints();
  ASSERT_EQ(files.size(), 2u);
  {
    std::fstream newest(files[0].path, std::ios::in | std::ios::out | std::ios::binary);
    newest.seekp(100);
    newest.write("\x7f", 1);
  }
  {
    auto reopened = Engine::Open(EngineOptions{dir_});
    ASSERT_TRUE(reopened.ok());
    EXPECT_EQ((*reopened)->start_report().checkpoint_lsn, 200u);
    EXPECT_EQ((*reopened)->start_report().checkpoints_skipped.size(), 1u);
    EXPECT_EQ((*reopened)->Digest().digest, digest);
  }
  for (const CheckpointFile& file : Checkpoints()) fs::remove(file.path);
  std::ofstream(dir_ + "/checkpoints/views-00000000000000000300.snap") << "not a checkpoint";
  auto full = Engine::Open(EngineOptions{dir_});
  ASSERT_TRUE(full.ok());
  EXPECT_EQ((*full)->start_report().checkpoint_lsn, 0u);
  EXPECT_EQ((*full)->start_report().replayed, 400u);
  EXPECT_EQ((*full)->Digest().digest, digest);
}

TEST_F(CheckpointTest, ACrashWhileWritingLeavesThePreviousCheckpointInUse) {
  uint64_t digest = 0;
  {
    auto engine = Engine::Open(EngineOptions{dir_});
    CommitEvents(**engine, 0, 300);
    ASSERT_TRUE((*engine)->Checkpoint().ok());
    CommitEvents(**engine, 300, 50);
    digest = (*engine)->Digest().digest;
  }
  // What a crash in the middle of writing the next checkpoint leaves: a partial temporary file.
  std::ofstream(dir_ + "/checkpoints/views-00000000000000000350.snap.tmp") << "TALLYSNP partial";
  auto reopened = Engine::Open(EngineOptions{dir_});
  ASSERT_TRUE(reopened.ok());
  EXPECT_EQ((*reopened)->start_report().checkpoint_lsn, 300u);
  EXPECT_EQ((*reopened)->Digest().digest, digest);
  EXPECT_FALSE(fs::exists(dir_ + "/checkpoints/views-00000000000000000350.snap.tmp"));
}

TEST_F(CheckpointTest, ACheckpointAheadOfTheLogIsNotUsed) {
  {
    auto engine = Engine::Open(EngineOptions{dir_});
    CommitEvents(**engine, 0, 100);
    ASSERT_TRUE((*engine)->Checkpoint().ok());
  }
  // The log lost its tail (say, a power loss before the fsync) but the checkpoint survived: move the
  // checkpoint ahead by renaming it to claim more records than the log holds.
  const CheckpointFile file = Checkpoints()[0];
  fs::rename(file.path, dir_ + "/checkpoints/views-00000000000000000999.snap");
  auto reopened = Engine::Open(EngineOptions{dir_});
  ASSERT_TRUE(reopened.ok());
  EXPECT_EQ((*reopened)->start_report().checkpoint_lsn, 0u);
  EXPECT_EQ((*reopened)->start_report().replayed, 100u);
  EXPECT_EQ((*reopened)->Digest().digest, ReplayDigest());
}

TEST_F(CheckpointTest, SegmentsWhollyCoveredByTheCheckpointAreNotRead) {
  EngineOptions options{dir_, 4096};
  uint64_t digest = 0;
  {
    auto engine = Engine::Open(options);
    CommitEvents(**engine, 0, 100);
    CommitEvents(**engine, 100, 100);
    CommitEvents(**engine, 200, 100);
    ASSERT_TRUE((*engine)->Checkpoint().ok());
    CommitEvents(**engine, 300, 20);
    digest = (*engine)->Digest().digest;
  }
  auto segments = *SegmentLog::ListSegments(dir_ + "/log");
  ASSERT_GE(segments.size(), 3u);
  // Damage inside the first closed segment: a full scan refuses it, a start from the checkpoint never
  // reads it.
  {
    std::fstream first(dir_ + "/log/" + segments[0], std::ios::in | std::ios::out | std::ios::binary);
    first.seekp(40);
    first.write("\xff\xff\xff", 3);
  }
  EXPECT_FALSE(ReplayLog(dir_, UINT64_MAX).ok());
  auto reopened = Engine::Open(options);
  ASSERT_TRUE(reopened.ok()) << reopened.status().message();
  EXPECT_EQ((*reopened)->start_report().checkpoint_lsn, 300u);
  EXPECT_EQ((*reopened)->Digest().digest, digest);
}

}  // namespace
}  // namespace tally

namespace tally {
namespace {

class SealedHourFilesTest : public EngineTest {
 protected:
  static constexpr Millis kBase = 1793527200000;  // an hour boundary
  // Events over three hours, with ids (so later batches can correct them), products and stores.
  static void CommitShopEvents(Engine& engine, int first, int count) {
    IngestBatch batch;
    for (int i = first; i < first + count; ++i) {
      Event event = Make(i % 4 ? "click" : "impression", "u" + std::to_string(i % 23),
                         kBase + (i % 3) * kMillisPerHour + i);
      event.event_id = "e" + std::to_string(i);
      event.product_id = "p" + std::to_string(i % 11);
      event.store_id = "s" + std::to_string(i % 4);
      batch.Add(std::move(event));
    }
    ASSERT_TRUE(engine.Commit(batch).ok());
  }
  // Version 2 of every `every`-th of those events, in the same hour, with another product.
  static void CommitCorrections(Engine& engine, int every) {
    IngestBatch corrections;
    for (int i = 0; i < 600; i += every) {
      Event event = Make("click", "u" + std::to_string(i % 23), kBase + (i % 3) * kMillisPerHour + 7);
      event.event_id = "e" + std::to_string(i);
      event.version = 2;
      event.product_id = "p-new";
      corrections.Add(std::move(event));
    }
    ASSERT_TRUE(engine.Commit(corrections).ok());
  }
  // Top products and stores over the three hours, as text.
  static std::string Answers(Engine& engine) {
    std::string out;
    engine.Read([&](const Views& views) {
      for (TopDimension by : {TopDimension::kProduct, TopDimension::kStore}) {
        for (const TopEntry& entry :
             ComputeTop(views, TopRequest{by, kBase, kBase + 3 * kMillisPerHour, std::nullopt, 20})) {
          out +=
              entry.key + ":" + std::to_string(entry.events) + "/" + std::to_string(entry.unique_users) + " ";
        }
      }
      return 0;
    });
    return out;
  }
  // `count` shop events into a fresh engine, their hours sealed (2 shards: 6 files) and a checkpoint;
  // returns the answers.
  std::string CommitSealAndCheckpoint(int count) {
    auto engine = Engine::Open(EngineOptions{dir_, 128ull << 20, 2});
    EXPECT_TRUE(engine.ok()) << engine.status().message();
    if (!engine.ok()) return {};
    CommitShopEvents(**engine, 0, count);
    (*engine)->SealHours(0);
    EXPECT_TRUE((*engine)->Checkpoint().ok());
    return Answers(**engine);
  }
  // After CommitSealAndCheckpoint(600): a start (whose files are not installed) corrects events of the
  // first hour only (every 30th: i % 3 == 0) and stops with a checkpoint, or without (as after a kill).
  // The next start installs the other hours' files as the checkpoint noted them (their rows not read),
  // drops the first hour's (of each shard), and answers as before.
  void CorrectTheFirstHourAndRestart(bool checkpoint) {
    CommitSealAndCheckpoint(600);
    std::string before;
    {
      auto engine = Engine::Open(EngineOptions{dir_, 128ull << 20, 2});
      ASSERT_TRUE(engine.ok());
      CommitCorrections(**engine, 30);
      before = Answers(**engine);
      if (checkpoint) {
        ASSERT_TRUE((*engine)->Checkpoint().ok());
      }
    }
    ASSERT_EQ(Files().size(), 6u);
    SealedFilesReport report;
    const auto engine = StartAndInstallFiles(checkpoint ? 0u : 20u, &report);
    ASSERT_NE(engine, nullptr);
    EXPECT_EQ(report.installed, 4u);
    EXPECT_EQ(report.as_noted, 4u);
    ASSERT_EQ(report.dropped.size(), 2u);
    for (const std::string& dropped : report.dropped)
      EXPECT_NE(dropped.find("-h" + std::to_string(HourOf(kBase)) + ".seg"), std::string::npos) << dropped;
    EXPECT_EQ(Answers(*engine), before);
    EXPECT_EQ(engine->Digest().digest, ReplayLog(dir_, UINT64_MAX)->digest);
  }
  static size_t SealedHours(Engine& engine) {
    return engine.Read([](const Views& views) { return views.tiers().sealed_hours; });
  }
  static size_t FrozenHours(Engine& engine) {
    return engine.Read([](const Views& views) { return views.tiers().frozen_hours; });
  }
  // A start on dir_ (two shards) that replays `replayed` records, and its sealed hour files installed:
  // null if it does not open.
  std::unique_ptr<Engine> StartAndInstallFiles(uint64_t replayed, SealedFilesReport* report) const {
    auto engine = Engine::Open(EngineOptions{dir_, 128ull << 20, 2});
    EXPECT_TRUE(engine.ok()) << engine.status().message();
    if (!engine.ok()) return nullptr;
    EXPECT_EQ((*engine)->start_report().replayed, replayed);
    *report = (*engine)->InstallSealedHourFiles();
    return std::move(*engine);
  }
  // A start on dir_ with nothing to replay that installs all `files` sealed hour files as the checkpoint
  // noted them, and answers `answers` and as a replay of the log does: null if it does not open.
  std::unique_ptr<Engine> StartWithEveryFileAsNoted(size_t files, const std::string& answers) const {
    SealedFilesReport report;
    auto engine = StartAndInstallFiles(0, &report);
    if (engine == nullptr) return nullptr;
    EXPECT_EQ(report.installed, files);
    EXPECT_EQ(report.as_noted, files);
    EXPECT_TRUE(report.dropped.empty());
    EXPECT_EQ(Answers(*engine), answers);
    EXPECT_EQ(engine->Digest().digest, ReplayLog(dir_, UINT64_MAX)->digest);
    return engine;
  }
  std::vector<std::string> Files() const {
    std::vector<std::string> names;
    if (fs::exists(dir_ + "/segments")) {
      for (const auto& entry : fs::directory_iterator(dir_ + "/segments"))
        names.push_back(entry.path().filename().string());
    }
    std::sort(names.begin(), names.end());
    return names;
  }
};

TEST_F(SealedHourFilesTest, SealedHoursAreWrittenAndMappedAgainAfterARestart) {
  std::string before;
  {
    auto engine = Engine::Open(EngineOptions{dir_, 128ull << 20, 2});
    ASSERT_TRUE(engine.ok()) << engine.status().message();
    CommitShopEvents(**engine, 0, 600);
    before = Answers(**engine);
    (*engine)->SealHours(0);
    EXPECT_EQ(SealedHours(**engine), 6u);  // 3 hours x 2 shards
    EXPECT_EQ(Answers(**engine), before);
  }
  EXPECT_EQ(Files().size(), 6u);
  auto engine = Engine::Open(EngineOptions{dir_, 128ull << 20, 2});
  ASSERT_TRUE(engine.ok());
  // Until the files are installed (the sealer's first step, after the start), the hours answer from rows.
  EXPECT_EQ(SealedHours(**engine), 0u);
  EXPECT_EQ(Answers(**engine), before);
  const SealedFilesReport report = (*engine)->InstallSealedHourFiles();
  EXPECT_EQ(report.files, 6u);
  EXPECT_EQ(report.installed, 6u);
  EXPECT_TRUE(report.dropped.empty());
  EXPECT_EQ(SealedHours(**engine), 6u);
  EXPECT_EQ(Answers(**engine), before);
}

// A checkpoint notes the seals it saw: a start installs their files without reading the hours' rows,
// except where the log after the checkpoint retracted a row of the hour.
TEST_F(SealedHourFilesTest, FilesTheCheckpointNotedAreInstalledUnlessTheLogAfterItRetractedARow) {
  CorrectTheFirstHourAndRestart(/*checkpoint=*/false);
}

// A checkpoint written before a start's files are installed (a stop right after the start) notes the
// seals the checkpoint it started from noted: the next start still installs the files without reading
// the hours' rows.
TEST_F(SealedHourFilesTest, ACheckpointBeforeTheFilesAreInstalledKeepsTheSealsNoted) {
  CorrectTheFirstHourAndRestart(/*checkpoint=*/true);
}

// A correction of a sealed event is masked from its hour's index, which stays (its file too); a checkpoint
// notes the mask with the seal, and a start from it installs every file as noted, masks included.
TEST_F(SealedHourFilesTest, CorrectionsOfSealedEventsAreMaskedAndTheMaskKeptByACheckpoint) {
  std::string before;
  {
    auto engine = Engine::Open(EngineOptions{dir_, 128ull << 20, 2});
    ASSERT_TRUE(engine.ok()) << engine.status().message();
    CommitShopEvents(**engine, 0, 600);
    (*engine)->SealHours(0);
    ASSERT_EQ(SealedHours(**engine), 6u);
    CommitCorrections(**engine, 30);  // (the first hour's events only)
    before = Answers(**engine);
    const size_t masked = (*engine)->Read([](const Views& views) {
      size_t rows = 0;
      for (uint32_t shard = 0; shard < views.shard_count(); ++shard) {
        for (const auto& [hour, data] : views.shard(shard).hours()) {
          EXPECT_TRUE(data.sealed()) << hour;
          rows += data.masked.size();
        }
      }
      return rows;
    });
    EXPECT_EQ(masked, 20u);
    ASSERT_TRUE((*engine)->Checkpoint().ok());
  }
  ASSERT_EQ(Files().size(), 6u);
  EXPECT_NE(StartWithEveryFileAsNoted(6, before), nullptr);
}

// Hours sealed after the last checkpoint, with no record since: the stop's checkpoint is written anyway, so
// that the next start takes every file as noted instead of checking each by its rows' digest. With nothing
// changed since, no checkpoint is written.
TEST_F(SealedHourFilesTest, AStopAfterSealsWithNoNewRecordWritesACheckpointThatNotesThem) {
  const auto newest_checkpoint_written = [&] {
    return fs::last_write_time(ListCheckpoints(dir_ + "/checkpoints").front().path);
  };
  std::string before;
  {
    auto engine = Engine::Open(EngineOptions{dir_, 128ull << 20, 2});
    ASSERT_TRUE(engine.ok()) << engine.status().message();
    CommitShopEvents(**engine, 0, 600);
    ASSERT_TRUE((*engine)->Checkpoint().ok());  // before the seals
    (*engine)->SealHours(0);
    ASSERT_TRUE((*engine)->Checkpoint().ok());  // no new record: the stop's
    before = Answers(**engine);
  }
  ASSERT_EQ(Files().size(), 6u);
  {
    SealedFilesReport report;
    const auto engine = StartAndInstallFiles(0, &report);
    ASSERT_NE(engine, nullptr);
    EXPECT_EQ(report.installed, 6u);
    EXPECT_EQ(report.as_noted, 6u);
    EXPECT_EQ(Answers(*engine), before);
    // Nothing new, and every file taken as noted: a stop writes nothing.
    const auto written = newest_checkpoint_written();
    engine->SealHours(0);
    ASSERT_TRUE(engine->Checkpoint().ok());
    EXPECT_EQ(newest_checkpoint_written(), written);
  }
}

// Questions by product or store wait for a start's sealed hour files (from the rows they took far longer):
// the engine says they are pending until they are installed, and not at all when a start found none.
TEST_F(SealedHourFilesTest, AStartsSealedHourFilesArePendingUntilInstalled) {
  CommitSealAndCheckpoint(600);
  auto engine = Engine::Open(EngineOptions{dir_, 128ull << 20, 2});
  ASSERT_TRUE(engine.ok());
  EXPECT_TRUE((*engine)->SealedHourFilesPending());
  EXPECT_EQ((*engine)->InstallSealedHourFiles().installed, 6u);
  EXPECT_FALSE((*engine)->SealedHourFilesPending());
  engine->reset();

  fs::remove_all(dir_ + "/segments");
  auto without_files = Engine::Open(EngineOptions{dir_, 128ull << 20, 2});
  ASSERT_TRUE(without_files.ok());
  EXPECT_FALSE((*without_files)->SealedHourFilesPending());
}

// The files are installed while events come in, late ones into their hours among them: every answer is
// the one the same events give without any file.
TEST_F(SealedHourFilesTest, FilesInstalledWhileEventsComeInChangeNoAnswer) {
  CommitSealAndCheckpoint(3000);
  const std::string without_files = dir_ + "-without-files";
  fs::remove_all(without_files);
  fs::copy(dir_, without_files, fs::copy_options::recursive);
  fs::remove_all(without_files + "/segments");
  auto engine = Engine::Open(EngineOptions{dir_, 128ull << 20, 2});
  ASSERT_TRUE(engine.ok());
  SealedFilesReport report;
  // (Into the same hours: late events for sealed ones, and corrections.)
  const auto more_events = [](Engine& into) {
    for (int batch = 0; batch < 6; ++batch) CommitShopEvents(into, 3000 + 100 * batch, 100);
    CommitCorrections(into, 70);
  };
  std::thread installer([&] { report = (*engine)->InstallSealedHourFiles(); });
  more_events(**engine);
  installer.join();
  EXPECT_EQ(report.files, 6u);
  EXPECT_EQ(report.installed + report.dropped.size(), 6u);
  const std::string answers = Answers(**engine);
  const uint64_t digest = (*engine)->Digest().digest;
  engine->reset();

  auto reference = Engine::Open(EngineOptions{without_files, 128ull << 20, 2});
  ASSERT_TRUE(reference.ok());
  more_events(**reference);
  EXPECT_EQ(Answers(**reference), answers);
  EXPECT_EQ((*reference)->Digest().digest, digest);
  reference->reset();
  fs::remove_all(without_files);
}

// A top list takes the views' locks only to take what it needs and to name its keys: computed while
// events, corrections and sealing passes go on (seals replaced meanwhile), each list is the one of a state
// between two commits, and the last one is the engine's answer once they are over. The lists are of the
// whole day, so the day's sums are kept between them (shared by two threads asking at once) and must be
// summed again whenever a seal of the day is replaced.
TEST_F(SealedHourFilesTest, TopListsComputedBetweenReadsWhileTheViewsChangeAnswerAsOfTheirFirstRead) {
  auto engine = Engine::Open(EngineOptions{dir_, 128ull << 20, 2});
  ASSERT_TRUE(engine.ok());
  CommitShopEvents(**engine, 0, 600);
  (*engine)->SealHours(0);
  const Millis day = kBase - kBase % (24 * kMillisPerHour);
  const TopRequest request{TopDimension::kProduct, day, day + 24 * kMillisPerHour, std::nullopt, 100};
  DayCounts day_counts;
  auto ask = [&] {
    return ComputeTopBetweenReads(
        [&](const std::function<void(const Views&)>& step) {
          (*engine)->Read([&](const Views& views) { step(views); });
        },
        request, &day_counts);
  };
  std::atomic<bool> done{false};
  std::atomic<bool> asking_began{false};
  std::thread writer([&] {
    while (!asking_began.load()) std::this_thread::yield();  // (the lists are asked while this writes)
    for (int batch = 0; batch < 30; ++batch) {
      CommitShopEvents(**engine, 600 + 100 * batch, 100);  // late events into the sealed hours
      if (batch == 10) CommitCorrections(**engine, 7);     // masked from the seals, products moved
      if (batch % 5 == 4) (*engine)->SealHours(0);         // the hours sealed again
    }
    done = true;
  });
  std::atomic<int> asked{0};
  auto asking = [&] {
    asking_began = true;
    uint64_t last_total = 0;
    while (!done.load() || asked.load() < 20) {
      uint64_t total = 0;
      for (const TopEntry& entry : ask()) total += entry.events;
      // Every event has a product; corrections move events between products, new ones add 100 a batch.
      EXPECT_EQ(total % 100, 0u) << total;
      EXPECT_GE(total, last_total);
      last_total = total;
      ++asked;
    }
  };
  std::thread other_asking(asking);
  asking();
  other_asking.join();
  writer.join();
  EXPECT_GT(day_counts.days(), 0u);
  std::vector<TopEntry> expected =
      (*engine)->Read([&](const Views& views) { return ComputeTop(views, request); });
  std::vector<TopEntry> actual = ask();
  uint64_t total = 0;
  ASSERT_EQ(actual.size(), expected.size());
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(actual[i].key, expected[i].key);
    EXPECT_EQ(actual[i].events, expected[i].events) << actual[i].key;
    EXPECT_EQ(actual[i].unique_users, expected[i].unique_users) << actual[i].key;
    total += actual[i].events;
  }
  EXPECT_EQ(total, 3600u);
  EXPECT_GE(asked.load(), 20);
}

TEST_F(SealedHourFilesTest, FilesThatNoLongerFitAreDeletedAndTheHoursAnsweredFromRows) {
  std::string before;
  {
    auto engine = Engine::Open(EngineOptions{dir_, 128ull << 20, 2});
    ASSERT_TRUE(engine.ok());
    CommitShopEvents(**engine, 0, 600);
    (*engine)->SealHours(0);
    // Corrections in the sealed hours after the files were written: the files describe older rows.
    CommitCorrections(**engine, 50);
    before = Answers(**engine);
  }
  // One more file is damaged; one is for another number of shards.
  const std::vector<std::string> files = Files();
  ASSERT_EQ(files.size(), 6u);
  {
    std::fstream damage(dir_ + "/segments/" + files[0], std::ios::in | std::ios::out | std::ios::binary);
    damage.seekp(70);
    damage.put('\x7f');
  }
  fs::copy_file(dir_ + "/segments/" + files[1], dir_ + "/segments/s0of5-h1.seg");
  auto engine = Engine::Open(EngineOptions{dir_, 128ull << 20, 2});
  ASSERT_TRUE(engine.ok());
  const SealedFilesReport report = (*engine)->InstallSealedHourFiles();
  EXPECT_EQ(report.installed, 0u);  // every hour of both shards had a correction
  EXPECT_EQ(report.dropped.size(), 7u);
  EXPECT_TRUE(Files().empty());
  EXPECT_EQ(SealedHours(**engine), 0u);
  EXPECT_EQ(Answers(**engine), before);
  (*engine)->SealHours(0);
  EXPECT_EQ(Files().size(), 6u);
  EXPECT_EQ(Answers(**engine), before);
}

// A sealed hour's events are read from its file, not the log. A damaged block is read around from the log,
// and the next pass seals the hour again; its new file is the one first written (the same rows, the same
// bytes). Once the log's copy of every record is damaged, the files still answer every version of an event
// (current, superseded, or a re-sent copy, counted nowhere but kept in its hour's rows) and every user's
// timeline.
TEST_F(SealedHourFilesTest, EventsOfSealedHoursAreReadFromTheirFiles) {
  auto engine = Engine::Open(EngineOptions{dir_, 128ull << 20, 2});
  ASSERT_TRUE(engine.ok());
  CommitShopEvents(**engine, 0, 600);
  CommitCorrections(**engine, 50);  // ids with two versions; a duplicate too
  IngestBatch again;
  Event resent = Make("click", "u3", kBase + 1);
  resent.event_id = "e3";
  again.Add(std::move(resent));
  ASSERT_TRUE((*engine)->Commit(again).ok());
  auto lookups = [&] {
    std::string out;
    for (const std::string id : {"e0", "e3", "e50", "e599"}) {
      auto versions = EventVersions(**engine, id);
      if (!versions.ok()) return "error: " + versions.status().message();
      for (const EventVersion& version : *versions)
        out += version.event.event_id + "/" + std::to_string(version.event.version) + "/" +
               version.event.product_id + "/" + RowStateName(version.state) + " ";
    }
    for (int user = 0; user < 23; ++user) {
      auto page = UserTimeline(**engine, TimelineRequest{"u" + std::to_string(user), 1000});
      if (!page.ok()) return "error: " + page.status().message();
      for (const Event& event : page->events)
        out += event.event_id + "@" + std::to_string(event.timestamp) + " ";
    }
    return out;
  };
  const std::string expected = lookups();
  ASSERT_EQ(expected.find("error"), std::string::npos) << expected;
  (*engine)->SealHours(0);
  ASSERT_EQ(SealedHours(**engine), 6u);
  const std::vector<std::string> files = Files();
  ASSERT_EQ(files.size(), 6u);
  std::vector<std::string> written;
  for (const std::string& file : files) {
    const std::string path = dir_ + "/segments/" + file;
    std::ifstream in(path, std::ios::binary);
    written.emplace_back(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    // A byte near the end, in the last block of the hour's events.
    std::fstream damage(path, std::ios::in | std::ios::out | std::ios::binary);
    damage.seekp(static_cast<std::streamoff>(written.back().size()) - 40);
    damage.put(static_cast<char>(written.back()[written.back().size() - 40] ^ 0x21));
  }
  EXPECT_EQ(lookups(), expected);  // from the log
  (*engine)->SealHours(0);
  EXPECT_EQ(SealedHours(**engine), 6u);
  for (size_t i = 0; i < files.size(); ++i) {
    std::ifstream in(dir_ + "/segments/" + files[i], std::ios::binary);
    EXPECT_EQ(std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()), written[i])
        << files[i];
  }
  auto log_segments = SegmentLog::ListSegments(dir_ + "/log");
  ASSERT_TRUE(log_segments.ok());
  for (const std::string& name : *log_segments) {
    const std::string segment = dir_ + "/log/" + name;
    const auto size = fs::file_size(segment);
    std::fstream damage(segment, std::ios::in | std::ios::out | std::ios::binary);
    damage.seekp(SegmentLog::kSegmentHeaderBytes);
    damage << std::string(size - SegmentLog::kSegmentHeaderBytes, '\x5a');
  }
  EXPECT_EQ(lookups(), expected);
}

// With nothing kept hot, a sealing pass moves every whole chunk of rows, ids and row lists to the cold
// chunk file; corrections and re-sends of those events then write to moved pages. Nothing changes.
// Sealed again after late events, an hour's file takes the events its earlier seal holds from that file
// (EventBlocksWriter::AddRecordsOf), and is the file sealing from the log alone writes, byte for byte.
TEST_F(SealedHourFilesTest, AnHourSealedAgainAfterLateEventsWritesTheFileTheLogAloneWould) {
  auto contents = [&] {
    std::vector<std::string> read;
    for (const std::string& file : Files()) {
      std::ifstream in(dir_ + "/segments/" + file, std::ios::binary);
      read.emplace_back(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    }
    return read;
  };
  std::vector<std::string> resealed;
  std::string answers;
  {
    auto engine = Engine::Open(EngineOptions{dir_, 128ull << 20, 2});
    ASSERT_TRUE(engine.ok());
    CommitShopEvents(**engine, 0, 3000);  // 500 events in each (shard, hour): several blocks
    (*engine)->SealHours(0);
    ASSERT_EQ(SealedHours(**engine), 6u);
    const std::vector<std::string> first = contents();
    CommitShopEvents(**engine, 3000, 60);  // a few late events into every sealed hour
    (*engine)->SealHours(0);               // (no quiet asked for: merged with the hour's part at once)
    ASSERT_EQ(SealedHours(**engine), 6u);
    resealed = contents();
    ASSERT_EQ(resealed.size(), first.size());
    for (size_t i = 0; i < first.size(); ++i) EXPECT_GT(resealed[i].size(), first[i].size()) << i;
    answers = Answers(**engine);
  }
  fs::remove_all(dir_ + "/segments");
  auto engine = Engine::Open(EngineOptions{dir_, 128ull << 20, 2});
  ASSERT_TRUE(engine.ok());
  (*engine)->SealHours(0);  // every hour sealed from its rows and the log
  ASSERT_EQ(SealedHours(**engine), 6u);
  EXPECT_EQ(contents(), resealed);
  EXPECT_EQ(Answers(**engine), answers);
}

// Late events into sealed hours are sealed as a part of each hour of their own, in a file named by its first
// row; a start installs an hour's parts in order (as the checkpoint noted them). A part that a merge
// replaced but a crash left behind (between the merged file's rename and the part's deletion) does not
// follow the parts installed before it: it is dropped.
TEST_F(SealedHourFilesTest, LateEventsBecomePartFilesThatAStartInstallsInOrder) {
  auto parts = [](Engine& engine) {
    return engine.Read([](const Views& views) { return views.tiers().sealed_parts; });
  };
  std::string before;
  std::string left_behind_name, left_behind;
  {
    auto engine = Engine::Open(EngineOptions{dir_, 128ull << 20, 2});
    ASSERT_TRUE(engine.ok());
    CommitShopEvents(**engine, 0, 600);
    (*engine)->SealHours(0);
    ASSERT_EQ(Files().size(), 6u);
    CommitShopEvents(**engine, 3000, 90);
    (*engine)->SealHours(0);
    const std::vector<std::string> files = Files();
    ASSERT_EQ(files.size(), 12u);
    EXPECT_EQ(std::count_if(files.begin(), files.end(),
                            [](const std::string& name) { return name.find("-r") != std::string::npos; }),
              6);
    EXPECT_EQ(SealedHours(**engine), 6u);
    EXPECT_EQ(parts(**engine), 12u);
    before = Answers(**engine);
    left_behind_name = *std::find_if(files.begin(), files.end(), [](const std::string& name) {
      return name.find("-r") != std::string::npos;
    });
    std::ifstream in(dir_ + "/segments/" + left_behind_name, std::ios::binary);
    left_behind.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    ASSERT_TRUE((*engine)->Checkpoint().ok());
  }
  {
    const auto engine = StartWithEveryFileAsNoted(12, before);
    ASSERT_NE(engine, nullptr);
    EXPECT_EQ(parts(*engine), 12u);
    engine->SealHours(0);  // (no quiet asked for: merged at once)
    EXPECT_EQ(parts(*engine), 6u);
    EXPECT_EQ(Files().size(), 6u);
    EXPECT_EQ(Answers(*engine), before);
    ASSERT_TRUE(engine->Checkpoint().ok());
  }
  std::ofstream(dir_ + "/segments/" + left_behind_name, std::ios::binary) << left_behind;
  SealedFilesReport report;
  const auto engine = StartAndInstallFiles(0, &report);
  ASSERT_NE(engine, nullptr);
  EXPECT_EQ(report.installed, 6u);
  EXPECT_EQ(report.as_noted, 6u);
  ASSERT_EQ(report.dropped.size(), 1u);
  EXPECT_NE(report.dropped[0].find(left_behind_name), std::string::npos) << report.dropped[0];
  EXPECT_EQ(Files().size(), 6u);
  EXPECT_EQ(parts(*engine), 6u);
  EXPECT_EQ(Answers(*engine), before);
}

TEST_F(SealedHourFilesTest, ViewsMovedToTheColdFileAnswerTheSameAsAReplay) {
  EngineOptions options{dir_, 128ull << 20, 2};
  options.hot_ids = 0;
  uint64_t digest = 0;
  {
    auto engine = Engine::Open(options);
    ASSERT_TRUE(engine.ok()) << engine.status().message();
    CommitShopEvents(**engine, 0, 20'000);
    const std::string before = Answers(**engine);
    (*engine)->SealHours(0);
    EXPECT_GT((*engine)->cold_bytes(), 20'000u * sizeof(EventRow) / 2);
    EXPECT_EQ(Answers(**engine), before);
    IngestBatch again;
    for (int i = 0; i < 20'000; i += 97) {
      Event event = Make("click", absl::StrCat("u", i % 29), kBase + (i % 3) * kMillisPerHour + 9);
      event.event_id = absl::StrCat("e", i);
      event.version = i % 2 == 0 ? 2 : 1;  // a correction (to another user, often) or a duplicate
      event.product_id = "p-new";
      again.Add(std::move(event));
    }
    ASSERT_TRUE((*engine)->Commit(again).ok());
    (*engine)->SealHours(0);
    CommitShopEvents(**engine, 20'000, 5'000);
    (*engine)->SealHours(0);
    digest = (*engine)->Digest().digest;
    EXPECT_EQ(ReplayLog(dir_, UINT64_MAX, 2)->digest, digest);
    EXPECT_NE(Answers(**engine), before);
  }
  auto engine = Engine::Open(options);
  ASSERT_TRUE(engine.ok());
  EXPECT_EQ((*engine)->Digest().digest, digest);
}

// With a hash set of 1 000 ids, 40 000 ids make dozens of runs. Once the sealing passes run, ingest merges
// none of them; each pass merges them (off the order lock), checkpoints are taken between passes, and
// every id stays known: re-sent events are duplicates, before and after a restart, and the answers are
// the log's.
TEST_F(SealedHourFilesTest, IdRunsMergedByTheSealingPassesKeepEveryIdKnown) {
  EngineOptions options{dir_, 128ull << 20, 2};
  options.hot_id_set = 1'000;
  auto engine = Engine::Open(options);
  ASSERT_TRUE(engine.ok()) << engine.status().message();
  auto run_sizes = [&] {
    return (*engine)->Read([](const Views& views) { return views.global().ids().runs().run_sizes(); });
  };
  (*engine)->SealHours(0);
  for (int first = 0; first < 40'000; first += 4'000) {
    const size_t runs_before = run_sizes().size();
    CommitShopEvents(**engine, first, 4'000);
    EXPECT_EQ(run_sizes().size(), runs_before + 4);  // four runs of 1 000, none merged by ingest
    (*engine)->SealHours(0);
    const std::vector<size_t> sizes = run_sizes();
    size_t in_runs = 0;
    for (size_t i = 0; i < sizes.size(); ++i) {
      if (i + 1 < sizes.size()) {
        EXPECT_GT(sizes[i], 2 * sizes[i + 1]) << "run " << i << " of " << sizes.size();
      }
      in_runs += sizes[i];
    }
    EXPECT_EQ(in_runs, static_cast<size_t>(first + 4'000));  // every id: the hash set moves each 1 000
    if (first % 12'000 == 0) {
      ASSERT_TRUE((*engine)->Checkpoint().ok());
    }
  }
  const std::string before = Answers(**engine);
  const uint64_t rows = (*engine)->Read([](const Views& views) { return views.rows(); });
  CommitShopEvents(**engine, 0, 40'000);  // sent again: duplicates, counted nowhere
  EXPECT_EQ(Answers(**engine), before);
  EXPECT_EQ((*engine)->Read([](const Views& views) { return views.rows(); }), rows + 40'000);
  const uint64_t digest = (*engine)->Digest().digest;
  EXPECT_EQ(ReplayLog(dir_, UINT64_MAX, 2)->digest, digest);
  engine->reset();
  engine = Engine::Open(options);
  ASSERT_TRUE(engine.ok()) << engine.status().message();
  EXPECT_EQ((*engine)->Digest().digest, digest);
  int unknown = 0;
  for (int i = 0; i < 40'000; i += 397) {
    auto versions = EventVersions(**engine, "e" + std::to_string(i));
    unknown += versions.ok() && versions->size() == 2 ? 0 : 1;  // the event and its copy sent again
  }
  EXPECT_EQ(unknown, 0);
  CommitShopEvents(**engine, 20'000, 20'000);
  EXPECT_EQ(Answers(**engine), before);
}

// More than the event-id index's hash set holds: the older ids go to the runs.
constexpr int kIdsForAnotherProcess = static_cast<int>(EventIdIndex::kDefaultHotIds) + 20'000;

// Runs SealedHourFilesTest.DISABLED_<name> of this binary in a process of its own, with `environment` set
// (what it needs to know), and returns that process's id.
pid_t StartDisabledTest(const std::string& name,
                        const std::vector<std::pair<std::string, std::string>>& environment) {
  const std::string filter = "--gtest_filter=SealedHourFilesTest.DISABLED_" + name;
  const pid_t child = ::fork();
  if (child == 0) {
    for (const auto& [variable, value] : environment) ::setenv(variable.c_str(), value.c_str(), 1);
    ::execl("/proc/self/exe", "engine_test", filter.c_str(), "--gtest_also_run_disabled_tests",
            static_cast<char*>(nullptr));
    ::_exit(127);
  }
  return child;
}

// Run only by EveryIdIsKnownAfterARestartInAnotherProcess, in a process of its own: events with ids into
// the data directory $TALLY_TEST_DATA_DIR, most of their ids moved to the runs and the cold file, and a
// checkpoint.
TEST_F(SealedHourFilesTest, DISABLED_WriteIdsForAnotherProcess) {
  const char* data = std::getenv("TALLY_TEST_DATA_DIR");
  ASSERT_NE(data, nullptr);
  EngineOptions options{data, 128ull << 20, 2};
  options.hot_ids = 1'000;
  auto engine = Engine::Open(options);
  ASSERT_TRUE(engine.ok()) << engine.status().message();
  for (int first = 0; first < kIdsForAnotherProcess; first += 100'000)
    CommitShopEvents(**engine, first, std::min(100'000, kIdsForAnotherProcess - first));
  (*engine)->SealHours(0);
  ASSERT_TRUE((*engine)->Checkpoint().ok());
}

// The event ids' fingerprints are saved: a start in another process must find every id, the older ones in
// the runs too, so that a re-sent event is a duplicate and its versions are found. (With a hash salted per
// process, every id in the runs was unknown after a restart, and a re-sent event counted twice.)
TEST_F(SealedHourFilesTest, EveryIdIsKnownAfterARestartInAnotherProcess) {
  const pid_t writer = StartDisabledTest("WriteIdsForAnotherProcess", {{"TALLY_TEST_DATA_DIR", dir_}});
  int status = 0;
  ASSERT_EQ(::waitpid(writer, &status, 0), writer);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  EngineOptions options{dir_, 128ull << 20, 2};
  options.hot_ids = 1'000;
  auto engine = Engine::Open(options);
  ASSERT_TRUE(engine.ok()) << engine.status().message();
  ASSERT_EQ((*engine)->start_report().replayed, 0u);  // from the other process's checkpoint
  int unknown = 0;
  for (int i = 0; i < kIdsForAnotherProcess; i += 997) {
    auto versions = EventVersions(**engine, "e" + std::to_string(i));
    unknown += versions.ok() && versions->size() == 1 ? 0 : 1;
  }
  EXPECT_EQ(unknown, 0);
  const uint64_t rows = (*engine)->Read([](const Views& views) { return views.rows(); });
  const std::string before = Answers(**engine);
  CommitShopEvents(**engine, 0, 30'000);  // sent again (all in the runs): duplicates, rows that count nowhere
  EXPECT_EQ((*engine)->Read([](const Views& views) { return views.rows(); }), rows + 30'000);
  EXPECT_EQ(Answers(**engine), before);
  EXPECT_EQ((*engine)->Digest().digest, ReplayLog(dir_, UINT64_MAX, 2)->digest);
}

// The events of batch `batch` of the kill -9 test below, 200 of them over five hours: 160 new ids (those
// whose number does not end in 5 or 9), 20 re-sends of earlier new ids as they were (duplicates) and 20
// later versions of earlier new ids (corrections; one the same batch already corrected is a duplicate).
constexpr int kEventsPerKilledBatch = 200;
constexpr int kNewIdsPerKilledBatch = 160;
IngestBatch KilledBatch(int batch) {
  IngestBatch events;
  for (int i = 0; i < kEventsPerKilledBatch; ++i) {
    const int n = batch * kEventsPerKilledBatch + i;
    int id = n;
    uint32_t version = 1;
    if (n % 10 == 9) id = n / 3 - n / 3 % 10;
    if (n % 10 == 5) id = n / 2 - n / 2 % 10, version = 2 + batch;
    Event event = Make(n % 4 ? "click" : "impression", "u" + std::to_string(n % 97),
                       1793527200000 + (id % 5) * kMillisPerHour + id % 1000);
    event.event_id = "k" + std::to_string(id);
    event.version = version;
    event.product_id = "p" + std::to_string((n + version) % 300);
    event.store_id = "s" + std::to_string(n % 20);
    events.Add(std::move(event));
  }
  return events;
}
EngineOptions KilledEngineOptions(const std::string& data) {
  EngineOptions options{data, 1ull << 20, 2};
  options.hot_ids = 1'000;
  options.hot_id_set = 1'000;  // the id runs merge every 1 000 new ids
  return options;
}

// Run only by KillNineWhileSealingAndMergingLosesNothingAcknowledged, in a process of its own: batches from
// $TALLY_TEST_FIRST_BATCH on into $TALLY_TEST_DATA_DIR, each batch's number written to the file descriptor
// $TALLY_TEST_ACK_FD once its commit returned (acknowledged), a checkpoint after every 25th; meanwhile
// another thread runs sealing passes back to back (hours sealed and their files written, rows and ids
// moved to the cold chunk file, the id runs merged beside the commits), until the process is killed.
TEST_F(SealedHourFilesTest, DISABLED_CommitAndSealUntilKilled) {
  const char* data = std::getenv("TALLY_TEST_DATA_DIR");
  const char* first = std::getenv("TALLY_TEST_FIRST_BATCH");
  const char* ack_fd = std::getenv("TALLY_TEST_ACK_FD");
  ASSERT_TRUE(data != nullptr && first != nullptr && ack_fd != nullptr);
  auto engine = Engine::Open(KilledEngineOptions(data));
  ASSERT_TRUE(engine.ok()) << engine.status().message();
  std::atomic<bool> stop{false};
  std::thread sealer([&] {
    while (!stop.load()) (*engine)->SealHours(0, 0, &stop);
  });
  for (int batch = std::atoi(first); batch < std::atoi(first) + 20'000; ++batch) {
    ASSERT_TRUE((*engine)->Commit(KilledBatch(batch)).ok());
    ASSERT_EQ(::write(std::atoi(ack_fd), &batch, sizeof batch), static_cast<ssize_t>(sizeof batch));
    if (batch % 25 == 24) {
      ASSERT_TRUE((*engine)->Checkpoint().ok());
    }
  }
  stop = true;
  sealer.join();
}

// kill -9 at a random moment of commits, sealing passes, id-run merges and checkpoints, three times over
// the same data directory: after each, a start knows every acknowledged event, counts each once (the
// batch in flight at the kill may be in the log or not; the next round sends it again), equals a replay of
// its log, and takes a re-send of the last acknowledged batch as duplicates that change no answer.
TEST_F(SealedHourFilesTest, KillNineWhileSealingAndMergingLosesNothingAcknowledged) {
  std::mt19937 random(std::random_device{}());
  int next_batch = 0;
  for (int round = 0; round < 3; ++round) {
    int acks[2];
    ASSERT_EQ(::pipe(acks), 0);
    const pid_t writer =
        StartDisabledTest("CommitAndSealUntilKilled", {{"TALLY_TEST_DATA_DIR", dir_},
                                                       {"TALLY_TEST_FIRST_BATCH", std::to_string(next_batch)},
                                                       {"TALLY_TEST_ACK_FD", std::to_string(acks[1])}});
    ::close(acks[1]);
    int batch = 0;
    // The first acknowledgement (the start may take a while under a sanitizer), then a random moment.
    ASSERT_EQ(::read(acks[0], &batch, sizeof batch), static_cast<ssize_t>(sizeof batch));
    int last_acked = batch;
    const int delay_ms = std::uniform_int_distribution<int>(200, 1500)(random);
    std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
    ::kill(writer, SIGKILL);
    int status = 0;
    ASSERT_EQ(::waitpid(writer, &status, 0), writer);
    ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
        << "the writer ended before the kill: " << status;
    while (::read(acks[0], &batch, sizeof batch) == static_cast<ssize_t>(sizeof batch)) last_acked = batch;
    ::close(acks[0]);
    SCOPED_TRACE("round " + std::to_string(round) + ": killed after " + std::to_string(delay_ms) +
                 " ms, batches acknowledged up to " + std::to_string(last_acked));

    auto engine = Engine::Open(KilledEngineOptions(dir_));
    ASSERT_TRUE(engine.ok()) << engine.status().message();
    uint64_t counted = 0;
    for (int hour = 0; hour < 5; ++hour) {
      const TakeHomeCounts counts = (*engine)->TakeHomeHour(HourOf(1793527200000) + hour);
      counted += counts.clicks + counts.impressions;
    }
    const auto acknowledged = static_cast<uint64_t>(last_acked + 1) * kNewIdsPerKilledBatch;
    EXPECT_TRUE(counted == acknowledged || counted == acknowledged + kNewIdsPerKilledBatch)
        << counted << " events counted, " << acknowledged << " acknowledged";
    int unknown = 0;
    for (int n = 0; n < (last_acked + 1) * kEventsPerKilledBatch; n += 37) {
      if (n % 10 == 5 || n % 10 == 9) continue;
      auto versions = EventVersions(**engine, "k" + std::to_string(n));
      unknown += versions.ok() && !versions->empty() ? 0 : 1;
    }
    EXPECT_EQ(unknown, 0);
    EXPECT_EQ((*engine)->Digest().digest, ReplayLog(dir_, UINT64_MAX, 2)->digest);
    const std::string before = Answers(**engine);
    ASSERT_TRUE((*engine)->Commit(KilledBatch(last_acked)).ok());
    EXPECT_EQ(Answers(**engine), before);
    next_batch = last_acked + 1;  // the batch that may have been in flight is sent (again)
  }
}

// A checkpoint refers to the chunks in the cold chunk file instead of copying them, and a restart adopts
// them where they are: the same answers as a replay, with corrections written to moved chunks after they
// moved, after places were given back and used again, and after the file was damaged (a full replay).
TEST_F(SealedHourFilesTest, CheckpointsReferToTheColdFilesChunksAndARestartAdoptsThem) {
  EngineOptions options{dir_, 128ull << 20, 2};
  options.hot_ids = 0;
  const auto checkpoint_bytes = [&] {
    return fs::file_size(ListCheckpoints(dir_ + "/checkpoints").front().path);
  };
  uint64_t digest = 0;
  {
    auto engine = Engine::Open(options);
    ASSERT_TRUE(engine.ok()) << engine.status().message();
    CommitShopEvents(**engine, 0, 40'000);
    (*engine)->SealHours(0);
    EXPECT_GT(FrozenHours(**engine), 0u);
    const uint64_t cold = (*engine)->cold_bytes();
    EXPECT_GT(cold, 40'000u * sizeof(EventRow) / 2);
    ASSERT_TRUE((*engine)->Checkpoint().ok());
    EXPECT_LT(checkpoint_bytes(), cold / 2);
    // Corrections and duplicates of events whose rows and ids are in the file now: the chunks they write
    // to are saved whole by the next checkpoint.
    IngestBatch again;
    for (int i = 0; i < 40'000; i += 9'973) {
      Event event = Make("click", absl::StrCat("u", i % 29), kBase + (i % 3) * kMillisPerHour + 9);
      event.event_id = absl::StrCat("e", i);
      event.version = i % 2 == 0 ? 2 : 1;
      event.product_id = "p-new";
      again.Add(std::move(event));
    }
    ASSERT_TRUE((*engine)->Commit(again).ok());
    ASSERT_TRUE((*engine)->Checkpoint().ok());
    digest = (*engine)->Digest().digest;
  }
  {
    auto engine = Engine::Open(options);
    ASSERT_TRUE(engine.ok()) << engine.status().message();
    const StartReport& start = (*engine)->start_report();
    EXPECT_TRUE(start.checkpoints_skipped.empty());
    EXPECT_EQ(start.replayed, 0u);
    EXPECT_GT(start.cold_chunk_bytes_adopted, 40'000u * sizeof(EventRow) / 2);
    EXPECT_GT(FrozenHours(**engine), 0u);  // user sets read where the checkpoint found them
    EXPECT_EQ((*engine)->Digest().digest, digest);
    // More chunks move, the corrected ones again, places are given back and used again.
    for (int round = 0; round < 3; ++round) {
      CommitShopEvents(**engine, 40'000 + round * 10'000, 10'000);
      CommitCorrections(**engine, 7 + round);
      (*engine)->SealHours(0);
      ASSERT_TRUE((*engine)->Checkpoint().ok());
    }
    digest = (*engine)->Digest().digest;
    EXPECT_EQ(ReplayLog(dir_, UINT64_MAX, 2)->digest, digest);
  }
  {
    auto engine = Engine::Open(options);
    ASSERT_TRUE(engine.ok()) << engine.status().message();
    EXPECT_TRUE((*engine)->start_report().checkpoints_skipped.empty());
    EXPECT_EQ((*engine)->start_report().replayed, 0u);
    EXPECT_EQ((*engine)->Digest().digest, digest);
  }
  // Damaged chunks (a byte of every page changed): neither checkpoint loads, and the log rebuilds the views.
  {
    const std::string cold = dir_ + "/checkpoints/" + ColdChunkFile::kChunksName;
    const auto size = fs::file_size(cold);
    std::fstream file(cold, std::ios::in | std::ios::out | std::ios::binary);
    for (uint64_t page = 0; page < size; page += 4096) {
      file.seekp(static_cast<std::streamoff>(page + 5));
      file.write("\x7f", 1);
    }
  }
  auto engine = Engine::Open(options);
  ASSERT_TRUE(engine.ok()) << engine.status().message();
  EXPECT_EQ((*engine)->start_report().checkpoints_skipped.size(), 2u);
  EXPECT_EQ((*engine)->start_report().checkpoint_lsn, 0u);
  EXPECT_EQ((*engine)->Digest().digest, digest);
}

// A row changed in the cold chunk file where its indexes still fit (its version) is found by its chunk's
// checksum alone, and the checkpoint that refers to the chunk is not used.
TEST_F(SealedHourFilesTest, ARowChangedInTheColdFileMakesItsCheckpointUnusable) {
  EngineOptions options{dir_, 128ull << 20, 2};
  options.hot_ids = 0;
  uint64_t digest = 0;
  uint64_t row_chunk_offset = UINT64_MAX;
  {
    auto engine = Engine::Open(options);
    ASSERT_TRUE(engine.ok()) << engine.status().message();
    CommitShopEvents(**engine, 0, 20'000);
    (*engine)->SealHours(0);
    ASSERT_TRUE((*engine)->Checkpoint().ok());
    row_chunk_offset = (*engine)->Read([](const Views& views) {
      const ColdChunkFile* cold = nullptr;
      const auto& rows = views.shard(1).hours().begin()->second.rows;
      const EventRow* chunk = rows.UnchangedColdChunk(0, &cold);
      if (chunk == nullptr) return UINT64_MAX;
      const auto place = cold->PlaceOf(chunk, rows.kChunkBytes);
      return place ? place->offset : UINT64_MAX;
    });
    digest = (*engine)->Digest().digest;
  }
  ASSERT_NE(row_chunk_offset, UINT64_MAX) << "shard 1's first hour's rows are not in the cold file";
  {
    auto engine = Engine::Open(options);  // as it was: the chunk is adopted and checked
    ASSERT_TRUE(engine.ok()) << engine.status().message();
    EXPECT_TRUE((*engine)->start_report().checkpoints_skipped.empty());
    EXPECT_EQ((*engine)->start_report().replayed, 0u);
  }
  {
    // The third row's version: a field no index check reads.
    const std::string cold = dir_ + "/checkpoints/" + ColdChunkFile::kChunksName;
    std::fstream file(cold, std::ios::in | std::ios::out | std::ios::binary);
    file.seekp(
        static_cast<std::streamoff>(row_chunk_offset + 2 * sizeof(EventRow) + offsetof(EventRow, version)));
    file.write("\x7f", 1);
  }
  auto engine = Engine::Open(options);
  ASSERT_TRUE(engine.ok()) << engine.status().message();
  const StartReport& start = (*engine)->start_report();
  ASSERT_EQ(start.checkpoints_skipped.size(), 1u);
  EXPECT_NE(start.checkpoints_skipped.front().find("does not match its checksum"), std::string::npos)
      << start.checkpoints_skipped.front();
  EXPECT_EQ(start.checkpoint_lsn, 0u);
  EXPECT_EQ((*engine)->Digest().digest, digest);
}

// kill -9 of a server process at random moments while chunks move to the cold file, corrections write to
// moved chunks, places are given back and used again and checkpoints refer to them: every start after loads
// the newest checkpoint and answers as a replay of the log does.
TEST_F(SealedHourFilesTest, KillNineWhileChunksMoveAndCheckpointsReferToThemChangesNoAnswer) {
  EngineOptions options{dir_, 128ull << 20, 2};
  options.hot_ids = 0;
  std::mt19937 random(11);
  for (int round = 0; round < 6; ++round) {
    const pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      auto engine = Engine::Open(options);
      if (!engine.ok()) ::_exit(1);
      for (int batch = 0;; ++batch) {
        CommitShopEvents(**engine, (round * 1000 + batch) * 2000, 2000);
        if (batch % 2 == 1) CommitCorrections(**engine, 3 + batch % 5);
        (*engine)->SealHours(0);
        if (batch % 3 == 2) (void)(*engine)->Checkpoint();
      }
    }
    // At a random moment once a checkpoint is there to refer to the cold file (the first round's child
    // writes one after its third batch: under ThreadSanitizer, with another test on the other core, that
    // took longer than the whole of a round's time, and no start had a chunk to adopt).
    const auto checkpoint_written = [&] {
      if (!fs::exists(dir_ + "/checkpoints")) return false;
      for (const auto& entry : fs::directory_iterator(dir_ + "/checkpoints")) {
        const std::string name = entry.path().filename().string();
        if (name.starts_with("views-") && name.ends_with(".snap")) return true;
      }
      return false;
    };
    for (int waited = 0; waited < 12'000 && !checkpoint_written(); ++waited)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    std::this_thread::sleep_for(std::chrono::milliseconds(150 + random() % 600));
    ::kill(child, SIGKILL);
    int status = 0;
    ASSERT_EQ(::waitpid(child, &status, 0), child);
    ASSERT_TRUE(WIFSIGNALED(status)) << "the server process ended by itself in round " << round;
    auto engine = Engine::Open(options);
    ASSERT_TRUE(engine.ok()) << engine.status().message();
    const StartReport& start = (*engine)->start_report();
    EXPECT_TRUE(start.checkpoints_skipped.empty()) << round << ": " << start.checkpoints_skipped.front();
    EXPECT_GT(start.cold_chunk_bytes_adopted, 0u) << round;
    EXPECT_EQ((*engine)->Digest().digest, ReplayLog(dir_, UINT64_MAX, 2)->digest) << round;
  }
}

TEST_F(SealedHourFilesTest, RetentionDropsOldHoursTheirFilesAndTheLogSegmentsThatHoldNothingNewer) {
  const int64_t first_hour = HourOf(kBase);
  const int64_t first_kept_hour = first_hour + 4;
  auto commit_later = [](Engine& engine, int first, int count) {
    IngestBatch batch;
    for (int i = first; i < first + count; ++i) {
      Event event = Make("click", "u" + std::to_string(i % 23), kBase + 5 * kMillisPerHour + i);
      event.event_id = "late" + std::to_string(i % 100);  // re-sent: duplicates
      event.product_id = "p" + std::to_string(i % 11);
      batch.Add(std::move(event));
    }
    ASSERT_TRUE(engine.Commit(batch).ok());
  };
  std::vector<TakeHomeCounts> kept_hours;
  uint64_t digest = 0;
  {
    auto engine = Engine::Open(EngineOptions{dir_, 4096, 2});
    ASSERT_TRUE(engine.ok()) << engine.status().message();
    IngestBatch schema;
    schema.Add(SchemaChange{kBase, "signup", R"({"required":["plan"]})"});
    ASSERT_TRUE((*engine)->Commit(schema).ok());
    for (int i = 0; i < 600; i += 20) CommitShopEvents(**engine, i, 20);
    for (int i = 0; i < 300; i += 20) commit_later(**engine, i, 20);
    (*engine)->SealHours(0);
    EXPECT_EQ(Files().size(), 8u);  // (3 old hours + 1 later) x 2 shards
    for (int64_t hour = first_hour; hour < first_hour + 8; ++hour)
      kept_hours.push_back((*engine)->TakeHomeHour(hour));
    const uint32_t segments_before = static_cast<uint32_t>(SegmentLog::ListSegments(dir_ + "/log")->size());
    ASSERT_GT(segments_before, 5u);

    auto pass = (*engine)->ApplyRetention(first_kept_hour, engine->get());
    ASSERT_TRUE(pass.ok()) << pass.status().message();
    EXPECT_TRUE(pass->cut);
    EXPECT_EQ(pass->schemas_restated, 1u);
    EXPECT_GT(pass->segments_deleted, 0u);
    EXPECT_EQ(SegmentLog::ListSegments(dir_ + "/log")->size(), segments_before - pass->segments_deleted);
    for (int64_t hour = first_hour; hour < first_kept_hour; ++hour)
      EXPECT_EQ((*engine)->TakeHomeHour(hour), (TakeHomeCounts{0, 0, 0}));
    EXPECT_EQ((*engine)->TakeHomeHour(first_hour + 5), kept_hours[5]);
    (*engine)->SealHours(0);
    EXPECT_EQ(Files().size(), 2u);  // the dropped hours' files are gone

    // Nothing left to drop: a pass changes nothing.
    auto again = (*engine)->ApplyRetention(first_kept_hour, engine->get());
    ASSERT_TRUE(again.ok());
    EXPECT_FALSE(again->cut);
    EXPECT_EQ(again->schemas_restated, 0u);
    EXPECT_EQ(again->segments_deleted, 0u);
    // Events re-sent for the hours kept are still duplicates.
    commit_later(**engine, 0, 20);
    EXPECT_EQ((*engine)->TakeHomeHour(first_hour + 5), kept_hours[5]);
    digest = (*engine)->Digest().digest;
    EXPECT_EQ(ReplayLog(dir_, UINT64_MAX, 2)->digest, digest);
    EXPECT_EQ(ReplayLog(dir_, UINT64_MAX, 1)->digest, digest);
  }
  auto engine = Engine::Open(EngineOptions{dir_, 4096, 2});
  ASSERT_TRUE(engine.ok()) << engine.status().message();
  EXPECT_EQ((*engine)->Digest().digest, digest);
  EXPECT_EQ((*engine)->InstallSealedHourFiles().installed, 2u);
  EXPECT_EQ((*engine)->TakeHomeHour(first_hour + 5), kept_hours[5]);
  EXPECT_EQ((*engine)->TakeHomeHour(first_hour + 1), (TakeHomeCounts{0, 0, 0}));
  EXPECT_TRUE(
      (*engine)->ReadGlobal([](const GlobalViews& global) { return global.schemas().contains("signup"); }));

  // Without a checkpoint the start rebuilds from the log that is left, to the same answers.
  (*engine).reset();
  fs::remove_all(dir_ + "/checkpoints");
  auto rebuilt = Engine::Open(EngineOptions{dir_, 4096, 2});
  ASSERT_TRUE(rebuilt.ok()) << rebuilt.status().message();
  EXPECT_EQ((*rebuilt)->Digest().digest, digest);
}

}  // namespace
}  // namespace tally

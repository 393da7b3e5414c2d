#include "log/segment_log.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "log/record.h"

namespace tally {
namespace {

namespace fs = std::filesystem;

class SegmentLogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("tally-log-test-" + std::to_string(::getpid()) + "-" +
                                         ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
    fs::create_directories(root_);
  }
  void TearDown() override { fs::remove_all(root_); }

  std::string Dir(const std::string& name = "log") const { return (root_ / name).string(); }

  static Event NumberedEvent(int i) {
    Event event;
    event.type = i % 3 == 0 ? "impression" : "click";
    event.user_id = "user-" + std::to_string(i % 17);
    event.timestamp = 1'700'000'000'000 + i * 1000;
    return event;
  }

  // Opens the log, returning the user ids of every record recovery visited.
  static Result<std::unique_ptr<SegmentLog>> OpenCollecting(const LogOptions& options,
                                                            std::vector<std::string>* users,
                                                            RecoveryReport* report) {
    return SegmentLog::Open(
        options,
        [users](uint64_t lsn, LogPosition, std::string_view payload) -> Status {
          if (lsn != users->size()) return Status::Internal("records out of order");
          auto record = DecodePayload(payload);
          if (!record.ok()) return record.status();
          users->push_back(std::get<Event>(*record).user_id);
          return Status::Ok();
        },
        report);
  }

  // Writes `count` events one append each; returns the byte offset where each record ends.
  std::vector<uint64_t> WriteEvents(const LogOptions& options, int count) {
    std::vector<std::string> users;
    RecoveryReport report;
    auto log = OpenCollecting(options, &users, &report);
    EXPECT_TRUE(log.ok()) << log.status().message();
    std::vector<uint64_t> ends;
    uint64_t offset = SegmentLog::kSegmentHeaderBytes;
    for (int i = 0; i < count; ++i) {
      std::string frame;
      AppendEventFrame(NumberedEvent(i), &frame);
      EXPECT_TRUE((*log)->Append(frame, 1).ok());
      offset += frame.size();
      ends.push_back(offset);
    }
    return ends;
  }

  // Appends NumberedEvent(0..count-1) to an open log, one append each; returns where each starts.
  static std::vector<LogPosition> AppendNumbered(SegmentLog& log, int count) {
    std::vector<LogPosition> positions;
    for (int i = 0; i < count; ++i) {
      std::string frame;
      AppendEventFrame(NumberedEvent(i), &frame);
      auto appended = log.Append(frame, 1);
      EXPECT_TRUE(appended.ok());
      if (appended.ok()) positions.push_back(appended->start);
    }
    return positions;
  }

  fs::path root_;
};

TEST_F(SegmentLogTest, ReopenVisitsEveryRecordInOrder) {
  LogOptions options{Dir()};
  WriteEvents(options, 100);
  std::vector<std::string> users;
  RecoveryReport report;
  auto log = OpenCollecting(options, &users, &report);
  ASSERT_TRUE(log.ok()) << log.status().message();
  ASSERT_EQ(users.size(), 100u);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(users[i], NumberedEvent(i).user_id);
  EXPECT_EQ((*log)->next_lsn(), 100u);
  EXPECT_EQ(report.cut_bytes, 0u);
}

TEST_F(SegmentLogTest, RollsIntoNewSegmentsAndReadsThemBackInOrder) {
  LogOptions options{Dir(), 4096};
  WriteEvents(options, 500);
  auto segments = SegmentLog::ListSegments(options.directory);
  ASSERT_TRUE(segments.ok());
  EXPECT_GE(segments->size(), 4u);
  std::vector<std::string> users;
  RecoveryReport report;
  auto log = OpenCollecting(options, &users, &report);
  ASSERT_TRUE(log.ok()) << log.status().message();
  EXPECT_EQ(users.size(), 500u);
  EXPECT_EQ(report.segments, segments->size());
  // Appending after reopen continues the numbering.
  std::string frame;
  AppendEventFrame(NumberedEvent(500), &frame);
  auto end = (*log)->Append(frame, 1);
  ASSERT_TRUE(end.ok());
  EXPECT_EQ(end->end_lsn, 501u);
}

TEST_F(SegmentLogTest, Recovery_CutsTornTailAndKeepsEveryIntactRecord) {
  LogOptions pristine_options{Dir("pristine")};
  const std::vector<uint64_t> ends = WriteEvents(pristine_options, 40);
  const std::string segment = (*SegmentLog::ListSegments(pristine_options.directory))[0];
  const uint64_t file_size = ends.back();
  for (uint64_t cut_at = SegmentLog::kSegmentHeaderBytes; cut_at <= file_size; ++cut_at) {
    fs::remove_all(Dir("torn"));
    fs::copy(pristine_options.directory, Dir("torn"));
    ASSERT_EQ(::truncate((Dir("torn") + "/" + segment).c_str(), static_cast<off_t>(cut_at)), 0);

    std::vector<std::string> users;
    RecoveryReport report;
    auto log = OpenCollecting(LogOptions{Dir("torn")}, &users, &report);
    ASSERT_TRUE(log.ok()) << cut_at << ": " << log.status().message();
    const size_t intact = std::upper_bound(ends.begin(), ends.end(), cut_at) - ends.begin();
    ASSERT_EQ(users.size(), intact) << "cut at " << cut_at;
    const uint64_t intact_end = intact == 0 ? SegmentLog::kSegmentHeaderBytes : ends[intact - 1];
    EXPECT_EQ(report.cut_bytes, cut_at - intact_end);
    if (report.cut_bytes > 0) {
      EXPECT_TRUE(fs::exists(report.cut_saved_to));
    }
    // The repaired log takes new records right after the intact ones.
    std::string frame;
    AppendEventFrame(NumberedEvent(99), &frame);
    auto end = (*log)->Append(frame, 1);
    ASSERT_TRUE(end.ok());
    EXPECT_EQ(end->end_lsn, intact + 1);
  }
}

std::string ReadWholeFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void FlipByte(const std::string& path, uint64_t at) {
  std::fstream file(path, std::ios::in | std::ios::out | std::ios::binary);
  file.seekg(static_cast<std::streamoff>(at));
  char byte = 0;
  file.read(&byte, 1);
  byte ^= 0x5A;
  file.seekp(static_cast<std::streamoff>(at));
  file.write(&byte, 1);
}

// A damaged last record is a torn tail: cut, and the records before it kept. A damaged record with intact
// ones after it is corruption of acknowledged records: the start stops, naming the file and the byte, and
// changes nothing; with skip_damaged_records only the damaged record goes, set aside in a file.
TEST_F(SegmentLogTest, Recovery_DamagedByteInTheLastSegmentIsATornTailOnlyInTheLastRecord) {
  LogOptions pristine_options{Dir("pristine")};
  const std::vector<uint64_t> ends = WriteEvents(pristine_options, 30);
  const std::string segment = (*SegmentLog::ListSegments(pristine_options.directory))[0];
  const std::string pristine_bytes = ReadWholeFile(pristine_options.directory + "/" + segment);
  for (uint64_t at = SegmentLog::kSegmentHeaderBytes; at < ends.back(); at += 3) {
    fs::remove_all(Dir("damaged"));
    fs::copy(pristine_options.directory, Dir("damaged"));
    const std::string path = Dir("damaged") + "/" + segment;
    FlipByte(path, at);
    const size_t damaged = std::upper_bound(ends.begin(), ends.end(), at) - ends.begin();
    const uint64_t damaged_start = damaged == 0 ? SegmentLog::kSegmentHeaderBytes : ends[damaged - 1];
    const bool last_record = damaged + 1 == ends.size();
    std::vector<std::string> users;
    RecoveryReport report;
    auto log = OpenCollecting(LogOptions{Dir("damaged")}, &users, &report);
    if (last_record) {
      ASSERT_TRUE(log.ok()) << at << ": " << log.status().message();
      ASSERT_EQ(users.size(), damaged) << "damaged byte at " << at;
      EXPECT_EQ(report.cut_bytes, ends.back() - damaged_start);
      continue;
    }
    ASSERT_FALSE(log.ok()) << "damaged byte at " << at << " was taken for a torn tail";
    EXPECT_EQ(log.status().code(), Status::Code::kCorruption);
    EXPECT_NE(log.status().message().find(path + ": damaged record at byte " + std::to_string(damaged_start)),
              std::string::npos)
        << log.status().message();
    EXPECT_NE(log.status().message().find("--skip-damaged-records"), std::string::npos);
    std::string expected = pristine_bytes;
    expected[at] = static_cast<char>(expected[at] ^ 0x5A);
    ASSERT_EQ(ReadWholeFile(path), expected) << "a refused start changed the segment";

    users.clear();
    report = RecoveryReport{};
    LogOptions skipping{Dir("damaged")};
    skipping.skip_damaged_records = true;
    uint64_t told_records_before = UINT64_MAX;
    skipping.before_skipping_damage = [&](uint64_t records_before) {
      told_records_before = records_before;
      return Status::Ok();
    };
    log = OpenCollecting(skipping, &users, &report);
    ASSERT_TRUE(log.ok()) << at << ": " << log.status().message();
    EXPECT_EQ(told_records_before, damaged);
    ASSERT_EQ(users.size(), ends.size() - 1) << "damaged byte at " << at;
    for (size_t i = 0, event = 0; i < users.size(); ++i, ++event) {
      if (event == damaged) ++event;
      EXPECT_EQ(users[i], NumberedEvent(static_cast<int>(event)).user_id);
    }
    EXPECT_EQ(report.skipped_bytes, ends[damaged] - damaged_start);
    ASSERT_EQ(report.skipped_saved_to.size(), 1u);
    EXPECT_EQ(ReadWholeFile(report.skipped_saved_to[0]),
              expected.substr(damaged_start, report.skipped_bytes));
    // New records follow; a later start, without the option, finds an intact log.
    std::string frame;
    AppendEventFrame(NumberedEvent(99), &frame);
    auto end = (*log)->Append(frame, 1);
    ASSERT_TRUE(end.ok());
    EXPECT_EQ(end->end_lsn, ends.size());
    log->reset();
    users.clear();
    report = RecoveryReport{};
    log = OpenCollecting(LogOptions{Dir("damaged")}, &users, &report);
    ASSERT_TRUE(log.ok()) << log.status().message();
    EXPECT_EQ(users.size(), ends.size());
    EXPECT_EQ(report.cut_bytes, 0u);
  }
}

// In a cluster node's log every record is a stream batch whose inner frames are valid frames too: a batch
// torn after some of them is still a torn tail, not damage with intact records after it.
TEST_F(SegmentLogTest, Recovery_ATornStreamBatchIsATornTailThoughWholeFramesLieInIt) {
  LogOptions options{Dir()};
  uint64_t intact_end = 0, torn_end = 0;
  {
    RecoveryReport report;
    auto log = SegmentLog::Open(
        options, [](uint64_t, LogPosition, std::string_view) { return Status::Ok(); }, &report);
    ASSERT_TRUE(log.ok());
    for (uint64_t sequence = 1; sequence <= 3; ++sequence) {
      std::string inner;
      for (int i = 0; i < 20; ++i) AppendEventFrame(NumberedEvent(i), &inner);
      std::string batch;
      AppendStreamBatchFrame(sequence, inner, &batch);
      auto appended = (*log)->Append(batch, 1);
      ASSERT_TRUE(appended.ok());
      if (sequence == 2) intact_end = appended->start.offset + batch.size();
      if (sequence == 3) torn_end = appended->start.offset + batch.size() / 2;
    }
  }
  const std::string segment = options.directory + "/" + (*SegmentLog::ListSegments(options.directory))[0];
  ASSERT_EQ(::truncate(segment.c_str(), static_cast<off_t>(torn_end)), 0);
  uint64_t visited = 0;
  RecoveryReport report;
  auto log = SegmentLog::Open(
      options, [&](uint64_t, LogPosition, std::string_view) { return ++visited, Status::Ok(); }, &report);
  ASSERT_TRUE(log.ok()) << log.status().message();
  EXPECT_EQ(visited, 2u);
  EXPECT_EQ(report.cut_bytes, torn_end - intact_end);
}

// A segment that cannot be created (here its name is taken by a directory: root ignores permissions) makes
// appends fail, not the log for good: once the cause is gone, the next write, or a probe, goes on.
TEST_F(SegmentLogTest, ASegmentThatCouldNotBeCreatedIsTriedAgain) {
  LogOptions options{Dir(), 512};
  std::vector<std::string> users;
  RecoveryReport report;
  auto log = OpenCollecting(options, &users, &report);
  ASSERT_TRUE(log.ok());
  std::vector<std::string> blockers;
  for (int lsn = 1; lsn <= 200; ++lsn) {
    char name[32];
    std::snprintf(name, sizeof(name), "/%020d.log", lsn);
    blockers.push_back(options.directory + name);
    fs::create_directory(blockers.back());
  }
  int appended = 0;
  Status failure;
  for (int i = 0; i < 100 && failure.ok(); ++i) {
    std::string frame;
    AppendEventFrame(NumberedEvent(i), &frame);
    auto end = (*log)->Append(frame, 1);
    if (end.ok()) {
      ++appended;
    } else {
      failure = end.status();
    }
  }
  ASSERT_FALSE(failure.ok()) << "no segment was ever needed";
  EXPECT_NE(failure.message().find("could not be created"), std::string::npos) << failure.message();
  EXPECT_FALSE((*log)->failed());
  EXPECT_FALSE((*log)->CheckWritable().ok());
  for (const std::string& blocker : blockers) fs::remove(blocker);
  ASSERT_TRUE((*log)->CheckWritable().ok()) << (*log)->CheckWritable().message();
  std::string frame;
  AppendEventFrame(NumberedEvent(appended), &frame);
  ASSERT_TRUE((*log)->Append(frame, 1).ok());
  ++appended;
  log->reset();
  users.clear();
  log = OpenCollecting(options, &users, &report);
  ASSERT_TRUE(log.ok()) << log.status().message();
  EXPECT_EQ(users.size(), static_cast<size_t>(appended));
}

TEST_F(SegmentLogTest, Recovery_DamageInAClosedSegmentRefusesToStartRatherThanDropAckedRecords) {
  LogOptions options{Dir(), 2048};
  WriteEvents(options, 200);
  auto segments = *SegmentLog::ListSegments(options.directory);
  ASSERT_GT(segments.size(), 2u);
  {
    std::fstream file(options.directory + "/" + segments[0], std::ios::in | std::ios::out | std::ios::binary);
    file.seekp(100);
    file.write("\xff\xff", 2);
  }
  std::vector<std::string> users;
  RecoveryReport report;
  auto log = OpenCollecting(options, &users, &report);
  ASSERT_FALSE(log.ok());
  EXPECT_EQ(log.status().code(), Status::Code::kCorruption);
  EXPECT_NE(log.status().message().find(segments[0]), std::string::npos);
}

TEST_F(SegmentLogTest, Recovery_MissingSegmentIsReportedNotSkipped) {
  LogOptions options{Dir(), 2048};
  WriteEvents(options, 200);
  auto segments = *SegmentLog::ListSegments(options.directory);
  ASSERT_GT(segments.size(), 3u);
  fs::remove(options.directory + "/" + segments[1]);
  std::vector<std::string> users;
  RecoveryReport report;
  auto log = OpenCollecting(options, &users, &report);
  ASSERT_FALSE(log.ok());
  EXPECT_NE(log.status().message().find("missing"), std::string::npos);
}

TEST_F(SegmentLogTest, Recovery_NewestSegmentWithATornHeaderIsSetAsideAndTheLogGoesOn) {
  LogOptions options{Dir(), 2048};
  WriteEvents(options, 100);
  std::vector<std::string> users;
  RecoveryReport report;
  uint64_t records = 0;
  {
    auto log = OpenCollecting(options, &users, &report);
    ASSERT_TRUE(log.ok());
    records = (*log)->next_lsn();
  }
  // A crash right after creating the next segment file: only part of its header reached the disk.
  char name[32];
  std::snprintf(name, sizeof(name), "%020llu.log", static_cast<unsigned long long>(records));
  std::ofstream(options.directory + "/" + name, std::ios::binary) << "TALL";
  users.clear();
  auto log = OpenCollecting(options, &users, &report);
  ASSERT_TRUE(log.ok()) << log.status().message();
  EXPECT_EQ(users.size(), records);
  EXPECT_EQ(report.cut_bytes, 4u);
}

TEST_F(SegmentLogTest, ConcurrentAppendersAndSyncersAgreeOnDurability) {
  LogOptions options{Dir(), 64 * 1024};
  std::vector<std::string> users;
  RecoveryReport report;
  auto log = OpenCollecting(options, &users, &report);
  ASSERT_TRUE(log.ok());
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&log, t] {
      for (int i = 0; i < 300; ++i) {
        std::string frame;
        AppendEventFrame(NumberedEvent(t * 1000 + i), &frame);
        auto end = (*log)->Append(frame, 1);
        ASSERT_TRUE(end.ok());
        if (i % 50 == 0) {
          ASSERT_TRUE((*log)->Sync().ok());
          EXPECT_GE((*log)->durable_lsn(), end->end_lsn);
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
  ASSERT_TRUE((*log)->Sync().ok());
  EXPECT_EQ((*log)->durable_lsn(), 1200u);
  log->reset();
  users.clear();
  auto reopened = OpenCollecting(options, &users, &report);
  ASSERT_TRUE(reopened.ok());
  EXPECT_EQ(users.size(), 1200u);
}

TEST_F(SegmentLogTest, ReadPayloadFindsEveryRecordAtItsPositionAcrossSegments) {
  LogOptions options{Dir(), 2048};
  std::vector<std::string> users;
  RecoveryReport report;
  auto log = OpenCollecting(options, &users, &report);
  ASSERT_TRUE(log.ok());
  const std::vector<LogPosition> positions = AppendNumbered(**log, 300);
  ASSERT_EQ(positions.size(), 300u);
  EXPECT_GT(positions.back().segment, 3u);
  for (int i = 0; i < 300; ++i) {
    auto payload = (*log)->ReadPayload(LogPosition::Unpack(positions[i].Packed()));
    ASSERT_TRUE(payload.ok()) << i << ": " << payload.status().message();
    EXPECT_EQ(std::get<Event>(*DecodePayload(*payload)), NumberedEvent(i));
  }
  EXPECT_FALSE((*log)->ReadPayload(LogPosition{0, 3}).ok());
  EXPECT_FALSE((*log)->ReadPayload(LogPosition{9999, 16}).ok());
}

TEST_F(SegmentLogTest, RetiredSegmentsGoAndTheOthersKeepTheirIdsThroughAReopen) {
  LogOptions options{Dir(), 2048};
  std::vector<LogPosition> positions;
  {
    std::vector<std::string> users;
    RecoveryReport report;
    auto log = OpenCollecting(options, &users, &report);
    ASSERT_TRUE(log.ok());
    positions = AppendNumbered(**log, 300);
    ASSERT_EQ(positions.size(), 300u);
    ASSERT_GT(positions.back().segment, 4u);
    // Record 100 is still needed: the segments before its own may go, once a checkpoint covers them.
    const uint64_t needed = positions[100].Packed();
    const uint64_t must_cover = (*log)->RecordsBeforeSegmentOf(needed);
    EXPECT_LE(must_cover, 100u);
    EXPECT_GT(must_cover, 0u);
    auto none = (*log)->RetireSegmentsBefore(needed, must_cover - 1);
    ASSERT_TRUE(none.ok());
    EXPECT_EQ(*none, positions[100].segment - 1);  // the last one before it is not wholly covered
    auto retired = (*log)->RetireSegmentsBefore(needed, must_cover);
    ASSERT_TRUE(retired.ok()) << retired.status().message();
    EXPECT_EQ(*retired, 1u);
    EXPECT_EQ((*log)->first_segment_id(), positions[100].segment);
    auto gone = (*log)->ReadPayload(positions[0]);
    ASSERT_FALSE(gone.ok());
    EXPECT_NE(gone.status().message().find("deleted by retention"), std::string::npos);
    for (int i = 100; i < 300; ++i) ASSERT_TRUE((*log)->ReadPayload(positions[i]).ok()) << i;
    // The segment appended to stays whatever is asked.
    auto all = (*log)->RetireSegmentsBefore(UINT64_MAX, UINT64_MAX);
    ASSERT_TRUE(all.ok());
    EXPECT_EQ((*log)->first_segment_id(), positions.back().segment);
    ASSERT_TRUE((*log)->ReadPayload(positions.back()).ok());
  }
  auto segments = SegmentLog::ListSegments(options.directory);
  ASSERT_TRUE(segments.ok());
  EXPECT_EQ(segments->size(), 1u);
  EXPECT_EQ(*SegmentLog::FirstRecord(options.directory), std::stoull((*segments)[0]));

  // Reopened, the log visits the kept records at the positions they had and appends after them.
  std::vector<LogPosition> visited;
  RecoveryReport report;
  auto log = SegmentLog::Open(
      options,
      [&](uint64_t lsn, LogPosition position, std::string_view) {
        visited.push_back(position);
        return lsn >= *SegmentLog::FirstRecord(options.directory) ? Status::Ok() : Status::Internal("lsn");
      },
      &report);
  ASSERT_TRUE(log.ok()) << log.status().message();
  ASSERT_FALSE(visited.empty());
  for (size_t i = 0; i < visited.size(); ++i) {
    const LogPosition& expected = positions[positions.size() - visited.size() + i];
    EXPECT_EQ(visited[i].Packed(), expected.Packed()) << i;
  }
  EXPECT_EQ((*log)->next_lsn(), 300u);
  std::string frame;
  AppendEventFrame(NumberedEvent(300), &frame);
  auto appended = (*log)->Append(frame, 1);
  ASSERT_TRUE(appended.ok());
  EXPECT_EQ(appended->start.segment, positions.back().segment);
}

TEST_F(SegmentLogTest, ARetirementCutShortIsFinishedAtTheNextOpen) {
  LogOptions options{Dir(), 2048};
  WriteEvents(options, 200);
  auto segments = SegmentLog::ListSegments(options.directory);
  ASSERT_TRUE(segments.ok());
  ASSERT_GE(segments->size(), 3u);
  // The start file was written, the process stopped before deleting the first two segments.
  const uint64_t third_first = std::stoull((*segments)[2]);
  std::ofstream(options.directory + "/retired") << "2 " << third_first << "\n";
  std::vector<std::string> users;
  RecoveryReport report;
  auto log = SegmentLog::Open(
      options,
      [&](uint64_t lsn, LogPosition position, std::string_view payload) {
        users.push_back(std::get<Event>(*DecodePayload(payload)).user_id);
        return lsn == third_first + users.size() - 1 && position.segment >= 2 ? Status::Ok()
                                                                              : Status::Internal("order");
      },
      &report);
  ASSERT_TRUE(log.ok()) << log.status().message();
  EXPECT_EQ(users.size(), 200 - third_first);
  auto left = SegmentLog::ListSegments(options.directory);
  ASSERT_TRUE(left.ok());
  EXPECT_EQ(left->size(), segments->size() - 2);
  // A start file that does not parse stops the open, naming it.
  log->reset();
  std::ofstream(options.directory + "/retired") << "two\n";
  auto refused = OpenCollecting(options, &users, &report);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("retired"), std::string::npos);
}

TEST_F(SegmentLogTest, ScanReadsWithoutRepairingATornTail) {
  LogOptions options{Dir()};
  const std::vector<uint64_t> ends = WriteEvents(options, 20);
  const std::string segment = options.directory + "/" + (*SegmentLog::ListSegments(options.directory))[0];
  ASSERT_EQ(::truncate(segment.c_str(), static_cast<off_t>(ends.back() - 3)), 0);
  SegmentLog::ScanResult scan;
  uint64_t visited = 0;
  auto count = [&](uint64_t, LogPosition, std::string_view) {
    ++visited;
    return Status::Ok();
  };
  ASSERT_TRUE(SegmentLog::Scan(options.directory, count, UINT64_MAX, &scan).ok());
  EXPECT_EQ(visited, 19u);
  EXPECT_EQ(scan.records, 19u);
  EXPECT_FALSE(scan.damaged_path.empty());
  EXPECT_EQ(fs::file_size(segment), ends.back() - 3);  // nothing was cut
  SegmentLog::ScanResult limited;
  visited = 0;
  ASSERT_TRUE(SegmentLog::Scan(options.directory, count, 5, &limited).ok());
  EXPECT_EQ(visited, 5u);
}

TEST_F(SegmentLogTest, UnwritableDirectoryIsAClearError) {
  std::vector<std::string> users;
  RecoveryReport report;
  std::ofstream(Dir("a-file")) << "x";
  auto log = OpenCollecting(LogOptions{Dir("a-file") + "/log"}, &users, &report);
  ASSERT_FALSE(log.ok());
  EXPECT_EQ(log.status().code(), Status::Code::kIoError);
}

}  // namespace
}  // namespace tally

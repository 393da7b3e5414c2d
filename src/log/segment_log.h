// The embedded event log: segmented, append-only files in <data>/log/, the single source of truth.
//
// Records are numbered by a log sequence number (LSN): the first record ever written is LSN 0. A segment
// file is named after the LSN of its first record and starts with a 16-byte header ("TALLYLOG" + that LSN).
// A segment is fsynced before the next one is created, so only the newest segment can have a torn tail.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "tally/status.h"

namespace tally {

struct LogOptions {
  std::string directory;                  // created if missing
  uint64_t segment_bytes = 128ull << 20;  // a segment is closed once it would grow past this
};

// What recovery found and what it had to cut.
struct RecoveryReport {
  uint64_t records = 0;
  uint64_t segments = 0;
  uint64_t cut_bytes = 0;
  std::string cut_saved_to;  // where the cut bytes were kept, for a person to inspect
  std::string cut_reason;
};

class SegmentLog {
 public:
  // Called for every intact record during recovery, in log order. A non-OK status stops the open.
  using RecordVisitor = std::function<Status(uint64_t lsn, std::string_view payload)>;

  static Result<std::unique_ptr<SegmentLog>> Open(const LogOptions& options, const RecordVisitor& visit,
                                                  RecoveryReport* report);
  ~SegmentLog();
  SegmentLog(const SegmentLog&) = delete;
  SegmentLog& operator=(const SegmentLog&) = delete;

  // Appends whole frames holding `record_count` records with one write. On success the bytes are in the
  // operating system (a crash of this process cannot lose them) and the LSN after the last record is
  // returned. On failure nothing of the batch stays in the log.
  Result<uint64_t> Append(std::string_view frames, uint64_t record_count);

  // Makes every record appended before the call durable (fdatasync). Safe to call from any thread while
  // others append; concurrent callers share one fsync.
  Status Sync();

  uint64_t next_lsn() const { return next_lsn_.load(std::memory_order_acquire); }
  uint64_t durable_lsn() const { return durable_lsn_.load(std::memory_order_acquire); }
  // After a write or fsync error the log refuses further appends: what reached the disk is unknown.
  bool failed() const { return failed_.load(std::memory_order_acquire); }
  uint64_t bytes_appended() const { return bytes_appended_.load(std::memory_order_relaxed); }

  // The segment files in LSN order (for tests and tools).
  static Result<std::vector<std::string>> ListSegments(const std::string& directory);
  static constexpr size_t kSegmentHeaderBytes = 16;

 private:
  struct SegmentFile;
  SegmentLog(LogOptions options, std::shared_ptr<SegmentFile> active, uint64_t next_lsn);
  Status RollLocked();
  void AdvanceDurable(uint64_t lsn);  // never moves backwards

  const LogOptions options_;
  std::mutex append_mutex_;
  std::shared_ptr<SegmentFile> active_;  // guarded by append_mutex_
  std::mutex sync_mutex_;                // one fsync at a time; later callers find their records synced
  std::atomic<uint64_t> next_lsn_;
  std::atomic<uint64_t> durable_lsn_;
  std::atomic<bool> failed_{false};
  std::atomic<uint64_t> bytes_appended_{0};
};

}  // namespace tally

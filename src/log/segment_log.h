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

class MappedFile;

// Where a record's frame starts: the segment's id and the byte offset inside it. Segment ids count the
// segments ever created (0 = the first); retention deleting the oldest does not renumber the others, so a
// position stays valid for as long as its segment exists.
struct LogPosition {
  uint32_t segment = 0;
  uint32_t offset = 0;
  uint64_t Packed() const { return (static_cast<uint64_t>(segment) << 32) | offset; }
  static LogPosition Unpack(uint64_t packed) {
    return {static_cast<uint32_t>(packed >> 32), static_cast<uint32_t>(packed & 0xFFFFFFFFu)};
  }
};

struct LogOptions {
  std::string directory;                  // created if missing
  uint64_t segment_bytes = 128ull << 20;  // a segment is closed once it would grow past this
  // A damaged record with intact records after it is corruption of acknowledged data, not a torn tail:
  // by default recovery refuses to start. With this set, the damaged bytes are moved to a file beside
  // the segment and every record after them is kept.
  bool skip_damaged_records = false;
  // Called before damaged bytes are skipped, with the number of records before them: state derived from
  // the log past that point (a checkpoint) no longer matches it once they are gone.
  std::function<Status(uint64_t records_before_damage)> before_skipping_damage;
};

// What recovery found and what it had to cut.
struct RecoveryReport {
  uint64_t records = 0;
  uint64_t segments = 0;
  uint64_t cut_bytes = 0;
  std::string cut_saved_to;  // where the cut bytes were kept, for a person to inspect
  std::string cut_reason;
  // Damaged records skipped in the middle (LogOptions::skip_damaged_records), each kept in a file.
  uint64_t skipped_bytes = 0;
  std::vector<std::string> skipped_saved_to;
};

// The payload of the record whose frame starts at byte `offset` of the open segment file `fd` (checksum
// verified); `path` names the file in errors.
Result<std::string> ReadPayloadAt(int fd, const std::string& path, uint32_t offset);

// Reads records by position from segments a scan listed, without changing them (tools beside a live
// server: replay, export). Not thread-safe.
class LogReader {
 public:
  LogReader(std::vector<std::string> segment_paths, uint32_t first_segment_id)
      : segment_paths_(std::move(segment_paths)), first_segment_id_(first_segment_id) {}
  ~LogReader();
  LogReader(const LogReader&) = delete;
  LogReader& operator=(const LogReader&) = delete;
  LogReader(LogReader&& other) noexcept;
  LogReader& operator=(LogReader&&) = delete;
  Result<std::string> ReadPayload(LogPosition position);

 private:
  std::vector<std::string> segment_paths_;
  uint32_t first_segment_id_;
  std::vector<int> fds_;
};

class SegmentLog {
 public:
  // Called for every intact record during recovery, in log order. A non-OK status stops the open.
  using RecordVisitor = std::function<Status(uint64_t lsn, LogPosition position, std::string_view payload)>;

  // What a read-only scan found: the intact records, and where damage starts if anywhere.
  struct ScanResult {
    uint64_t records = 0;
    std::vector<std::string> segment_paths;  // the intact segments, oldest first
    uint32_t first_segment_id = 0;           // the id of segment_paths[0]
    uint64_t last_segment_end = 0;           // end of the last intact record in the last segment
    std::string damaged_path;                // empty: no damage
    uint64_t damaged_offset = 0;
    uint64_t damaged_bytes = 0;
    bool whole_segment_damaged = false;
    std::string damage;
    // Damage with intact records after it (an error of Scan): where they start again.
    uint64_t resume_offset = 0;
  };
  // Visits up to `max_records` intact records in order without changing any file (safe on a live log:
  // a record being written counts as a torn tail). Damage in a closed segment, and damage followed by
  // intact records anywhere, is a Corruption error naming the file and the byte. Records before
  // `first_visited` are not visited, and closed segments holding only such records are not read.
  static Status Scan(const std::string& directory, const RecordVisitor& visit, uint64_t max_records,
                     ScanResult* result, uint64_t first_visited = 0);

  // Recovers the log, visiting records from `first_visited` on (a checkpoint covers the ones before).
  static Result<std::unique_ptr<SegmentLog>> Open(const LogOptions& options, const RecordVisitor& visit,
                                                  RecoveryReport* report, uint64_t first_visited = 0);
  ~SegmentLog();
  SegmentLog(const SegmentLog&) = delete;
  SegmentLog& operator=(const SegmentLog&) = delete;

  struct Appended {
    uint64_t end_lsn;   // the LSN after the batch's last record
    LogPosition start;  // where the batch's first frame was written
  };
  // Appends whole frames holding `record_count` records with one write (never split across segments).
  // On success the bytes are in the operating system: a crash of this process cannot lose them. On
  // failure nothing of the batch stays in the log.
  Result<Appended> Append(std::string_view frames, uint64_t record_count);

  // The payload of the record whose frame starts at `position` (checksum verified). Safe from any thread.
  Result<std::string> ReadPayload(LogPosition position) const;

  // Segment `segment_id` mapped read-only as it is now (the records written so far), to read many records
  // by position without a read call each. Safe from any thread.
  Result<std::shared_ptr<const MappedFile>> MapSegment(uint32_t segment_id) const;

  // Retention: deletes the oldest closed segments that hold nothing at or after `first_needed` (a packed
  // LogPosition) and whose every record is among the first `covered_lsn` (a checkpoint holds what they
  // led to). The log then starts at the first segment kept: a file in the directory records its id and
  // first record (written before any segment is deleted, so an interrupted deletion is finished at the
  // next open). Returns how many segments were deleted. Safe beside appends and reads.
  Result<uint32_t> RetireSegmentsBefore(uint64_t first_needed, uint64_t covered_lsn);
  // How many records a checkpoint must cover for RetireSegmentsBefore(first_needed, ...) to delete every
  // segment before first_needed's (the first record of the oldest segment that stays either way).
  uint64_t RecordsBeforeSegmentOf(uint64_t first_needed) const;
  // The number of the first record the log in `directory` holds (not 0 once retention deleted segments).
  static Result<uint64_t> FirstRecord(const std::string& directory);
  // The id of the oldest segment kept, and the number of its first record.
  uint32_t first_segment_id() const;
  uint64_t first_record() const;

  // Makes every record appended before the call durable (fdatasync). Safe to call from any thread while
  // others append; concurrent callers share one fsync.
  Status Sync();

  uint64_t next_lsn() const { return next_lsn_.load(std::memory_order_acquire); }
  uint64_t durable_lsn() const { return durable_lsn_.load(std::memory_order_acquire); }
  // After an fsync error the log refuses further appends: what reached the disk is unknown.
  bool failed() const { return failed_.load(std::memory_order_acquire); }
  // OK while the log takes appends. After a failed write or segment creation (a full disk, a directory
  // made read-only), the reason until an append succeeds again; a segment that could not be created is
  // tried again here, so a probe (/readyz) finds out when the cause has gone without waiting for a write.
  Status CheckWritable();

  // The segment files in LSN order (for tests and tools).
  static Result<std::vector<std::string>> ListSegments(const std::string& directory);
  static constexpr size_t kSegmentHeaderBytes = 16;

 private:
  struct SegmentFile;
  SegmentLog(LogOptions options, std::vector<std::string> segment_paths, uint32_t first_segment_id,
             std::shared_ptr<SegmentFile> active, uint64_t next_lsn);
  static Result<std::shared_ptr<SegmentFile>> CreateSegment(const std::string& directory, uint64_t first_lsn);
  // Moves the damaged bytes a scan stopped at to a file beside the segment and closes the gap.
  static Status SkipDamage(const LogOptions& options, const ScanResult& scan, RecoveryReport* report);
  Status RollLocked();
  void AdvanceDurable(uint64_t lsn);  // never moves backwards

  const LogOptions options_;
  std::mutex append_mutex_;
  std::shared_ptr<SegmentFile> active_;  // guarded by append_mutex_
  mutable std::mutex readers_mutex_;
  std::vector<std::string> segment_paths_;  // oldest first; guarded by readers_mutex_
  uint32_t first_segment_id_;               // the id of segment_paths_[0]; guarded by readers_mutex_
  mutable std::vector<int> reader_fds_;     // opened on first read, like segment_paths_; readers_mutex_
  std::mutex sync_mutex_;                   // one fsync at a time; later callers find their records synced
  std::mutex retire_mutex_;                 // one retirement at a time
  std::atomic<uint64_t> next_lsn_;
  std::atomic<uint64_t> durable_lsn_;
  std::atomic<bool> failed_{false};
  std::atomic<bool> blocked_{false};  // the last append (or segment creation) failed
  std::string blocked_reason_;        // guarded by append_mutex_
  bool roll_pending_ = false;         // a new segment is needed but could not be created; append_mutex_
};

}  // namespace tally

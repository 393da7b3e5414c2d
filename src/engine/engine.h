// The glue of one tally server: the data directory, the log, the views, and the materializer that keeps
// the views equal to "every log record applied in log order".
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "log/record.h"
#include "log/segment_log.h"
#include "tally/status.h"
#include "views/views.h"

namespace tally {

struct EngineOptions {
  std::string data_dir = "./tally-data";
  uint64_t segment_bytes = 128ull << 20;
};

// Records gathered between two commits, already encoded, in the order they arrived.
class IngestBatch {
 public:
  void Add(Event event);
  void Add(RejectedInput rejected);
  void Add(SchemaChange change);
  void Clear();
  bool empty() const { return records_.empty(); }
  size_t size() const { return records_.size(); }
  const std::string& frames() const { return frames_; }
  const std::vector<LogRecord>& records() const { return records_; }
  // Where each record's frame starts within frames().
  const std::vector<uint32_t>& frame_offsets() const { return frame_offsets_; }

 private:
  std::string frames_;
  std::vector<LogRecord> records_;
  std::vector<uint32_t> frame_offsets_;
};

struct Committed {
  uint64_t end_lsn = 0;                // the LSN after the batch's last record
  std::vector<ApplyOutcome> outcomes;  // one per record, in batch order
};

class Engine {
 public:
  // Locks the data directory (one server per directory), recovers the log and rebuilds the views from it.
  static Result<std::unique_ptr<Engine>> Open(const EngineOptions& options);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Appends the batch to the log and applies it to the views, as one step in log order. On error nothing
  // of the batch is in the log or the views.
  Result<Committed> Commit(const IngestBatch& batch);

  // Runs `read(views)` while no commit can change them.
  template <typename ReadViews>
  auto Read(ReadViews&& read) const {
    std::lock_guard lock(mutex_);
    return read(static_cast<const Views&>(*views_));
  }
  // The whole record at a row's position (for timelines, event lookups, rejected input).
  Result<LogRecord> ReadRecord(uint64_t packed_position) const;

  TakeHomeCounts TakeHomeHour(int64_t hour) const;

  struct DigestAt {
    uint64_t lsn;
    uint64_t digest;
  };
  DigestAt Digest() const;

  SegmentLog& log() { return *log_; }
  const RecoveryReport& recovery() const { return recovery_; }

 private:
  Engine(int lock_fd, std::unique_ptr<SegmentLog> log, std::unique_ptr<Views> views, RecoveryReport recovery);

  const int lock_fd_;
  std::unique_ptr<SegmentLog> log_;
  mutable std::mutex mutex_;  // orders commits (log order == apply order) and guards views_
  std::unique_ptr<Views> views_;
  RecoveryReport recovery_;
};

// Rebuilds views from the log in `data_dir` without changing it (safe while a server runs): up to
// `max_records` records, or all intact ones.
struct ReplayResult {
  uint64_t records = 0;
  uint64_t digest = 0;
  std::string stopped_at;  // the damage or torn tail that ended the replay, if any
};
Result<ReplayResult> ReplayLog(const std::string& data_dir, uint64_t max_records);

}  // namespace tally

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

// Records gathered by one event loop between two commits, already encoded, in the order they arrived.
class IngestBatch {
 public:
  void Add(Event event);
  void Add(RejectedInput rejected);
  void Clear();
  bool empty() const { return records_.empty(); }
  size_t size() const { return records_.size(); }
  const std::string& frames() const { return frames_; }
  const std::vector<LogRecord>& records() const { return records_; }

 private:
  std::string frames_;
  std::vector<LogRecord> records_;
};

class Engine {
 public:
  // Locks the data directory (one server per directory), recovers the log and rebuilds the views from it.
  static Result<std::unique_ptr<Engine>> Open(const EngineOptions& options);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Appends the batch to the log and applies it to the views, as one step in log order. Returns the LSN
  // after the batch's last record; on error nothing of the batch is in the log or the views.
  Result<uint64_t> Commit(const IngestBatch& batch);

  TakeHomeCounts TakeHomeHour(int64_t hour) const;

  SegmentLog& log() { return *log_; }
  const RecoveryReport& recovery() const { return recovery_; }
  uint64_t events_applied() const;

 private:
  Engine(int lock_fd, std::unique_ptr<SegmentLog> log, std::unique_ptr<Views> views, RecoveryReport recovery);

  const int lock_fd_;
  std::unique_ptr<SegmentLog> log_;
  mutable std::mutex mutex_;  // orders commits (log order == apply order) and guards views_
  std::unique_ptr<Views> views_;
  RecoveryReport recovery_;
};

}  // namespace tally

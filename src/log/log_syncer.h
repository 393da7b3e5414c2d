// Runs fsync off the request path, as the durability mode says:
//  - interval: every `interval` (200 ms by default); acks do not wait for it.
//  - always: as soon as someone asks; every caller waiting meanwhile shares the next fsync (group commit).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>

#include "log/segment_log.h"

namespace tally {

enum class SyncMode { kInterval, kAlways };

class LogSyncer {
 public:
  // `on_durable` runs on the syncer thread after each fsync, with the durable LSN; it must be quick.
  LogSyncer(SegmentLog* log, SyncMode mode, std::chrono::milliseconds interval,
            std::function<void(uint64_t durable_lsn)> on_durable);
  // Stops the thread after a last fsync.
  ~LogSyncer();
  LogSyncer(const LogSyncer&) = delete;
  LogSyncer& operator=(const LogSyncer&) = delete;

  // Asks for an fsync soon (in interval mode it also shortens the wait).
  void RequestSync();
  SyncMode mode() const { return mode_; }
  // fsyncs done and the time they took, for /metrics.
  uint64_t fsyncs() const { return fsyncs_.load(std::memory_order_relaxed); }
  uint64_t fsync_micros() const { return fsync_micros_.load(std::memory_order_relaxed); }

 private:
  void Run();

  SegmentLog* const log_;
  const SyncMode mode_;
  const std::chrono::milliseconds interval_;
  const std::function<void(uint64_t)> on_durable_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool requested_ = false;  // guarded by mutex_
  bool stopping_ = false;   // guarded by mutex_
  std::atomic<uint64_t> fsyncs_{0};
  std::atomic<uint64_t> fsync_micros_{0};
  std::thread thread_;
};

}  // namespace tally

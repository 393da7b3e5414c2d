#include "log/log_syncer.h"

#include <spdlog/spdlog.h>

namespace tally {

LogSyncer::LogSyncer(SegmentLog* log, SyncMode mode, std::chrono::milliseconds interval,
                     std::function<void(uint64_t)> on_durable)
    : log_(log), mode_(mode), interval_(interval), on_durable_(std::move(on_durable)), thread_([this] {
        Run();
      }) {}

LogSyncer::~LogSyncer() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  thread_.join();
}

void LogSyncer::RequestSync() {
  {
    std::lock_guard lock(mutex_);
    if (requested_) return;
    requested_ = true;
  }
  wake_.notify_one();
}

void LogSyncer::Run() {
  bool stopping = false;
  while (!stopping) {
    {
      std::unique_lock lock(mutex_);
      if (mode_ == SyncMode::kAlways) {
        wake_.wait(lock, [this] { return requested_ || stopping_; });
      } else {
        wake_.wait_for(lock, interval_, [this] { return requested_ || stopping_; });
      }
      requested_ = false;
      stopping = stopping_;
    }
    if (log_->failed()) {
      if (on_durable_) on_durable_(log_->durable_lsn());  // lets waiters see the failure and answer
      continue;
    }
    if (log_->durable_lsn() >= log_->next_lsn()) continue;
    const auto started = std::chrono::steady_clock::now();
    Status synced = log_->Sync();
    fsync_micros_.fetch_add(static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
                                                      std::chrono::steady_clock::now() - started)
                                                      .count()),
                            std::memory_order_relaxed);
    fsyncs_.fetch_add(1, std::memory_order_relaxed);
    if (!synced.ok()) spdlog::critical("log fsync failed, refusing further writes: {}", synced.message());
    if (on_durable_) on_durable_(log_->durable_lsn());
  }
}

}  // namespace tally

// What GET /metrics reports (Prometheus text format 0.0.4). Each event loop thread counts into its own
// slot (relaxed atomics on its own cache lines); a scrape sums the slots.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "engine/engine.h"
#include "http/request_head.h"
#include "http/route_table.h"
#include "log/log_syncer.h"

namespace tally {

class DayCounts;

// The label of a request's route (route_table.h), from its route path (RoutePathOf).
RouteLabel RouteOf(std::string_view path);

// Request latency bucket bounds, in microseconds.
inline constexpr std::array<uint64_t, 12> kLatencyBoundsMicros = {
    100, 250, 500, 1'000, 2'500, 5'000, 10'000, 25'000, 50'000, 100'000, 250'000, 1'000'000};

struct alignas(64) ThreadMetrics {
  std::array<std::array<std::atomic<uint64_t>, 6>, kRouteLabels>
      responses{};  // by status class 1xx..5xx (0 unused)
  std::array<std::array<std::atomic<uint64_t>, kLatencyBoundsMicros.size() + 1>, kRouteLabels> latency{};
  std::array<std::atomic<uint64_t>, kRouteLabels> latency_sum_micros{};
  std::array<std::atomic<uint64_t>, 4> events{};  // accepted, duplicate, correction, rejected (ApplyOutcome)
  std::atomic<uint64_t> late_events{0};  // accepted with an event time before the hour they arrived in
  std::array<std::atomic<uint64_t>, kLimits> refused{};  // requests or connections refused, by Limit

  void CountResponse(RouteLabel route, int status, uint64_t micros);
  void CountOutcome(ApplyOutcome outcome);
  void CountRefused(Limit limit) {
    refused[static_cast<size_t>(limit)].fetch_add(1, std::memory_order_relaxed);
  }
};

class Metrics {
 public:
  explicit Metrics(int threads);
  ThreadMetrics* ForThread(int index) { return threads_[index].get(); }
  // Rejected input by the field its reason names ("timestamp: ..." -> timestamp); at most kMaxReasons
  // distinct fields, the rest counted as "other" (a client chooses some field names).
  void CountRejected(std::string_view reason);

  // `day_counts`: the top lists' kept sums (query/day_counts.h), or null.
  std::string Render(Engine& engine, ReadConsistency* cluster, const DayCounts* day_counts) const;
  // Set once, before the loops run.
  void set_syncer(const LogSyncer* syncer) { syncer_ = syncer; }

 private:
  static constexpr size_t kMaxReasons = 32;
  std::vector<std::unique_ptr<ThreadMetrics>> threads_;
  const LogSyncer* syncer_ = nullptr;
  mutable std::mutex reasons_mutex_;
  std::map<std::string, uint64_t> rejected_by_reason_;
};

}  // namespace tally

// tally load: drives a tally server over HTTP and reports throughput and latency.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <string>

#include "tally/status.h"
#include "tools/tally/event_mix.h"

namespace tally {

// Latencies in microseconds in log-linear buckets (32 per power of two: about 3 % precision), as in
// HdrHistogram.
class LatencyHistogram {
 public:
  void Record(uint64_t micros);
  uint64_t Percentile(double percent) const;
  uint64_t count() const { return count_; }
  uint64_t max() const { return max_; }

 private:
  static constexpr int kSubBuckets = 32;
  static size_t IndexOf(uint64_t micros);
  static uint64_t UpperBoundOf(size_t index);
  std::array<uint64_t, 64 * kSubBuckets> counts_{};
  uint64_t count_ = 0;
  uint64_t max_ = 0;
};

struct LoadOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 8080;
  int connections = 64;
  uint64_t events = 0;  // stop after this many events (0: run for `seconds`)
  double seconds = 10;
  int batch = 1000;  // events per POST /v1/events (NDJSON); 0: the take-home protocol
  double rate = 0;   // events per second to aim for (0: as fast as possible)
  EventMixOptions mix;
};

struct LoadReport {
  uint64_t events = 0;  // in requests answered 2xx
  uint64_t requests = 0;
  std::map<int, uint64_t> failures;  // status (0: connection error) -> count
  double seconds = 0;
  LatencyHistogram latency;
};

Status RunLoad(const LoadOptions& options, LoadReport* report);
std::string FormatReport(const LoadOptions& options, const LoadReport& report);

}  // namespace tally

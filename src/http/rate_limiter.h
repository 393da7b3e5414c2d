// Per-client ingest rate: a token bucket per client (the API key's name, or the client's address when
// the server has no keys), shared by every event loop.
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include <absl/container/flat_hash_map.h>

namespace tally {

class RateLimiter {
 public:
  using Clock = std::chrono::steady_clock;

  // `events_per_second` 0: no limit. A client may send up to `burst` events at once after being quiet.
  RateLimiter(uint64_t events_per_second, uint64_t burst);

  bool enabled() const { return rate_ > 0; }
  uint64_t rate() const { return static_cast<uint64_t>(rate_); }

  // Takes `events` from the client's bucket. A request larger than the burst passes when the bucket is
  // full and leaves it in debt, so a big batch is slowed, never refused forever. When the bucket does not
  // hold enough, nothing is taken and the answer is how long until it will.
  std::optional<std::chrono::milliseconds> TryTake(std::string_view client, uint64_t events,
                                                   Clock::time_point now);

 private:
  struct Bucket {
    double tokens;
    Clock::time_point updated;
  };
  void ForgetFullBuckets(Clock::time_point now);

  const double rate_;
  const double burst_;
  std::mutex mutex_;
  absl::flat_hash_map<std::string, Bucket> buckets_;
};

}  // namespace tally

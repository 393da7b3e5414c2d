#include "http/rate_limiter.h"

#include <algorithm>
#include <cmath>

namespace tally {
namespace {

// Without keys, clients are told apart by address; so that many addresses cannot grow the table without
// bound, buckets that have refilled (and so hold no state worth keeping) are dropped past this size.
constexpr size_t kMaxTrackedClients = 65'536;

}  // namespace

RateLimiter::RateLimiter(uint64_t events_per_second, uint64_t burst)
    : rate_(static_cast<double>(events_per_second)),
      burst_(static_cast<double>(std::max<uint64_t>(burst, 1))) {}

std::optional<std::chrono::milliseconds> RateLimiter::TryTake(std::string_view client, uint64_t events,
                                                              Clock::time_point now) {
  if (rate_ <= 0) return std::nullopt;
  std::lock_guard lock(mutex_);
  auto found = buckets_.find(absl::string_view(client.data(), client.size()));
  if (found == buckets_.end()) {
    if (buckets_.size() >= kMaxTrackedClients) ForgetFullBuckets(now);
    found = buckets_.emplace(std::string(client), Bucket{burst_, now}).first;
  }
  Bucket& bucket = found->second;
  const double elapsed = std::chrono::duration<double>(now - bucket.updated).count();
  bucket.tokens = std::min(burst_, bucket.tokens + std::max(0.0, elapsed) * rate_);
  bucket.updated = now;
  const double needed = std::min(static_cast<double>(events), burst_);
  if (bucket.tokens >= needed) {
    bucket.tokens -= static_cast<double>(events);
    return std::nullopt;
  }
  const double wait_seconds = (needed - bucket.tokens) / rate_;
  return std::chrono::milliseconds(static_cast<int64_t>(std::ceil(wait_seconds * 1000)));
}

void RateLimiter::ForgetFullBuckets(Clock::time_point now) {
  absl::erase_if(buckets_, [&](const auto& entry) {
    const double elapsed = std::chrono::duration<double>(now - entry.second.updated).count();
    return entry.second.tokens + elapsed * rate_ >= burst_;
  });
}

}  // namespace tally

// GET /v1/stats and GET /v1/top, computed from the views: exact counts and exact unique users.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <roaring/roaring.hh>

#include "query/day_counts.h"
#include "views/views.h"

namespace tally {

enum class Bucket { kHour, kDay, kAll };

struct EventFilter {
  std::optional<std::string> type, product_id, store_id;
};

struct StatsRequest {
  Millis from = 0;  // inclusive
  Millis to = 0;    // exclusive
  Bucket bucket = Bucket::kHour;
  EventFilter filter;
};

struct Aggregate {
  uint64_t events = 0;
  std::vector<std::pair<std::string, uint64_t>> by_type;  // type name -> events, by name
  uint64_t unique_users = 0;
};

struct StatsBucket {
  Millis start = 0;
  Millis end = 0;
  Aggregate aggregate;
};

struct StatsResult {
  std::vector<StatsBucket> buckets;  // every bucket of the range, empty ones included
  Aggregate total;                   // unique_users exact over the whole range
};

inline constexpr size_t kMaxBuckets = 10'000;

// An error when the range would need more than kMaxBuckets buckets.
Result<StatsResult> ComputeStats(const Views& views, const StatsRequest& request);

enum class TopDimension { kProduct, kStore };

struct TopRequest {
  TopDimension by = TopDimension::kProduct;
  Millis from = 0;
  Millis to = 0;
  std::optional<std::string> type;
  size_t limit = 10;
};

struct TopEntry {
  std::string key;
  uint64_t events = 0;
  uint64_t unique_users = 0;
};

// The keys with the most events (ties: by key), each with its exact unique users.
std::vector<TopEntry> ComputeTop(const Views& views, const TopRequest& request);

// Runs its argument on the views under their locks, as Engine::Read does.
using ReadViews = std::function<void(const std::function<void(const Views&)>&)>;
// Up to this many rows counted one by one (32 MiB of copies) are copied out of the views for a top list.
inline constexpr uint64_t kMaxTopRowsCopied = uint64_t{1} << 22;

// The same list computed so that the views' locks (the writers') are held only while it takes what it
// needs (`read`, once) and names the keys it counted (`read` again): the sealed hours' indexes, which never
// change, are counted and their users collected between, without the locks (a month's top products over
// 100 M events: 0.25 s with ingest waiting). The rows it counts one by one (those after an hour's seal, and
// hours not sealed) are copied while the locks are held; past `max_rows_copied` of them (a backfill not
// sealed yet) the whole list is computed under the locks. The same answer as ComputeTop, as of the first
// read. `day_counts` (may be null) keeps whole days' sums of their sealed hours from one list to the next.
std::vector<TopEntry> ComputeTopBetweenReads(const ReadViews& read, const TopRequest& request,
                                             DayCounts* day_counts,
                                             uint64_t max_rows_copied = kMaxTopRowsCopied);

}  // namespace tally

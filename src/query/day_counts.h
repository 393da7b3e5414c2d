// A whole day's events by key (product or store) in one shard, summed once from its sealed hours' indexes
// and kept for the next top list: a month's list then reads 30 of these instead of 720 hours' indexes,
// which were most of its time. A day's sums are used only while its hours' seals are the very ones they
// were summed from: a late event sealed again, a retention cut, or a sealed hour file installed after a
// start replaces a seal, and the next list sums that day again. Rows counted one by one (after an hour's
// seal, or of an hour not sealed) and the rows retracted since a seal are not in the sums: the list counts
// them as before.
#pragma once

#include <compare>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <utility>
#include <vector>

#include "views/shard_views.h"

namespace tally {

class DayCounts {
 public:
  struct Key {
    uint32_t shard = 0;
    int64_t day = 0;  // days since the epoch, UTC
    bool by_product = true;
    std::optional<uint32_t> type;  // the shard's type index, or every type
    auto operator<=>(const Key&) const = default;
  };
  // The day's sealed hours the sums are made of, in hour order.
  using Seals = std::vector<std::pair<int64_t, std::shared_ptr<const SealedHour>>>;
  // The keys with events, in key order, and their events.
  struct Counts {
    std::vector<uint32_t> keys;
    std::vector<uint64_t> events;
  };

  // (About 12 bytes a key a day and shard: a month of 20 000 products in two shards, about 14 MiB for each
  // type asked and for every type together.)
  static constexpr size_t kDefaultMaxBytes = size_t{128} << 20;
  explicit DayCounts(size_t max_bytes = kDefaultMaxBytes) : max_bytes_(max_bytes) {}

  // The day's sums if they were made from these very seals.
  std::shared_ptr<const Counts> Find(const Key& key, const Seals& seals) const;
  // Keeps the day's sums, made from `seals`. Days whose seals were replaced or dropped since are forgotten
  // then; past the bytes allowed, the days least recently found or kept are, until the new one fits (a
  // dashboard that asks the same lists again keeps its days; one that asks a new range or type each time
  // pushes out the oldest, never everything at once).
  void Keep(const Key& key, const Seals& seals, std::shared_ptr<const Counts> counts);
  // Sums the day's events by key from its seals' indexes (keys below `key_count`).
  static std::shared_ptr<const Counts> Sum(const Seals& seals, bool by_product, std::optional<uint32_t> type,
                                           uint32_t key_count);

  size_t days() const;
  size_t bytes() const;

 private:
  struct Kept {
    // Weak: a seal replaced or dropped is freed as ever, and then matches no seal again.
    std::vector<std::pair<int64_t, std::weak_ptr<const SealedHour>>> seals;
    std::shared_ptr<const Counts> counts;
    mutable uint64_t last_used = 0;  // the use_clock_ of its last Find or Keep (guarded by mutex_)
  };
  static size_t BytesOf(const Kept& kept);

  const size_t max_bytes_;
  mutable std::mutex mutex_;
  std::map<Key, Kept> kept_;        // guarded by mutex_
  size_t bytes_ = 0;                // guarded by mutex_
  mutable uint64_t use_clock_ = 0;  // guarded by mutex_: counts Finds that hit and Keeps
};

}  // namespace tally

// One shard's part of the views: the events of the users whose id hashes to this shard. Every event of a
// user lands in the same shard, so the shards' user sets are disjoint and unique users add up exactly
// across shards.
//
// Every event that is current or a duplicate becomes a row of the shard's event table (where the whole
// event sits in the log, and what aggregation and filtering need). Per UTC hour, cells hold counts by type
// and exact user sets, for the hour and per product and store. A correction retracts the row it replaces
// from every view of that row's shard; whether the user leaves a cell is decided from the user's timeline.
// A shard does only what it is told by the log-ordered step (views.h): it decides nothing across shards.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <absl/container/btree_map.h>
#include <absl/container/flat_hash_map.h>

#include "tally/event.h"
#include "tally/status.h"
#include "views/cell.h"
#include "views/chunked_vector.h"
#include "views/dictionary.h"

namespace tally {

inline constexpr uint32_t kNoDimension = UINT32_MAX;

enum class RowState : uint8_t {
  kCurrent,     // counted everywhere
  kSuperseded,  // a higher version of the same event_id replaced it
  kDuplicate,   // the same or a lower version of an event_id already seen: no effect
};

struct EventRow {
  Millis timestamp;
  uint64_t position;  // LogPosition::Packed() of the whole record
  uint32_t user;
  uint32_t type;
  uint32_t product;  // kNoDimension when absent
  uint32_t store;    // kNoDimension when absent
  uint32_t version;
  RowState state;
};

struct HourData {
  Cell all;
  absl::flat_hash_map<uint32_t, Cell> by_product;
  absl::flat_hash_map<uint32_t, Cell> by_store;
  ChunkedVector<uint32_t, 10> rows;  // every row whose event time falls in the hour, in log order (any state)
};

struct TypeStats {
  bool seen = false;
  Millis first_seen = 0;  // received time of the first event of this type
  Millis last_seen = 0;
  uint64_t events = 0;  // current events of this type
};

struct TakeHomeCounts {
  uint64_t unique_users = 0;
  uint64_t clicks = 0;
  uint64_t impressions = 0;
  bool operator==(const TakeHomeCounts&) const = default;
  TakeHomeCounts& operator+=(const TakeHomeCounts& other) {
    unique_users += other.unique_users;
    clicks += other.clicks;
    impressions += other.impressions;
    return *this;
  }
};

class ShardViews {
 public:
  // Adds the event as the shard's next row: counted everywhere (kCurrent) or only kept for lookups
  // (kDuplicate). Returns the row's index.
  uint32_t Include(const Event& event, uint64_t position, RowState state);
  // Takes a current row back out of every view (a correction replaced it).
  void Retract(uint32_t row_index);

  TakeHomeCounts TakeHomeHour(int64_t hour) const;

  const absl::btree_map<int64_t, HourData>& hours() const { return hours_; }
  const ChunkedVector<EventRow>& rows() const { return rows_; }
  const Dictionary& users() const { return users_; }
  const Dictionary& types() const { return types_; }
  const Dictionary& products() const { return products_; }
  const Dictionary& stores() const { return stores_; }
  // A user's current rows, ordered by (event time, row); null for an unknown user.
  const std::vector<uint32_t>* Timeline(uint32_t user) const {
    return user < timelines_.size() ? &timelines_[user] : nullptr;
  }
  const std::vector<TypeStats>& type_stats() const { return type_stats_; }

  void Save(std::string* out) const;
  // Reads one shard from the front of `*bytes` and advances past it. Refuses bytes that do not parse or
  // whose indices do not fit.
  static Result<std::unique_ptr<ShardViews>> Load(std::string_view* bytes);

 private:
  void Count(uint32_t row_index, Millis received_at);

  ChunkedVector<EventRow> rows_;
  Dictionary users_, types_, products_, stores_;
  absl::btree_map<int64_t, HourData> hours_;
  std::vector<std::vector<uint32_t>> timelines_;  // by user index
  std::vector<TypeStats> type_stats_;             // by type index
};

}  // namespace tally

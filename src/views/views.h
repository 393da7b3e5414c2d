// Everything queries read, built only by applying log records in log order (the materializer's target).
// Applying is deterministic: the same records in the same order give the same views on every server.
//
// Every event record becomes a row of the event table (what aggregation and filtering need, and where the
// whole event sits in the log). Per UTC hour, cells hold counts by type and exact user sets, for the hour
// and per product and store. A correction (same event_id, higher version) retracts the row it replaces
// from every view; whether a user leaves a cell is decided from that user's timeline.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <absl/container/btree_map.h>
#include <absl/container/flat_hash_map.h>

#include "ingest/schema.h"
#include "log/record.h"
#include "log/segment_log.h"
#include "views/cell.h"
#include "views/chunked_vector.h"
#include "views/dictionary.h"
#include "views/event_id_index.h"

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

struct SchemaEntry {
  Schema schema;
  Millis updated_at = 0;
};

struct RejectedRow {
  Millis received_at;
  uint64_t position;
};

struct TakeHomeCounts {
  uint64_t unique_users = 0;
  uint64_t clicks = 0;
  uint64_t impressions = 0;
  bool operator==(const TakeHomeCounts&) const = default;
};

enum class ApplyOutcome { kAccepted, kDuplicate, kCorrection, kRejectedKept, kSchemaChanged };

class Views {
 public:
  ApplyOutcome Apply(const LogRecord& record, LogPosition position);

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
  // Every row carrying this event id, in log order (empty for an unknown id).
  std::vector<uint32_t> RowsOfId(std::string_view event_id) const;
  const std::vector<RejectedRow>& rejected() const { return rejected_; }
  const absl::btree_map<std::string, SchemaEntry>& schemas() const { return schemas_; }
  const std::vector<TypeStats>& type_stats() const { return type_stats_; }
  uint64_t events_applied() const { return rows_.size(); }

  // The whole state, for a checkpoint; Load refuses bytes that do not parse or whose indices do not fit.
  void Save(std::string* out) const;
  static Result<std::unique_ptr<Views>> Load(std::string_view bytes);

  // A hash of everything queries can see (not of where records sit in the log), to compare two servers
  // or a server with a replay of its log.
  uint64_t Digest() const;

 private:
  ApplyOutcome ApplyEvent(const Event& event, LogPosition position);
  void Include(uint32_t row_index, Millis received_at);
  void Retract(uint32_t row_index);

  ChunkedVector<EventRow> rows_;
  Dictionary users_, types_, products_, stores_;
  absl::btree_map<int64_t, HourData> hours_;
  std::vector<std::vector<uint32_t>> timelines_;  // by user index
  EventIdIndex ids_;
  std::vector<RejectedRow> rejected_;
  absl::btree_map<std::string, SchemaEntry> schemas_;
  std::vector<TypeStats> type_stats_;  // by type index
};

}  // namespace tally

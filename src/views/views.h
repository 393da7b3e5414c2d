// Everything queries read, built only by applying log records in log order (the materializer's target).
// Applying is deterministic: the same records in the same order give the same answers on every server,
// whatever its number of shards.
//
// Applying a record has two halves. The log-ordered half (Sequence) runs for one record at a time in log
// order and decides what only a view of all shards can: whether an event id is new, a duplicate or a
// correction (a correction may move an event to another user, so to another shard), the rejected input,
// the schemas; it also numbers the rows each shard will add. The shard half (RunShardSteps) carries out
// those decisions in one shard, for the users whose id hashes to it; different shards run concurrently,
// each in log order.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <absl/container/btree_map.h>

#include "common/byte_sink.h"
#include "ingest/schema.h"
#include "log/record.h"
#include "log/segment_log.h"
#include "views/event_id_index.h"
#include "views/shard_views.h"

namespace tally {

inline constexpr uint32_t kMaxShards = 256;  // a shard number fits the id index's byte

// The shard of a user: stable across versions and machines (checkpoints and cluster nodes rely on it).
uint32_t ShardOfUser(std::string_view user_id, uint32_t shard_count);

struct SchemaEntry {
  Schema schema;
  Millis updated_at = 0;
  uint64_t position = 0;  // of the record that set it: the log must keep it (Views::FirstPositionNeeded)
};

struct RejectedRow {
  Millis received_at;
  uint64_t position;
};

enum class ApplyOutcome { kAccepted, kDuplicate, kCorrection, kRejectedKept, kSchemaChanged, kRetentionCut };

// The views that are not split by user: event ids, rejected input, schemas.
class GlobalViews {
 public:
  explicit GlobalViews(size_t hot_id_set) : ids_(hot_id_set) {}
  const EventIdIndex& ids() const { return ids_; }
  const std::vector<RejectedRow>& rejected() const { return rejected_; }
  const absl::btree_map<std::string, SchemaEntry, std::less<>>& schemas() const { return schemas_; }
  // Cluster mode: the last stream sequence applied (0: none, or not a cluster).
  uint64_t stream_sequence() const { return stream_sequence_; }
  // Hours before it have been dropped by retention (0: none).
  int64_t first_kept_hour() const { return first_kept_hour_; }

 private:
  friend class Views;
  uint64_t stream_sequence_ = 0;
  int64_t first_kept_hour_ = 0;
  std::optional<uint64_t> last_cut_position_;  // of the newest retention cut applied
  EventIdIndex ids_;
  std::vector<RejectedRow> rejected_;
  absl::btree_map<std::string, SchemaEntry, std::less<>> schemas_;
};

// What one shard does for one record.
struct ShardStep {
  enum class Kind : uint8_t { kIncludeCurrent, kIncludeDuplicate, kRetract, kDropHours };
  Kind kind;
  uint32_t record;   // the record's index in its batch
  RowRef retracted;  // kRetract: the row taken back
};

// The log-ordered decisions for a batch of records: the outcome of each, and each shard's steps.
struct ApplyPlan {
  // Room for `records` records' steps without growing (a record makes at most two steps, rarely more than
  // one).
  ApplyPlan(uint32_t shard_count, size_t records) : steps(shard_count) {
    if (records <= 1) return;  // one record (replay): most shards get no step
    outcomes.reserve(records);
    for (auto& shard_steps : steps) shard_steps.reserve(records / shard_count + records / 16 + 1);
  }
  std::vector<std::vector<ShardStep>> steps;  // by shard, in log order
  std::vector<ApplyOutcome> outcomes;         // by record
  std::vector<size_t> id_hashes;              // by record: its event id's hash (PrefetchIds)
};

class Views {
 public:
  // hot_id_set: the ids the event-id index's hash set holds (EventIdIndex).
  explicit Views(uint32_t shard_count = 1, size_t hot_id_set = EventIdIndex::kDefaultHotIds);

  // Before the log-ordered half of a batch: hashes the batch's event ids (once: Sequence finds them by
  // these hashes) and starts loading the event-id index where they are.
  void PrefetchIds(std::span<const RecordView> records, ApplyPlan* plan) const;
  // The log-ordered half for record number `record_index` of a batch (records in log order), after
  // PrefetchIds of the batch.
  void Sequence(const RecordView& record, uint32_t record_index, uint64_t position, ApplyPlan* plan);
  // The shard half: `shard` carries out its steps of `plan`; `records` and `positions` are the batch's.
  void RunShardSteps(uint32_t shard, const ApplyPlan& plan, std::span<const RecordView> records,
                     std::span<const uint64_t> positions);
  // Both halves for a batch, on this thread (replay); the outcomes by record.
  std::vector<ApplyOutcome> ApplyBatch(std::span<const RecordView> records,
                                       std::span<const uint64_t> positions);
  // Both halves for one record, on this thread (tests, tools).
  ApplyOutcome Apply(const RecordView& record, LogPosition position);
  ApplyOutcome Apply(const LogRecord& record, LogPosition position) {
    return Apply(ViewOf(record), position);
  }

  uint32_t shard_count() const { return static_cast<uint32_t>(shards_.size()); }
  const ShardViews& shard(uint32_t index) const { return *shards_[index]; }
  // Sealing (shard_views.h) changes no answer, only how per-product and per-store answers are found.
  ShardViews& shard_to_seal(uint32_t index) { return *shards_[index]; }
  // Seals the hours of every shard that ShardViews::CollectSealJobs picks, on this thread (tests,
  // benchmarks).
  void SealHours(uint32_t quiet_passes, uint32_t busy_rows = 0);
  // Moves the event-id index's older part into `cold` (EventIdIndex::MoveColdChunks).
  Result<size_t> MoveColdIds(const std::shared_ptr<ColdChunkFile>& cold, size_t hot_ids,
                             int64_t first_hot_hour) {
    return global_.ids_.MoveColdChunks(cold, hot_ids, first_hot_hour);
  }
  IdRuns& id_runs_to_merge() { return global_.ids_.runs_to_merge(); }
  uint32_t ShardOf(std::string_view user_id) const { return ShardOfUser(user_id, shard_count()); }
  const GlobalViews& global() const { return global_; }
  // Every row carrying this event id that retention has not dropped, in log order (empty for an unknown
  // id, or one whose rows were all dropped).
  std::vector<RowRef> RowsOfId(std::string_view event_id) const;
  // The log position of the oldest record the views still need (a kept row, rejected input or schema, the
  // newest retention cut), or nullopt if they need none: the log before it may be deleted once a
  // checkpoint covers it.
  std::optional<uint64_t> FirstPositionNeeded(bool count_schemas = true) const;
  // The oldest hour any shard holds (nullopt: none).
  std::optional<int64_t> OldestHour() const;
  // The schemas whose record is before `position`: saying them again lets the log before it go.
  std::vector<SchemaChange> SchemasSetBefore(uint64_t position) const;
  void set_stream_sequence(uint64_t sequence) { global_.stream_sequence_ = sequence; }

  TakeHomeCounts TakeHomeHour(int64_t hour) const;
  // Every type with events in any shard, its statistics summed over the shards.
  std::map<std::string, TypeStats> TypeStatsByName() const;
  uint64_t rows() const;  // current, superseded and duplicate event rows in all shards
  // (shard, hour) pairs by tier: sealed (every row in a part, as it is), sealed but for a few retracted
  // rows and quiet (HourData::WaitsToMerge), or hot; the parts of their seals and their indexes' bytes.
  struct Tiers {
    uint64_t hot_hours = 0, sealed_hours = 0, late_rows_hours = 0, sealed_parts = 0, sealed_bytes = 0;
    uint64_t frozen_hours = 0;  // whose cell's user sets are frozen in the cold file (Cell::Freeze)
  };
  Tiers tiers() const;

  // The whole state, for a checkpoint (written to `out` as it is saved: nothing is copied whole); Load
  // refuses bytes that do not parse, whose indices do not fit, or that were saved with another number of
  // shards. `refer_to_cold`: the chunks in the cold file are saved as their place there and checksum (a
  // checkpoint of a server, whose cold file is kept), not copied.
  void Save(ByteSink* out, bool refer_to_cold = false) const;
  void Save(std::string* out) const;
  // Bytes in an older layout than kRowsByHour are refused. When `mapping` holds the bytes and copies on
  // write (a checkpoint mapped so), the rows are used where they are instead of copied; the chunks saved as
  // their place in the cold file are adopted from `cold` (ColdChunkFile::Adopt), and refused without it.
  static Result<std::unique_ptr<Views>> Load(std::string_view bytes, uint32_t shard_count,
                                             SavedLayout layout = kSavedLayout,
                                             const std::shared_ptr<const MappedFile>& mapping = nullptr,
                                             const std::shared_ptr<ColdChunkFile>& cold = nullptr,
                                             size_t hot_id_set = EventIdIndex::kDefaultHotIds);

  // A hash of everything queries can see, in a form that does not depend on the number of shards nor on
  // where records sit in the log: to compare servers, shard counts, or a server with a replay of its log.
  uint64_t Digest() const;

 private:
  // Load's part after the shards: the global views.
  Status LoadGlobal(std::string_view bytes, const std::shared_ptr<const MappedFile>& mapping,
                    const std::shared_ptr<ColdChunkFile>& cold);

  GlobalViews global_;
  std::vector<std::unique_ptr<ShardViews>> shards_;
};

}  // namespace tally

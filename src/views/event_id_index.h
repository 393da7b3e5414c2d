// Event ids (API.md: the idempotency key) to the rows that carry them. Built for many millions of ids:
// the newest ids are in a hash set of 4-byte id numbers (hashing and comparing through the texts); once it
// holds `hot_ids`, they move to sorted runs of fingerprints (id_runs.h), which live in the cold file with
// a filter on the heap, so that the heap holds a bounded set plus a few bits an id. The list of rows is
// kept only for the few ids seen more than once, and a canonical lowercase UUID (what SDKs and the server
// itself make) is kept as its 16 bytes instead of 36 characters.
//
// The texts live in arenas by the UTC day of the id's current row, so that retention can forget the ids
// of the hours it drops at once and free their texts' memory with each day's last hour (ForgetBefore); the
// numbers of forgotten ids are given to new ones. Rows are (shard, row) references: the index is shared by
// all shards, because a correction may move an event to another user.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <absl/container/btree_map.h>
#include <absl/container/flat_hash_map.h>
#include <absl/container/flat_hash_set.h>
#include <absl/container/inlined_vector.h>

#include "tally/status.h"
#include "views/chunked_vector.h"
#include "views/cold_chunks.h"
#include "views/id_runs.h"

namespace tally {

// A row of one shard: its hour and its log position (ShardViews::Find), which stay the same whatever the
// shard seals or merges.
struct RowRef {
  uint32_t shard = 0;
  int32_t hour = 0;
  uint64_t position = 0;
  bool operator==(const RowRef&) const = default;
};

class EventIdIndex {
 public:
  // Ids in the hash set before they move to the runs.
  static constexpr size_t kDefaultHotIds = size_t{1} << 19;
  explicit EventIdIndex(size_t hot_ids = kDefaultHotIds);
  EventIdIndex(const EventIdIndex&) = delete;  // the set's hasher points back here
  EventIdIndex& operator=(const EventIdIndex&) = delete;

  // The hash the id is found by, the same in every process (its fingerprints are saved). A batch hashes
  // each id once (HashOf), prefetches its slot (Prefetch), then finds it (FindOrInsert) with the same hash.
  static size_t HashOf(std::string_view id);
  // The id's number, adding it (with `row` as its first and current row, of `version`) if new.
  std::pair<uint32_t, bool> FindOrInsert(std::string_view id, size_t hash, RowRef row, uint32_t version);
  std::pair<uint32_t, bool> FindOrInsert(std::string_view id, RowRef row, uint32_t version) {
    return FindOrInsert(id, HashOf(id), row, version);
  }
  std::optional<uint32_t> Find(std::string_view id) const;
  // Starts loading where the id of this hash would be, so that a FindOrInsert shortly after does not wait
  // for memory.
  void Prefetch(size_t hash) const {
    ids_.prefetch(Hashed{{}, hash});
    runs_.Prefetch(hash);
  }

  RowRef current(uint32_t id) const { return {current_shard_[id], hour_[id], current_position_[id]}; }
  uint32_t current_version(uint32_t id) const { return current_version_[id]; }
  // Another row with this id that changes nothing (the same or a lower version).
  void AddDuplicate(uint32_t id, RowRef row);
  // Another row with this id that replaces the current one (a higher version).
  void AddCorrection(uint32_t id, RowRef row, uint32_t version);
  // Retention: forgets every id whose current row is in an hour before `first_kept_hour`.
  void ForgetBefore(int64_t first_kept_hour);

  // Moves the columns of the ids numbered before the newest `hot_ids`, and the texts of the ids of days
  // before the one of `first_hot_hour` (ArenaRegion::MoveToCold: a day that got no new id since the last
  // call is quiet) and the full regions of that day's, into `cold` (cold_chunks.h). Returns the chunks and
  // regions moved.
  Result<size_t> MoveColdChunks(const std::shared_ptr<ColdChunkFile>& cold, size_t hot_ids,
                                int64_t first_hot_hour);
  // For a checkpoint: the columns and the runs as they are in memory, each day's texts as its arena holds
  // them, the hash set's ids, the free numbers and the rows of ids seen more than once.
  void Save(saved::Writer* out) const;
  // Into an empty index: the columns and runs are used where they are when `mapping` (holding the bytes)
  // copies on write, the texts are copied into arenas. Refuses what does not parse, a text outside its
  // day's arena, or a row of no shard (one of `shards`).
  bool Load(saved::Reader* in, const std::shared_ptr<const MappedFile>& mapping, uint32_t shards);
  // Every row with this id, in log order.
  std::vector<RowRef> Rows(uint32_t id) const;
  // The same without a copy: the rows of an id seen more than once, or else `*only` set to its one row
  // (valid until the index next changes).
  std::span<const RowRef> Rows(uint32_t id, RowRef* only) const;
  std::string Text(uint32_t id) const;
  // The same written to `buffer` when it must be made (a packed UUID's text).
  static constexpr size_t kUuidTextBytes = 36;
  std::string_view Text(uint32_t id, std::array<char, kUuidTextBytes>* buffer) const;
  // The hour of the id's current row.
  int64_t hour(uint32_t id) const { return hour_[id]; }
  // Calls `visit(number)` for every id known, in no particular order.
  template <typename Visit>
  void ForEach(Visit&& visit) const {
    for (uint32_t id = 0; id < hour_.size(); ++id) {
      if (hour_[id] != kFree) visit(id);
    }
  }
  size_t size() const { return ids_.size() + runs_.size(); }
  // The arenas of texts (one a day).
  size_t arenas() const { return generations_.size(); }
  const IdRuns& runs() const { return runs_; }
  // The runs' merges change no answer, only how many runs a search reads (IdRuns::TakeMerge).
  IdRuns& runs_to_merge() { return runs_; }

 private:
  // An id as an arena holds it: a UUID's 16 bytes (packed) or the text.
  struct Stored {
    std::string_view bytes;
    bool packed = false;
    bool operator==(const Stored&) const = default;
  };
  // The stored form of `text`; a packed one is written to `buffer`.
  static Stored StoredForm(std::string_view text, char (&buffer)[16]);
  Stored StoredOf(uint32_t id) const {
    const uint8_t length = text_length_[id];
    const char* text = TextAt(text_place_[id]);
    return length == 0 ? Stored{std::string_view(text, 16), true}
                       : Stored{std::string_view(text, length), false};
  }
  // A stored form with its hash already computed.
  struct Hashed {
    Stored stored;
    size_t hash;
  };
  static size_t HashOfStored(const Stored& stored);
  struct Hash {
    using is_transparent = void;
    const EventIdIndex* index;
    size_t operator()(uint32_t id) const { return HashOfStored(index->StoredOf(id)); }
    size_t operator()(const Stored& stored) const { return HashOfStored(stored); }
    size_t operator()(const Hashed& hashed) const { return hashed.hash; }
  };
  struct Equal {
    using is_transparent = void;
    const EventIdIndex* index;
    bool operator()(uint32_t a, uint32_t b) const { return a == b; }
    bool operator()(uint32_t id, const Stored& stored) const { return index->StoredOf(id) == stored; }
    bool operator()(const Stored& stored, uint32_t id) const { return index->StoredOf(id) == stored; }
    bool operator()(uint32_t id, const Hashed& hashed) const { return index->StoredOf(id) == hashed.stored; }
    bool operator()(const Hashed& hashed, uint32_t id) const { return index->StoredOf(id) == hashed.stored; }
  };
  // Where a text is kept: the slot of its day's arena (slots_), the region in that arena, the offset in
  // the region. A number rather than an address, so that the column of places is the same after a
  // restart, where the regions are mapped elsewhere, and a checkpoint refers to it in the cold file. (The
  // arenas' regions are mappings of their own, and the kernel's limit on a process's mappings, 65 530 by
  // default, keeps slots and regions far below their fields' limits.)
  static constexpr int kPlaceSlotShift = 40;
  static constexpr int kPlaceRegionShift = 20;
  static_assert(ArenaRegion::kBytes == size_t{1} << kPlaceRegionShift);
  static constexpr uint64_t kPlaceRegionMask = (uint64_t{1} << (kPlaceSlotShift - kPlaceRegionShift)) - 1;
  const char* TextAt(uint64_t place) const {
    const Generation& generation = GenerationOf(place);
    return generation.regions[(place >> kPlaceRegionShift) & kPlaceRegionMask].data() +
           (place & (ArenaRegion::kBytes - 1));
  }
  // The texts of the ids whose current row is in one UTC day (and of some that moved to another day
  // since), in the day's arena: one arena a day rather than an hour, so that the arenas a batch writes to
  // are few (a month's shuffled backfill wrote to 720 arenas' ends, each on a page of its own: the copy of
  // each id's text waited for memory, 8 % of the batch path). Retention forgets an hour's ids at once and
  // frees a day's texts with its last hour. (A checkpoint written before arenas were by day has one an
  // hour: they load as they are, and a generation's span is told by its key.)
  static int64_t GenerationKeyOf(int64_t hour) { return hour - ((hour % 24) + 24) % 24; }
  // The hour after the last one of the arena with this key: a day's, or one hour's (older checkpoints).
  static int64_t GenerationEndOf(int64_t key) { return key + (key % 24 == 0 ? 24 : 1); }
  // Whether an id of `hour` may have its text in the arena with this key.
  static bool InGeneration(int64_t key, int64_t hour) { return key == hour || key == GenerationKeyOf(hour); }
  struct Generation {
    int64_t key = 0;  // generations_'s
    // Regions of address space, each filled before the next is taken: only the pages written to cost
    // memory, whatever the day's number of ids, and a past day's texts move to the cold file in place.
    std::vector<ArenaRegion> regions;
    size_t used = ArenaRegion::kBytes;  // in the last region
    std::vector<uint32_t> used_before;  // in each region before the last (what a checkpoint saves of it)
    uint64_t kept = 0;                  // texts kept so far
    uint64_t kept_at_last_move = 0;     // `kept` at the last MoveColdChunks
    // Where `bytes` are kept from now on: their place, but for the slot.
    uint64_t Keep(std::string_view bytes);
    // Bytes used in region `i`.
    size_t UsedIn(size_t i) const { return i + 1 == regions.size() ? used : used_before[i]; }
  };
  // The arena a place is in.
  const Generation& GenerationOf(uint64_t place) const { return *slots_[place >> kPlaceSlotShift]; }
  static constexpr int32_t kFree = INT32_MIN;  // hour_ of a number no id has

  // The number of the id stored as `stored`, whether in the hash set or a run.
  std::optional<uint32_t> Lookup(const Stored& stored, size_t hash) const;
  // A number for a new id (a freed one if there is one).
  uint32_t NewNumber();
  // Moves the hash set's ids to the runs.
  void MoveHotIdsToRuns();
  void AddRow(uint32_t id, RowRef row);
  // Puts the id's text in the arena of `hour`'s day and records it there, with the hour.
  void PlaceIn(uint32_t id, const Stored& stored, int64_t hour);
  // (The current row's hour is hour_'s.)
  void SetCurrent(uint32_t id, RowRef row, uint32_t version);

  const size_t hot_ids_;
  absl::flat_hash_set<uint32_t, Hash, Equal> ids_;  // the newest ids; the others are in runs_
  // ids_'s ids with their fingerprints: what MoveHotIdsToRuns moves, without hashing each id's text again
  // (reading the texts back was about 4 % of the batch path). 8 bytes a hot id: at most hot_ids_ of them.
  std::vector<IdRuns::Entry> hot_entries_;
  IdRuns runs_;
  // Each day's arena, in a slot that stays its own while it lives (a place names it); a slot freed by
  // retention is given to a later day.
  absl::btree_map<int64_t, uint32_t> generations_;  // by GenerationKeyOf: the arena's slot
  std::vector<std::unique_ptr<Generation>> slots_;  // null: free
  std::vector<uint32_t> free_slots_;
  // The slot of the arena for ids of `hour`, made if there is none.
  uint32_t SlotOf(int64_t hour);
  std::vector<uint32_t> free_numbers_;
  ChunkedVector<uint64_t> text_place_;  // in the arena of the id's day (TextAt)
  ChunkedVector<uint8_t> text_length_;  // 0: a packed UUID's 16 bytes
  ChunkedVector<int32_t> hour_;         // of the current row; kFree: a number no id has
  ChunkedVector<uint64_t> current_position_;
  ChunkedVector<uint8_t> current_shard_;
  ChunkedVector<uint32_t> current_version_;
  // Only for ids seen more than once: every row, the first included. Most have two (an event sent twice,
  // or corrected once), kept in the table's slot: a vector's heap block for each cost 32 bytes more an id
  // and an allocation each at every restart (a million of them at 100 M events).
  using RowsOfId = absl::InlinedVector<RowRef, 2>;
  absl::flat_hash_map<uint32_t, RowsOfId> all_rows_;
};

}  // namespace tally

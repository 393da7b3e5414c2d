// One shard's part of the views: the events of the users whose id hashes to this shard. Every event of a
// user lands in the same shard, so the shards' user sets are disjoint and unique users add up exactly
// across shards.
//
// Every event that is current or a duplicate becomes a row of its UTC hour (where the whole event sits in
// the log, and what aggregation and filtering need), in log order: a row is named by its hour and its
// place there (RowAt), or, across shards, by its hour and its log position (RowRef), which stay the same
// whatever is sealed, merged or dropped around it. Per hour, one cell holds counts by type and the exact
// user sets, kept up to date by every event: the take-home answer and the unfiltered stats read it. Per
// product and per store, an hour is answered from its rows while it is hot, and from a sealed index
// (dimension_index.h) once it has been quiet for a while: sealing copies the hour's rows out, builds the
// index off the lock and installs it if no row of the hour was retracted meanwhile. Events that arrive
// after the seal (late events) are scanned beside the index until they become a part of the seal of their
// own (HourData::parts), and an hour's parts are merged later; a row of a part that is retracted is masked
// from it until the part is sealed again (SealMask). A correction retracts the row it replaces from every
// view of that row's shard; whether the user leaves a cell, or a group of a seal, is decided from the
// user's other rows in the hour (UserRows). A shard does only what it is told by the log-ordered step
// (views.h): it decides nothing across shards.
#pragma once

#include <algorithm>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <absl/container/btree_map.h>
#include <absl/container/flat_hash_map.h>

#include "common/byte_sink.h"
#include "common/files.h"
#include "tally/event.h"
#include "tally/status.h"
#include "views/cell.h"
#include "views/chunked_vector.h"
#include "views/cold_chunks.h"
#include "views/dictionary.h"
#include "views/dimension_index.h"
#include "views/event_blocks.h"
#include "views/event_row.h"
#include "views/row_columns.h"

namespace tally {

// How saved views (a checkpoint's payload) are laid out (the checkpoint's format version says which;
// engine/checkpoint.cc has the formats' history). Only today's loads: views saved before it are refused,
// and a start replays the log instead.
enum class SavedLayout {
  kFormer,      // any layout before kRowsByHour
  kRowsByHour,  // each hour's rows its own, with its rows by user; the event ids name a row by hour and
                // log position
};
inline constexpr SavedLayout kSavedLayout = SavedLayout::kRowsByHour;

// A row of a shard: its hour, and its place among the hour's rows (in log order).
struct RowAt {
  int64_t hour = 0;
  uint32_t index = 0;
  bool operator==(const RowAt&) const = default;
};

// The counted rows (current or superseded) of one hour by user, as user << 32 | the row's place in the
// hour: what a correction asks (does the user have another row in this hour?) and what a timeline reads.
// Notes are appended in row order and sorted into one run only when a search finds them an eighth of it or
// more (and when the hour is quiet), so that ingest only appends 8 bytes a row; a search reads the run and
// the notes after it. Both are chunked: their whole chunks move to the cold chunk file as the rows' do.
class UserRows {
 public:
  using Notes = ChunkedVector<uint64_t, 9>;
  void Add(uint32_t user, uint32_t index) { recent_.push_back(uint64_t{user} << 32 | index); }
  // Calls visit(index) for each of the user's rows, in no particular order. (A note of another user's row,
  // which only a crafted checkpoint can hold, is the caller's to skip: it reads the row anyway.)
  template <typename Visit>
  void ForEachOf(uint32_t user, Visit&& visit) const {
    if (recent_.size() > kRecentLimit && recent_.size() * 8 > merged_.size()) Merge();
    const uint64_t first = uint64_t{user} << 32;
    size_t low = merged_.LowerBound(0, merged_.size(), [&](uint64_t note) { return note < first; });
    for (; low < merged_.size() && merged_[low] >> 32 == user; ++low)
      visit(static_cast<uint32_t>(merged_[low]));
    for (uint64_t note : recent_) {
      if (note >> 32 == user) visit(static_cast<uint32_t>(note));
    }
  }
  // Every note in the sorted run (a quiet hour's, whose run then moves to the cold file whole).
  void Merge() const;
  const Notes& merged() const { return merged_; }
  const Notes& recent() const { return recent_; }
  Notes& mutable_merged() { return merged_; }
  Notes& mutable_recent() { return recent_; }

 private:
  static constexpr size_t kRecentLimit = 512;
  // (Mutable: merged on the way to a reader, under the shard's lock as every reader and writer holds it.
  // A checkpoint's child never searches, so never merges.)
  mutable Notes merged_;  // sorted
  mutable Notes recent_;  // in row order
};

// Whether a sealed hour file fits the views (ShardViews::HowSealedFileFits), and how that was told.
enum class SealedFileFit {
  kNo,
  kAsNoted,   // the checkpoint loaded noted this very part, and no row of the hour was retracted since
  kByDigest,  // the digest of the part's rows says so
};

// A part of a sealed hour: its rows' events by product and by store, frozen; its rows as they were sealed,
// as columns, with its counted rows by user (none when built only to be read once: BuildSealedHour); and,
// read from its file, the whole events of the rows it was sealed from (none when sealed in memory only).
struct SealedHour {
  DimensionIndex by_product;
  DimensionIndex by_store;
  RowColumns rows;
  EventBlocks events;
};

// Where a row's whole event is among its sealed hour's events.
struct SealedEventAt {
  int64_t hour = 0;
  uint32_t first_row = 0;  // of the hour's rows that the part holding the event begins with
  std::shared_ptr<const SealedHour> sealed;
  uint32_t record = 0;  // in sealed->events
};

// A part of an hour's seal: an index of the hour's rows[first, end) (in the hour's list) as they were.
struct PartRows {
  uint32_t first = 0, end = 0;
  uint64_t digest = 0;  // ShardViews::RowsDigest of those rows when they were sealed
  uint32_t count() const { return end - first; }
  bool operator==(const PartRows&) const = default;
};
struct SealedPart {
  PartRows rows;
  std::shared_ptr<const SealedHour> index;
};

// A row of an hour's seal retracted since the seal (a correction replaced it): the index of the part that
// holds it still counts it, and every answer from that index takes it out again until the part is sealed
// anew.
struct MaskedRow {
  uint32_t row = 0;   // its place in the hour
  uint32_t part = 0;  // in HourData::parts
  // Whether the row's user has no other current row among those the part covers with the row's type and
  // product (store): the user leaves that (product or store, type) group of the part's index.
  bool leaves_product_group = false;
  bool leaves_store_group = false;
};

struct HourData {
  Cell all;
  // Every row whose event time falls in the hour, in log order (any state): a row's place here is its
  // name in the shard (RowAt).
  ChunkedVector<EventRow, 9> rows;
  UserRows by_user;  // the counted rows
  // The hour's seal: parts that cover rows[0, sealed_rows()) in order, each the current rows among its
  // rows as they were sealed, by product and store. Late rows become a part of their own; parts are merged
  // (ShardViews::CollectSealJobs).
  std::vector<SealedPart> parts;
  uint32_t retractions = 0;       // rows of the hour retracted so far
  std::vector<MaskedRow> masked;  // rows among rows[0, sealed_rows()) retracted since their part's seal
  // What a checkpoint said of the hour's seal when it was loaded (no parts: not sealed then), with the
  // retractions it had: a sealed hour file that says the same of a part of an hour with no retraction
  // since needs no digest of its rows (HowSealedFileFits).
  struct NotedSeal {
    std::vector<PartRows> parts;
    uint32_t retractions = 0;
    std::vector<uint32_t> masked_rows;  // the seal's rows retracted after it
  } noted_seal;
  struct Seal {
    std::vector<PartRows> parts;  // none: not sealed
    std::vector<uint32_t> masked_rows;
  };
  // What a checkpoint notes of the hour's seal: the parts installed, and after them the parts noted at the
  // start that follow them if no row of the hour was retracted since (their files may not be installed
  // yet: a start does not wait).
  Seal SealToNote() const {
    Seal seal;
    for (const SealedPart& part : parts) seal.parts.push_back(part.rows);
    for (const MaskedRow& row : masked) seal.masked_rows.push_back(row.row);
    if (noted_seal.retractions != retractions) return seal;
    const uint32_t installed_end = sealed_rows();
    for (const PartRows& part : noted_seal.parts) {
      const uint32_t end = seal.parts.empty() ? 0 : seal.parts.back().end;
      if (part.first < end) continue;
      if (part.first > end) break;
      seal.parts.push_back(part);
    }
    const uint32_t noted_end = seal.parts.empty() ? 0 : seal.parts.back().end;
    for (uint32_t row : noted_seal.masked_rows) {
      if (row >= installed_end && row < noted_end) seal.masked_rows.push_back(row);
    }
    return seal;
  }
  bool sealed() const { return !parts.empty(); }
  // The rows the parts cover: rows[0, sealed_rows()).
  uint32_t sealed_rows() const { return parts.empty() ? 0 : parts.back().rows.end; }
  // The place of the row at log position `position`, if it is one of the hour's.
  std::optional<uint32_t> IndexOf(uint64_t position) const {
    const size_t index =
        rows.LowerBound(0, rows.size(), [&](const EventRow& row) { return row.position < position; });
    if (index == rows.size() || rows[index].position != position) return std::nullopt;
    return static_cast<uint32_t>(index);
  }
  // The part whose rows hold the row at `index`, if one does.
  std::optional<uint32_t> PartOf(uint32_t index) const {
    for (uint32_t part = 0; part < parts.size(); ++part) {
      if (index < parts[part].rows.end) return part;
    }
    return std::nullopt;
  }
  // Whether the seal answers for every row of the hour: none came after it, none was retracted since.
  bool SealedWhole() const { return sealed() && sealed_rows() == rows.size() && masked.empty(); }
  // Rows the seal does not answer for as they are: late rows after it, and its rows retracted since.
  size_t RowsBesideSeal() const { return rows.size() - sealed_rows() + masked.size(); }
  uint64_t changed_pass = 0;  // the sealing pass during which a row of the hour last changed
  // The last pass that found the hour quiet, sealed in several parts or with a few late or retracted rows
  // beside its parts, and left it so (ShardViews::CollectSealJobs); later than changed_pass while it still
  // waits so.
  uint64_t waiting_pass = 0;
  // Whether the hour is quiet and waits before its parts are merged into one: sealed in several parts, or
  // with a few late or retracted rows beside them.
  bool WaitsToMerge() const { return sealed() && waiting_pass > changed_pass; }
  // Replaces the parts from the one that begins at `part.rows.first` on (or, beginning at sealed_rows(),
  // none) with `part`, and their masked rows with none.
  void ReplacePartsFrom(SealedPart part) {
    const uint32_t first = part.rows.first;
    auto kept = static_cast<uint32_t>(parts.size());
    while (kept > 0 && parts[kept - 1].rows.first >= first) --kept;
    parts.resize(kept);
    parts.push_back(std::move(part));
    std::erase_if(masked, [&](const MaskedRow& row) { return row.part >= kept; });
  }
  // Answers come from the rows again until the hour is sealed anew.
  void DropSeal() {
    parts.clear();
    masked.clear();
  }
};

// Rows of an hour to seal as one part: rows[first, rows) copied out (under the shard's lock), the index
// built from them (off the lock), installed if the hour saw no retraction since the copy and its parts
// still end where the new one takes over.
struct SealJob {
  int64_t hour = 0;
  uint32_t first = 0;  // 0: the whole hour in one part (the parts merged); else after the part before it
  uint32_t rows = 0;   // rows[first, rows) copied
  uint32_t retractions = 0;
  uint64_t rows_digest = 0;  // ShardViews::RowsDigest of the rows copied
  // Every row copied (any state), as the part's columns (none for a part built only to be read once).
  std::optional<RowColumnsWriter> columns;
  std::vector<DimensionIndex::Entry> by_product, by_store;
  std::shared_ptr<const SealedHour> sealed;
  // The hour's part that begins at `first`, which this one replaces, if its events are those of the first
  // rows copied (an hour's rows only grow while it is sealed): they need not be read from the log and
  // compressed again. (The parts after it, which hold fewer rows together, are read from the log.)
  std::shared_ptr<const SealedHour> previous;
  // The first rows of the hour's parts that this one replaces, in order (their files go with them): the
  // first of them is `first`, if it replaces any.
  std::vector<uint32_t> replaced_firsts;

  PartRows part() const { return {first, rows, rows_digest}; }
  // The next row copied: into the columns, or (none) as a current row's entries (other rows have none).
  void Add(const EventRow& row);
  void Build();  // (with the entries of the columns' current rows; `sealed` stays null if they fail)

 private:
  void AddEntries(const EventRow& row);
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
  // The number of a user id, adding it if new (before Include, for the event's user).
  uint32_t InternUser(std::string_view user_id) { return users_.Intern(user_id); }
  uint32_t InternUser(const Dictionary::Hashed& user_id) { return users_.Intern(user_id); }
  // Adds the event of user number `user` (at log position `position`, after every row added before) as a
  // row of its hour: counted everywhere (kCurrent) or only kept for lookups (kDuplicate).
  void Include(const EventView& event, uint32_t user, uint64_t position, RowState state);
  // Takes the current row of `hour` at log position `position` back out of every view (a correction
  // replaced it). A row a seal counts is masked from it (HourData::masked) until the hour is sealed again.
  void Retract(int64_t hour, uint64_t position);
  // Retention: drops every hour before `first_kept_hour` (its cell, rows and sealed index). Its rows stay
  // only as targets of the event-id index, so that a re-sent or corrected old event is still known.
  void DropHoursBefore(int64_t first_kept_hour);
  // The log position of the shard's first row not dropped (nullopt: none).
  std::optional<uint64_t> FirstKeptPosition() const;
  // The row of `hour` at log position `position` (nullopt: none; retention dropped it, and its record may
  // be gone from the log).
  std::optional<RowAt> Find(int64_t hour, uint64_t position) const;
  // A row that is one of the shard's (Find, Timeline, an hour's rows).
  const EventRow& Row(RowAt at) const { return hours().at(at.hour).rows[at.index]; }
  // The rows held (of the hours kept).
  uint64_t RowCount() const;

  TakeHomeCounts TakeHomeHour(int64_t hour) const;

  // Starts a sealing pass: the hours with rows not yet sealed that were not changed during the last
  // `quiet_passes` passes, or (busy_rows > 0) whose rows not yet sealed number at least `busy_rows` and at
  // least as many as are sealed (a busy hour is sealed again each time it doubles: the rows it scans stay
  // few, the copies cost O(n log n) over its life), copied out to seal, oldest first. Once the hours taken
  // hold `max_rows` rows, the others wait for the next pass (the copies are held until their indexes are
  // built: after a backfill of a month, every hour turns quiet at once).
  // A sealed hour with a few late or retracted rows beside its parts (at most one in kLateRowsShare of the
  // rows they cover), or in several parts, waits kLateRowsQuietFactor times as long, then its parts and
  // rows are merged into one part: the few rows are scanned beside the parts meanwhile, and sealing the
  // whole hour again for each of a trickle of late events or corrections cost more than the events
  // themselves. More late rows become a part of their own at the usual quiet, merged with the last parts
  // while those hold at most twice as many rows as the part before them (so each part holds more rows
  // than all after it together: a few parts an hour, and a row copied into a new part a few times at
  // most), and the parts are merged into one after the long quiet. More retracted rows: the whole hour is
  // sealed anew at the usual quiet.
  std::vector<SealJob> CollectSealJobs(uint32_t quiet_passes, uint32_t busy_rows = 0,
                                       uint64_t max_rows = UINT64_MAX);
  static constexpr uint32_t kLateRowsShare = 32;
  static constexpr uint32_t kLateRowsQuietFactor = 60;
  // Installs the built jobs whose hour saw no retraction since they were collected and whose parts still
  // end where the job takes over (taking their indexes). Returns whether each job was installed.
  std::vector<bool> InstallSealed(std::span<SealJob> jobs);
  // Both, with the building in between, on this thread.
  void SealHours(uint32_t quiet_passes, uint32_t busy_rows = 0);
  // The hour's current rows by product and by store, built from its rows (what sealing would install).
  SealedHour BuildSealedHour(int64_t hour) const;
  // A hash of the log positions and states of the hour's rows[first, end): what a sealed part was built
  // from, to tell at start whether a sealed hour file still fits the views rebuilt from the log.
  uint64_t RowsDigest(int64_t hour, uint32_t first, uint32_t end) const;
  // Whether a part read from a file fits: the hour's parts end where it begins (none for a part of the
  // rows from the first on), the hour has the rows it covers, their digest is the part's (known without
  // reading them when the checkpoint loaded noted that very part of the hour and no row of it was
  // retracted since), and every product, store and type it names is one of this shard's. Once the staged
  // rows are folded in (FoldStagedRows), this only reads.
  SealedFileFit HowSealedFileFits(int64_t hour, const PartRows& part, const SealedHour& sealed) const;
  // Where the row's whole event can be read without the log (nullopt: only from the log).
  std::optional<SealedEventAt> SealedEventOf(RowAt at) const;
  // Drops the hour's seal if `sealed` is one of its parts (its file was found damaged): the hour is sealed
  // again, and its file written again, by the next pass. Returns the first rows of the parts dropped.
  std::vector<uint32_t> Unseal(int64_t hour, const SealedHour* sealed);
  // Installs a part that fits as `fit` (HowSealedFileFits) tells, after the hour's parts (or, beginning at
  // the first row, in place of them): as noted, with the rows the checkpoint noted as retracted since its
  // seal masked.
  void InstallFittingSealedFile(int64_t hour, SealedPart part, SealedFileFit fit);
  // Both: false (nothing changed) if it does not fit.
  bool InstallSealedFile(int64_t hour, SealedPart part) {
    const SealedFileFit fit = HowSealedFileFits(hour, part.rows, *part.index);
    if (fit == SealedFileFit::kNo) return false;
    InstallFittingSealedFile(hour, std::move(part), fit);
    return true;
  }
  // Moves what the shard no longer writes to often into `cold` (cold_chunks.h): each hour's rows but its
  // newest chunk, a sealed hour's rows by user, and the cells' user sets of sealed hours. Answers do not
  // change. Returns the chunks moved.
  Result<size_t> MoveColdChunks(const std::shared_ptr<ColdChunkFile>& cold);

  // Puts the staged rows (staged_rows_) into their hours: rows, cells, rows by user, changed_pass. Every
  // read of the hours does it first.
  void FoldStagedRows() const;
  // The same, and the pending users of the cells of the hours from `first_hour` on, `hours` of them at most,
  // folded into their sets: what a checkpoint's save would do in its child
  // process, where the work is thrown away with the child (the server folds the same notes again later) and
  // each page it writes is one more copy-on-write fault. Returns the hour to go on from, or nullopt after the
  // last; a few hours at a time, so that the caller can let ingest in between.
  std::optional<int64_t> FoldPending(int64_t first_hour, size_t hours) const;
  const absl::btree_map<int64_t, HourData>& hours() const {
    FoldStagedRows();
    return hours_;
  }
  const Dictionary& users() const { return users_; }
  const Dictionary& types() const { return types_; }
  const Dictionary& products() const { return products_; }
  const Dictionary& stores() const { return stores_; }
  // A user's current rows, ordered by (event time, log position); empty for an unknown user.
  std::vector<RowAt> Timeline(uint32_t user) const;
  const std::vector<TypeStats>& type_stats() const { return type_stats_; }

  // `refer_to_cold`: chunks in the cold file are saved as their place there (saved::Writer::InMemory).
  void Save(ByteSink* out, bool refer_to_cold = false) const;
  // Reads one shard from the front of `*bytes` and advances past it, its rows used in place when `mapping`
  // (holding the bytes) copies on write, and adopted from `cold` where saved as their place there.
  // Refuses bytes that do not parse or whose indices do not fit.
  static Result<std::unique_ptr<ShardViews>> Load(std::string_view* bytes, SavedLayout layout,
                                                  const std::shared_ptr<const MappedFile>& mapping,
                                                  const std::shared_ptr<ColdChunkFile>& cold = nullptr);

 private:
  // What the user's other current rows in the hour say of the row at `index` (the row itself left out):
  // whether the user stays in the hour's cell, of any type and of the row's type, and which groups of the
  // part of the hour's seal that holds the row the user leaves.
  struct OtherRows {
    bool stays = false, stays_in_type = false;
    bool in_seal = false;  // whether a part of the seal counts the row (then `masked` says what it takes off)
    MaskedRow masked;
  };
  static OtherRows OtherRowsOf(uint32_t index, const HourData& data);
  // RowsDigest of an hour already found (null: the shard has no such hour), its staged rows folded in.
  static uint64_t DigestOfRows(const HourData* data, uint32_t first, uint32_t end);

  Dictionary users_, types_, products_, stores_;
  // (Mutable: the staged rows are folded in on the way to a reader, under the shard's lock as every
  // reader and writer holds it.)
  mutable absl::btree_map<int64_t, HourData> hours_;
  // Rows included but not yet in their hour, in log order. When a batch spreads over a month of hours,
  // putting each row in its hour at once cost a cache miss or two an event (the hour's node, its rows'
  // last chunk, its cell's notes); folded by hour, an hour takes its rows in one run.
  static constexpr size_t kStagedRowsLimit = 16384;
  mutable std::vector<EventRow> staged_rows_;

  std::vector<TypeStats> type_stats_;  // by type index
  uint64_t seal_pass_ = 0;             // sealing passes started
  int64_t first_kept_hour_ = 0;        // hours before it were dropped by retention
};

// What a sealed hour's rows retracted since their part's seal (HourData::masked) take off the groups of
// that part's index by one dimension (product or store): answers read the index's groups through it.
class SealMask {
 public:
  struct Entry {
    uint32_t key, type, user;
    bool leaves;  // the user leaves the (key, type) group (MaskedRow)
    auto operator<=>(const Entry&) const = default;
  };
  SealMask(const HourData& data, uint32_t part, bool by_product);
  // By (key, type, user): one per masked row with a value of the dimension.
  std::span<const Entry> entries() const { return entries_; }
  // The events of the key's group that are still current.
  uint64_t Events(uint32_t key, const DimensionIndex::Group& group) const;
  // Adds the users of the key's group to `users`, but those who left it.
  void AddUsers(uint32_t key, const DimensionIndex::Group& group, Roaring* users) const;

 private:
  std::span<const Entry> Of(uint32_t key, uint32_t type) const;
  std::vector<Entry> entries_;
};

}  // namespace tally

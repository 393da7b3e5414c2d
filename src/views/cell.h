// The aggregate of some events: counts by type, the exact set of users, and the users of each type.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include <absl/container/inlined_vector.h>
#include <roaring/roaring.hh>

#include "tally/status.h"
#include "views/cold_chunks.h"
#include "views/user_sets.h"

namespace tally {

// Adding an event counts it at once and notes (type, user) in a buffer; the buffer is folded into the
// bitmaps, sorted, when it fills and before anything reads them. Inserting users one at a time into an
// hour's bitmaps costs a cache miss or more each when events spread over many hours (a backfill, late
// events): the container is searched and moved every time. Sorted runs are built into a bitmap by
// appending, then merged into the hour's in one pass per container. A merge into an array container
// moves all of it, so the buffer holds a share of the users folded so far (fold_limit_): each note then
// costs a few moves, not the container's size over the buffer's.
//
// Readers (users, UsersOfType, users_by_type) fold first, so they change the cell: every reader of the
// views holds the shard's lock, as every writer does.
//
// A quiet hour's sets can be frozen into the cold chunk file (Freeze): read in place from there, they cost
// no heap, and a checkpoint refers to their place instead of copying them. A change (a late event, a
// retraction) first thaws them back onto the heap.
struct Cell {
  absl::InlinedVector<uint64_t, 4> events_by_type;  // indexed by type index

  void Add(uint32_t type, uint32_t user);
  // Takes one event back. Whether the user stays (with any event, or with one of this type) is decided
  // by the caller from that user's timeline.
  void Remove(uint32_t type, uint32_t user, bool user_stays, bool user_stays_in_type);

  uint64_t EventsOfType(uint32_t type) const {
    return type < events_by_type.size() ? events_by_type[type] : 0;
  }
  uint64_t events() const;
  // User indices: all of the cell's, and by type index (like events_by_type; types are few).
  const Roaring& users() const {
    if (frozen_) return frozen_->sets->users();
    Fold();
    return users_;
  }
  const std::vector<Roaring>& users_by_type() const {
    if (frozen_) return frozen_->sets->users_by_type();
    Fold();
    return users_by_type_;
  }
  // Null when no user has an event of the type here.
  const Roaring* UsersOfType(uint32_t type) const;
  // For a load: the bitmaps to read into (nothing is pending then).
  Roaring& mutable_users() {
    Thaw();
    Fold();
    return users_;
  }
  std::vector<Roaring>& mutable_users_by_type() {
    Thaw();
    Fold();
    return users_by_type_;
  }
  // Merges what is pending into the bitmaps (nothing for frozen sets, which have nothing pending).
  void Fold() const;
  // The same, and gives the buffer's memory back (a quiet hour).
  void Settle() const;

  // Moves the user sets into `cold` and frees them from the heap (nothing if they are there already).
  // Returns whether they moved; on an error (a full disk) they stay where they were.
  Result<bool> Freeze(const std::shared_ptr<ColdChunkFile>& cold);
  bool frozen() const { return frozen_ != nullptr; }
  // Where the frozen sets are in memory (a chunk of the cold file: ColdChunkFile::PlaceOf finds it).
  struct FrozenChunk {
    const ColdChunkFile* cold;
    const void* address;
    size_t bytes;
  };
  std::optional<FrozenChunk> frozen_chunk() const;
  // Loading: the sets are the block of `bytes` at `place` in `cold` (adopted, its checksum checked by the
  // load). False if it cannot be adopted or is not a block of well-formed sets for these types.
  bool AdoptFrozen(const std::shared_ptr<ColdChunkFile>& cold, const ColdChunkFile::Place& place,
                   uint64_t bytes);

 private:
  // The notes a fold takes (fold_limit_): at least kMinPending, and an eighth of the users folded so far
  // up to kMaxPending (at 8 bytes a note, a buffer at most the size of the users' own array containers).
  static constexpr size_t kMinPending = 256;
  static constexpr size_t kMaxPending = size_t{1} << 10;
  static constexpr uint64_t kUsersPerPending = 8;
  // Copies frozen sets back to the heap, before a change.
  void Thaw();

  mutable Roaring users_;
  mutable std::vector<Roaring> users_by_type_;
  mutable std::vector<uint64_t> pending_;    // type << 32 | user, one an event added since the last fold
  mutable size_t fold_limit_ = kMinPending;  // set by each fold from the users it leaves
  // The sets in the cold file, while frozen (users_ and users_by_type_ are empty then).
  struct Frozen {
    std::shared_ptr<ColdChunkFile> cold;
    void* chunk = nullptr;
    size_t bytes = 0;
    std::unique_ptr<FrozenUserSets> sets;  // null: the chunk does not read as frozen sets
    // Owns `chunk` (given back to `cold` at the end) and views it.
    static std::unique_ptr<Frozen> Of(const std::shared_ptr<ColdChunkFile>& cold, void* chunk, size_t bytes);
    Frozen() = default;
    Frozen(const Frozen&) = delete;
    Frozen& operator=(const Frozen&) = delete;
    ~Frozen();
  };
  std::unique_ptr<Frozen> frozen_;
};

}  // namespace tally

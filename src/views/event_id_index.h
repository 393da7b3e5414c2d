// Event ids (API.md: the idempotency key) to the rows that carry them. Built for many millions of ids:
// the texts live in an arena (a canonical lowercase UUID, which SDKs and the server itself make, as its
// 16 bytes instead of 36 characters), the hash set holds 4-byte id numbers (hashing and comparing through
// the arena), and the list of rows is kept only for the few ids seen more than once. Rows are (shard, row)
// references: the index is shared by all shards, because a correction may move an event to another user.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <absl/container/flat_hash_map.h>
#include <absl/container/flat_hash_set.h>

#include "views/chunked_vector.h"

namespace tally {

// A row of one shard's event table.
struct RowRef {
  uint32_t shard = 0;
  uint32_t row = 0;
  bool operator==(const RowRef&) const = default;
};

class EventIdIndex {
 public:
  EventIdIndex();
  EventIdIndex(const EventIdIndex&) = delete;  // the set's hasher points back here
  EventIdIndex& operator=(const EventIdIndex&) = delete;

  // The id's number, adding it (with `row` as its first and current row, of `version`) if new.
  std::pair<uint32_t, bool> FindOrInsert(std::string_view id, RowRef row, uint32_t version);
  std::optional<uint32_t> Find(std::string_view id) const;
  // Starts loading where `id` would be, so that a FindOrInsert shortly after does not wait for memory.
  void Prefetch(std::string_view id) const {
    char buffer[16];
    ids_.prefetch(StoredForm(id, buffer));
  }

  RowRef current(uint32_t id) const { return {current_shard_[id], current_row_[id]}; }
  uint32_t current_version(uint32_t id) const { return current_version_[id]; }
  // Another row with this id that changes nothing (the same or a lower version).
  void AddDuplicate(uint32_t id, RowRef row);
  // Another row with this id that replaces the current one (a higher version).
  void AddCorrection(uint32_t id, RowRef row, uint32_t version);
  // For loading a checkpoint: every row of an id seen more than once, in log order.
  void RestoreRows(uint32_t id, std::vector<RowRef> rows) { all_rows_[id] = std::move(rows); }
  // Every row with this id, in log order.
  std::vector<RowRef> Rows(uint32_t id) const;
  std::string Text(uint32_t id) const;
  size_t size() const { return current_row_.size(); }

 private:
  // An id as the arena holds it: a UUID's 16 bytes (packed) or the text.
  struct Stored {
    std::string_view bytes;
    bool packed = false;
    bool operator==(const Stored&) const = default;
  };
  // The stored form of `text`; a packed one is written to `buffer`.
  static Stored StoredForm(std::string_view text, char (&buffer)[16]);
  Stored StoredOf(uint32_t id) const;
  struct Hash {
    using is_transparent = void;
    const EventIdIndex* index;
    size_t operator()(uint32_t id) const { return (*this)(index->StoredOf(id)); }
    size_t operator()(const Stored& stored) const;
  };
  struct Equal {
    using is_transparent = void;
    const EventIdIndex* index;
    bool operator()(uint32_t a, uint32_t b) const { return a == b; }
    bool operator()(uint32_t id, const Stored& stored) const { return index->StoredOf(id) == stored; }
    bool operator()(const Stored& stored, uint32_t id) const { return index->StoredOf(id) == stored; }
  };
  static constexpr size_t kBlockBytes = 1 << 20;

  void AddRow(uint32_t id, RowRef row);

  absl::flat_hash_set<uint32_t, Hash, Equal> ids_;
  std::vector<std::unique_ptr<char[]>> blocks_;  // id texts, back to back
  size_t block_used_ = kBlockBytes;
  ChunkedVector<uint64_t> text_ref_;  // (offset in the arena << 8) | length (0: a packed UUID's 16 bytes)
  ChunkedVector<uint32_t> current_row_;
  ChunkedVector<uint8_t> current_shard_;
  ChunkedVector<uint32_t> current_version_;
  // Only for ids seen more than once: every row, the first included.
  absl::flat_hash_map<uint32_t, std::vector<RowRef>> all_rows_;
};

}  // namespace tally

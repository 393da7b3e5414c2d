// Event ids (API.md: the idempotency key) to the rows that carry them. Built for many millions of ids:
// the texts live in an arena, the hash set holds 4-byte id numbers (hashing and comparing through the
// arena), and the list of rows is kept only for the few ids seen more than once.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>
#include <vector>

#include <absl/container/flat_hash_map.h>
#include <absl/container/flat_hash_set.h>

#include "views/chunked_vector.h"

namespace tally {

class EventIdIndex {
 public:
  EventIdIndex();
  EventIdIndex(const EventIdIndex&) = delete;  // the set's hasher points back here
  EventIdIndex& operator=(const EventIdIndex&) = delete;

  // The id's number, adding it (with `row` as its first and current row) if new.
  std::pair<uint32_t, bool> FindOrInsert(std::string_view id, uint32_t row);
  std::optional<uint32_t> Find(std::string_view id) const;

  uint32_t current(uint32_t id) const { return current_[id]; }
  void set_current(uint32_t id, uint32_t row) { current_[id] = row; }
  // Records another row with this id (a duplicate or a correction).
  void AddRow(uint32_t id, uint32_t row) { later_rows_[id].push_back(row); }
  // Every row with this id, in log order.
  std::vector<uint32_t> Rows(uint32_t id) const;
  std::string_view Text(uint32_t id) const;
  size_t size() const { return current_.size(); }

 private:
  struct Hash {
    using is_transparent = void;
    const EventIdIndex* index;
    size_t operator()(uint32_t id) const;
    size_t operator()(std::string_view text) const;
  };
  struct Equal {
    using is_transparent = void;
    const EventIdIndex* index;
    bool operator()(uint32_t a, uint32_t b) const { return a == b; }
    bool operator()(uint32_t id, std::string_view text) const { return index->Text(id) == text; }
    bool operator()(std::string_view text, uint32_t id) const { return index->Text(id) == text; }
  };
  static constexpr size_t kBlockBytes = 1 << 20;

  absl::flat_hash_set<uint32_t, Hash, Equal> ids_;
  std::vector<std::unique_ptr<char[]>> blocks_;  // id texts, back to back
  size_t block_used_ = kBlockBytes;
  ChunkedVector<uint64_t> text_ref_;  // (offset in the arena << 8) | length
  ChunkedVector<uint32_t> first_row_;
  ChunkedVector<uint32_t> current_;
  absl::flat_hash_map<uint32_t, std::vector<uint32_t>> later_rows_;
};

}  // namespace tally

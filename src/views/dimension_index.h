// The events of one shard's hour by the values of one dimension (product or store), frozen: for each value
// and event type, the number of events and the sorted users. Built once from the hour's current rows when
// the hour is sealed, it replaces one mutable cell per (hour, value): a real catalogue opens a cell for
// almost every event, while here an event with a new value costs a few flat array entries.
//
// The index is one run of 32-bit words, the same in memory and in a segment file (read in place):
//   6 counts, then the arrays back to back:
//   keys         sorted distinct values
//   key_groups   per value, its first group (one more entry at the end)
//   group_type   per (value, type) group, the type; groups of a value are sorted by type
//   group_events per group, its events
//   group_users  per group, its first user in `users` (one more entry at the end)
//   users        per group, its distinct users, sorted
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include <roaring/roaring.hh>

#include "tally/status.h"

namespace tally {

class DimensionIndex {
 public:
  struct Entry {
    uint32_t key;
    uint32_t type;
    uint32_t user;
  };
  struct Group {
    uint32_t type;
    uint32_t events;
    std::span<const uint32_t> users;
  };

  DimensionIndex();
  // One entry per current event (any order).
  static DimensionIndex Build(std::vector<Entry> entries);
  // The index in `words` (kept alive by `owner`), after checking that every count, offset and order in it
  // holds, so that no question can read outside the words.
  static Result<DimensionIndex> FromWords(std::span<const uint32_t> words, std::shared_ptr<const void> owner);
  // Whether every key is below `keys` and every type below `types` (dictionary sizes): an index read from
  // a file must not name a value its shard does not have.
  bool Fits(size_t keys, size_t types) const;
  // The words to write (FromWords reads them back).
  std::span<const uint32_t> words() const { return words_; }

  size_t key_count() const { return keys_.size(); }
  uint32_t key_at(size_t at) const { return keys_[at]; }
  // Where `key` sits among the keys, if it has events.
  std::optional<size_t> Find(uint32_t key) const;

  // The events of the key at `at`, of one type or of all.
  uint64_t Events(size_t at, std::optional<uint32_t> type) const {
    return EventsOfGroups(key_groups_[at], key_groups_[at + 1], type);
  }
  // Calls `visit(key, events)` for every key with events (of one type, or of any), in key order: one pass
  // over the groups' columns, for a question that counts every key (a top list over a month reads about
  // 1 500 indexes of 20 000 keys: a call of Events per key took about a tenth longer).
  template <typename Visit>
  void ForEachKeyEvents(std::optional<uint32_t> type, Visit&& visit) const {
    for (size_t at = 0; at < keys_.size(); ++at) {
      const uint64_t events = EventsOfGroups(key_groups_[at], key_groups_[at + 1], type);
      if (events > 0) visit(keys_[at], events);
    }
  }
  // Adds the users of the key at `at` (of one type, or of any) to `users`.
  void AddUsers(size_t at, std::optional<uint32_t> type, Roaring* users) const;
  // The (type, events, users) groups of the key at `at`, by type.
  template <typename Visit>
  void ForEachGroup(size_t at, Visit&& visit) const {
    for (uint32_t group = key_groups_[at]; group < key_groups_[at + 1]; ++group) visit(GroupAt(group));
  }

  size_t bytes() const { return words_.size() * sizeof(uint32_t); }

 private:
  static constexpr size_t kArrays = 6;
  // The events of groups [first, end), of one type or of all.
  uint64_t EventsOfGroups(uint32_t first, uint32_t end, std::optional<uint32_t> type) const {
    uint64_t events = 0;
    if (type) {
      for (uint32_t group = first; group < end; ++group)
        events += group_type_[group] == *type ? group_events_[group] : 0;
    } else {
      for (uint32_t group = first; group < end; ++group) events += group_events_[group];
    }
    return events;
  }
  // Points the arrays into `words`; false when the counts do not add up to its size.
  bool Slice();
  Group GroupAt(uint32_t group) const {
    return Group{group_type_[group], group_events_[group],
                 users_.subspan(group_users_[group], group_users_[group + 1] - group_users_[group])};
  }

  std::shared_ptr<const void> owner_;
  std::span<const uint32_t> words_;
  std::span<const uint32_t> keys_, key_groups_, group_type_, group_events_, group_users_, users_;
};

}  // namespace tally

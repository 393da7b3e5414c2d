// The events of one shard's hour by the values of one dimension (product or store), frozen: for each value
// and event type, the number of events and the sorted users. Built once from the hour's current rows when
// the hour is sealed, it replaces one mutable cell per (hour, value): a real catalogue opens a cell for
// almost every event, while here an event with a new value costs a few flat array entries.
//
// Layout (all arrays flat, so the index can be written to a file and read in place as it is):
//   keys         sorted distinct values
//   key_groups   per value, its first group (one more entry at the end)
//   group_type   per (value, type) group, the type; groups of a value are sorted by type
//   group_events per group, its events
//   group_users  per group, its first user in `users` (one more entry at the end)
//   users        per group, its distinct users, sorted
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include <roaring/roaring.hh>

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

  // One entry per current event (any order).
  static DimensionIndex Build(std::vector<Entry> entries);

  size_t key_count() const { return keys_.size(); }
  uint32_t key_at(size_t at) const { return keys_[at]; }
  // Where `key` sits among the keys, if it has events.
  std::optional<size_t> Find(uint32_t key) const;

  // The events of the key at `at`, of one type or of all.
  uint64_t Events(size_t at, std::optional<uint32_t> type) const;
  // Adds the users of the key at `at` (of one type, or of any) to `users`.
  void AddUsers(size_t at, std::optional<uint32_t> type, Roaring* users) const;
  // The (type, events, users) groups of the key at `at`, by type.
  template <typename Visit>
  void ForEachGroup(size_t at, Visit&& visit) const {
    for (uint32_t group = key_groups_[at]; group < key_groups_[at + 1]; ++group) visit(GroupAt(group));
  }

  size_t MemoryBytes() const;

 private:
  Group GroupAt(uint32_t group) const {
    return Group{group_type_[group], group_events_[group],
                 std::span<const uint32_t>(users_).subspan(group_users_[group],
                                                           group_users_[group + 1] - group_users_[group])};
  }

  std::vector<uint32_t> keys_;
  std::vector<uint32_t> key_groups_;
  std::vector<uint32_t> group_type_;
  std::vector<uint32_t> group_events_;
  std::vector<uint32_t> group_users_;
  std::vector<uint32_t> users_;
};

}  // namespace tally

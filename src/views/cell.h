// The aggregate of some events: counts by type, the exact set of users, and the users of each type.
#pragma once

#include <cstdint>

#include <vector>

#include <absl/container/inlined_vector.h>
#include <roaring/roaring.hh>

namespace tally {

struct Cell {
  absl::InlinedVector<uint64_t, 4> events_by_type;  // indexed by type index
  Roaring users;                                    // user indices
  std::vector<Roaring> users_by_type;  // indexed by type index, like events_by_type (types are few)

  void Add(uint32_t type, uint32_t user);
  // Takes one event back. Whether the user stays (with any event, or with one of this type) is decided
  // by the caller from that user's timeline.
  void Remove(uint32_t type, uint32_t user, bool user_stays, bool user_stays_in_type);

  uint64_t EventsOfType(uint32_t type) const {
    return type < events_by_type.size() ? events_by_type[type] : 0;
  }
  uint64_t events() const;
  const Roaring* UsersOfType(uint32_t type) const;
};

}  // namespace tally

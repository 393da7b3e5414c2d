// Per UTC hour: events by type and the exact set of users seen.
#pragma once

#include <cstdint>

#include <absl/container/flat_hash_map.h>
#include <absl/container/inlined_vector.h>
#include <roaring/roaring.hh>

namespace tally {

struct HourRollup {
  absl::InlinedVector<uint64_t, 4> events_by_type;  // indexed by type index
  Roaring users;                                    // user indices

  uint64_t EventsOfType(uint32_t type_index) const {
    return type_index < events_by_type.size() ? events_by_type[type_index] : 0;
  }
};

class HourRollups {
 public:
  void Add(int64_t hour, uint32_t type_index, uint32_t user_index);
  // Null when nothing happened in that hour.
  const HourRollup* Find(int64_t hour) const;
  size_t hour_count() const { return hours_.size(); }

 private:
  absl::flat_hash_map<int64_t, HourRollup> hours_;
};

}  // namespace tally

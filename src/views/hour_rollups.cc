#include "views/hour_rollups.h"

namespace tally {

void HourRollups::Add(int64_t hour, uint32_t type_index, uint32_t user_index) {
  HourRollup& rollup = hours_[hour];
  if (rollup.events_by_type.size() <= type_index) rollup.events_by_type.resize(type_index + 1, 0);
  ++rollup.events_by_type[type_index];
  rollup.users.add(user_index);
}

const HourRollup* HourRollups::Find(int64_t hour) const {
  auto it = hours_.find(hour);
  return it == hours_.end() ? nullptr : &it->second;
}

}  // namespace tally

#include "views/cell.h"

namespace tally {

void Cell::Add(uint32_t type, uint32_t user) {
  if (events_by_type.size() <= type) {
    events_by_type.resize(type + 1, 0);
    users_by_type.resize(type + 1);
  }
  ++events_by_type[type];
  users.add(user);
  users_by_type[type].add(user);
}

void Cell::Remove(uint32_t type, uint32_t user, bool user_stays, bool user_stays_in_type) {
  --events_by_type[type];
  if (!user_stays) users.remove(user);
  if (!user_stays_in_type) users_by_type[type].remove(user);
}

uint64_t Cell::events() const {
  uint64_t total = 0;
  for (uint64_t count : events_by_type) total += count;
  return total;
}

const Roaring* Cell::UsersOfType(uint32_t type) const {
  return type < users_by_type.size() && !users_by_type[type].isEmpty() ? &users_by_type[type] : nullptr;
}

}  // namespace tally

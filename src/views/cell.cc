#include "views/cell.h"

#include "views/sorted_runs.h"

namespace tally {

void Cell::Add(uint32_t type, uint32_t user) {
  if (events_by_type.size() <= type) events_by_type.resize(type + 1, 0);
  ++events_by_type[type];
  if (pending_.empty()) pending_.reserve(64);
  pending_.push_back(uint64_t{type} << 32 | user);
  if (pending_.size() >= kPendingLimit) Fold();
}

void Cell::Remove(uint32_t type, uint32_t user, bool user_stays, bool user_stays_in_type) {
  Fold();
  --events_by_type[type];
  if (!user_stays) users_.remove(user);
  if (!user_stays_in_type) users_by_type_[type].remove(user);
}

uint64_t Cell::events() const {
  uint64_t total = 0;
  for (uint64_t count : events_by_type) total += count;
  return total;
}

const Roaring* Cell::UsersOfType(uint32_t type) const {
  Fold();
  return type < users_by_type_.size() && !users_by_type_[type].isEmpty() ? &users_by_type_[type] : nullptr;
}

void Cell::Fold() const {
  if (pending_.empty()) return;
  if (users_by_type_.size() < events_by_type.size()) users_by_type_.resize(events_by_type.size());
  // Sorted, the notes come in runs of one type, each run's users ascending (and repeated users together).
  std::vector<uint32_t> run;
  run.reserve(pending_.size());
  ForEachSortedRun(pending_, [&](uint32_t type, std::span<const uint64_t> notes) {
    run.clear();
    for (const uint64_t note : notes) {
      const auto user = static_cast<uint32_t>(note);
      if (run.empty() || run.back() != user) run.push_back(user);
    }
    Roaring added;
    added.addMany(run.size(), run.data());  // ascending: each lands at its container's end
    users_by_type_[type] |= added;
    users_ |= added;
  });
  pending_.clear();
}

void Cell::Settle() const {
  Fold();
  std::vector<uint64_t>().swap(pending_);
}

}  // namespace tally

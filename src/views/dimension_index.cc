#include "views/dimension_index.h"

#include <algorithm>
#include <tuple>

namespace tally {

DimensionIndex DimensionIndex::Build(std::vector<Entry> entries) {
  std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    return std::tie(a.key, a.type, a.user) < std::tie(b.key, b.type, b.user);
  });
  DimensionIndex index;
  for (size_t i = 0; i < entries.size(); ++i) {
    const Entry& entry = entries[i];
    const bool new_key = i == 0 || entry.key != entries[i - 1].key;
    if (new_key) {
      index.keys_.push_back(entry.key);
      index.key_groups_.push_back(static_cast<uint32_t>(index.group_type_.size()));
    }
    if (new_key || entry.type != entries[i - 1].type) {
      index.group_type_.push_back(entry.type);
      index.group_events_.push_back(0);
      index.group_users_.push_back(static_cast<uint32_t>(index.users_.size()));
      index.users_.push_back(entry.user);
    } else if (entry.user != entries[i - 1].user) {
      index.users_.push_back(entry.user);
    }
    ++index.group_events_.back();
  }
  index.key_groups_.push_back(static_cast<uint32_t>(index.group_type_.size()));
  index.group_users_.push_back(static_cast<uint32_t>(index.users_.size()));
  for (auto* column : {&index.keys_, &index.key_groups_, &index.group_type_, &index.group_events_,
                       &index.group_users_, &index.users_}) {
    column->shrink_to_fit();
  }
  return index;
}

std::optional<size_t> DimensionIndex::Find(uint32_t key) const {
  auto it = std::lower_bound(keys_.begin(), keys_.end(), key);
  if (it == keys_.end() || *it != key) return std::nullopt;
  return static_cast<size_t>(it - keys_.begin());
}

uint64_t DimensionIndex::Events(size_t at, std::optional<uint32_t> type) const {
  uint64_t events = 0;
  ForEachGroup(at, [&](const Group& group) {
    if (!type || group.type == *type) events += group.events;
  });
  return events;
}

void DimensionIndex::AddUsers(size_t at, std::optional<uint32_t> type, Roaring* users) const {
  ForEachGroup(at, [&](const Group& group) {
    if (!type || group.type == *type) users->addMany(group.users.size(), group.users.data());
  });
}

size_t DimensionIndex::MemoryBytes() const {
  size_t bytes = sizeof(*this);
  for (const auto* column : {&keys_, &key_groups_, &group_type_, &group_events_, &group_users_, &users_})
    bytes += column->capacity() * sizeof(uint32_t);
  return bytes;
}

}  // namespace tally

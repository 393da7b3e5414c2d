#include "views/dimension_index.h"

#include <algorithm>
#include <array>
#include <tuple>

namespace tally {

DimensionIndex::DimensionIndex() {
  static constexpr std::array<uint32_t, kArrays + 2> kEmpty = {0, 1, 0, 0, 1, 0, 0, 0};
  words_ = kEmpty;
  Slice();
}

DimensionIndex DimensionIndex::Build(std::vector<Entry> entries) {
  std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    return std::tie(a.key, a.type, a.user) < std::tie(b.key, b.type, b.user);
  });
  std::vector<uint32_t> keys, key_groups, group_type, group_events, group_users, users;
  for (size_t i = 0; i < entries.size(); ++i) {
    const Entry& entry = entries[i];
    const bool new_key = i == 0 || entry.key != entries[i - 1].key;
    if (new_key) {
      keys.push_back(entry.key);
      key_groups.push_back(static_cast<uint32_t>(group_type.size()));
    }
    if (new_key || entry.type != entries[i - 1].type) {
      group_type.push_back(entry.type);
      group_events.push_back(0);
      group_users.push_back(static_cast<uint32_t>(users.size()));
      users.push_back(entry.user);
    } else if (entry.user != entries[i - 1].user) {
      users.push_back(entry.user);
    }
    ++group_events.back();
  }
  key_groups.push_back(static_cast<uint32_t>(group_type.size()));
  group_users.push_back(static_cast<uint32_t>(users.size()));

  auto words = std::make_shared<std::vector<uint32_t>>();
  const std::array<const std::vector<uint32_t>*, kArrays> arrays = {&keys,         &key_groups,  &group_type,
                                                                    &group_events, &group_users, &users};
  size_t total = kArrays;
  for (const auto* array : arrays) total += array->size();
  words->reserve(total);
  for (const auto* array : arrays) words->push_back(static_cast<uint32_t>(array->size()));
  for (const auto* array : arrays) words->insert(words->end(), array->begin(), array->end());
  DimensionIndex index;
  index.words_ = *words;
  index.owner_ = std::move(words);
  index.Slice();
  return index;
}

bool DimensionIndex::Slice() {
  if (words_.size() < kArrays) return false;
  uint64_t total = kArrays;
  for (size_t i = 0; i < kArrays; ++i) total += words_[i];
  if (total != words_.size()) return false;
  size_t at = kArrays;
  std::array<std::span<const uint32_t>*, kArrays> arrays = {&keys_,         &key_groups_,  &group_type_,
                                                            &group_events_, &group_users_, &users_};
  for (size_t i = 0; i < kArrays; ++i) {
    *arrays[i] = words_.subspan(at, words_[i]);
    at += words_[i];
  }
  return true;
}

Result<DimensionIndex> DimensionIndex::FromWords(std::span<const uint32_t> words,
                                                 std::shared_ptr<const void> owner) {
  DimensionIndex index;
  index.words_ = words;
  index.owner_ = std::move(owner);
  auto damaged = [](const char* what) { return Status::Corruption(std::string("dimension index: ") + what); };
  if (!index.Slice()) return damaged("its counts do not add up to its size");
  const auto& keys = index.keys_;
  const auto& key_groups = index.key_groups_;
  const auto& group_users = index.group_users_;
  if (key_groups.size() != keys.size() + 1 || index.group_events_.size() != index.group_type_.size() ||
      group_users.size() != index.group_type_.size() + 1) {
    return damaged("its arrays' sizes do not fit together");
  }
  if (key_groups.front() != 0 || key_groups.back() != index.group_type_.size() || group_users.front() != 0 ||
      group_users.back() != index.users_.size()) {
    return damaged("an offset array does not span its array");
  }
  // The offsets first, whole: each array's offsets strictly grow from 0 to its end, so every range read
  // through them below lies inside its array.
  for (size_t k = 0; k < keys.size(); ++k) {
    if (k > 0 && keys[k] <= keys[k - 1]) return damaged("keys out of order");
    if (key_groups[k + 1] <= key_groups[k]) return damaged("a key without groups");
  }
  for (size_t g = 0; g + 1 < group_users.size(); ++g) {
    if (group_users[g + 1] <= group_users[g]) return damaged("a group without users");
  }
  for (size_t k = 0; k < keys.size(); ++k) {
    for (uint32_t g = key_groups[k]; g < key_groups[k + 1]; ++g) {
      if (g > key_groups[k] && index.group_type_[g] <= index.group_type_[g - 1])
        return damaged("types of a key out of order");
      if (index.group_events_[g] < group_users[g + 1] - group_users[g])
        return damaged("a group with fewer events than users");
      for (uint32_t u = group_users[g] + 1; u < group_users[g + 1]; ++u) {
        if (index.users_[u] <= index.users_[u - 1]) return damaged("users of a group out of order");
      }
    }
  }
  return index;
}

bool DimensionIndex::Fits(size_t keys, size_t types) const {
  return (keys_.empty() || keys_.back() < keys) &&
         std::all_of(group_type_.begin(), group_type_.end(), [&](uint32_t type) { return type < types; });
}

std::optional<size_t> DimensionIndex::Find(uint32_t key) const {
  auto it = std::lower_bound(keys_.begin(), keys_.end(), key);
  if (it == keys_.end() || *it != key) return std::nullopt;
  return static_cast<size_t>(it - keys_.begin());
}

void DimensionIndex::AddUsers(size_t at, std::optional<uint32_t> type, Roaring* users) const {
  ForEachGroup(at, [&](const Group& group) {
    if (!type || group.type == *type) users->addMany(group.users.size(), group.users.data());
  });
}

}  // namespace tally

#include "query/day_counts.h"

#include <algorithm>

namespace tally {

std::shared_ptr<const DayCounts::Counts> DayCounts::Find(const Key& key, const Seals& seals) const {
  std::lock_guard lock(mutex_);
  auto it = kept_.find(key);
  if (it == kept_.end() || it->second.seals.size() != seals.size()) return nullptr;
  for (size_t i = 0; i < seals.size(); ++i) {
    const auto& [hour, kept_seal] = it->second.seals[i];
    if (hour != seals[i].first || kept_seal.lock() != seals[i].second) return nullptr;
  }
  it->second.last_used = ++use_clock_;
  return it->second.counts;
}

void DayCounts::Keep(const Key& key, const Seals& seals, std::shared_ptr<const Counts> counts) {
  Kept kept;
  kept.seals.assign(seals.begin(), seals.end());
  kept.counts = std::move(counts);
  const size_t bytes = BytesOf(kept);
  std::lock_guard lock(mutex_);
  // A weak pointer keeps the block its seal was made in (make_shared): days of seals gone go now.
  for (auto it = kept_.begin(); it != kept_.end();) {
    const bool gone = it->first == key || std::any_of(it->second.seals.begin(), it->second.seals.end(),
                                                      [](const auto& seal) { return seal.second.expired(); });
    if (!gone) {
      ++it;
      continue;
    }
    bytes_ -= BytesOf(it->second);
    it = kept_.erase(it);
  }
  if (bytes > max_bytes_) return;
  if (bytes_ + bytes > max_bytes_) {
    // The least recently used first (a few hundred days at most: a sort is cheap beside summing one).
    std::vector<std::map<Key, Kept>::iterator> by_use;
    by_use.reserve(kept_.size());
    for (auto it = kept_.begin(); it != kept_.end(); ++it) by_use.push_back(it);
    std::sort(by_use.begin(), by_use.end(),
              [](const auto& a, const auto& b) { return a->second.last_used < b->second.last_used; });
    for (auto it = by_use.begin(); it != by_use.end() && bytes_ + bytes > max_bytes_; ++it) {
      bytes_ -= BytesOf((*it)->second);
      kept_.erase(*it);
    }
  }
  kept.last_used = ++use_clock_;
  kept_.emplace(key, std::move(kept));
  bytes_ += bytes;
}

std::shared_ptr<const DayCounts::Counts> DayCounts::Sum(const Seals& seals, bool by_product,
                                                        std::optional<uint32_t> type, uint32_t key_count) {
  std::vector<uint64_t> events(key_count, 0);
  for (const auto& [hour, seal] : seals) {
    const DimensionIndex& index = by_product ? seal->by_product : seal->by_store;
    index.ForEachKeyEvents(type, [&](uint32_t key, uint64_t count) { events[key] += count; });
  }
  auto counts = std::make_shared<Counts>();
  for (uint32_t key = 0; key < key_count; ++key) {
    if (events[key] == 0) continue;
    counts->keys.push_back(key);
    counts->events.push_back(events[key]);
  }
  counts->keys.shrink_to_fit();
  counts->events.shrink_to_fit();
  return counts;
}

size_t DayCounts::days() const {
  std::lock_guard lock(mutex_);
  return kept_.size();
}

size_t DayCounts::bytes() const {
  std::lock_guard lock(mutex_);
  return bytes_;
}

size_t DayCounts::BytesOf(const Kept& kept) {
  // (Each seal counted as the block a weak pointer may keep of it.)
  return sizeof(Kept) + sizeof(Counts) + kept.seals.size() * (sizeof(kept.seals[0]) + sizeof(SealedHour)) +
         kept.counts->keys.size() * (sizeof(uint32_t) + sizeof(uint64_t));
}

}  // namespace tally

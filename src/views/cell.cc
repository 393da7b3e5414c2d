#include "views/cell.h"

#include <algorithm>

#include "views/sorted_runs.h"

namespace tally {

void Cell::Add(uint32_t type, uint32_t user) {
  Thaw();
  if (events_by_type.size() <= type) events_by_type.resize(type + 1, 0);
  ++events_by_type[type];
  if (pending_.empty()) pending_.reserve(64);
  pending_.push_back(uint64_t{type} << 32 | user);
  if (pending_.size() >= fold_limit_) Fold();
}

void Cell::Remove(uint32_t type, uint32_t user, bool user_stays, bool user_stays_in_type) {
  Thaw();
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
  const std::vector<Roaring>& of_type = users_by_type();
  return type < of_type.size() && !of_type[type].isEmpty() ? &of_type[type] : nullptr;
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
  fold_limit_ = std::clamp<size_t>(users_.cardinality() / kUsersPerPending, kMinPending, kMaxPending);
}

void Cell::Settle() const {
  Fold();
  std::vector<uint64_t>().swap(pending_);
}

Result<bool> Cell::Freeze(const std::shared_ptr<ColdChunkFile>& cold) {
  if (frozen_) return false;
  Settle();
  const std::string block = FreezeUserSets(users_, users_by_type_);
  auto chunk = cold->MoveIn(block.data(), block.size());
  if (!chunk.ok()) return chunk.status();
  auto frozen = Frozen::Of(cold, *chunk, block.size());
  if (frozen->sets == nullptr) return Status::Internal("frozen user sets do not read back");
  frozen_ = std::move(frozen);
  users_ = Roaring();
  std::vector<Roaring>().swap(users_by_type_);
  return true;
}

std::optional<Cell::FrozenChunk> Cell::frozen_chunk() const {
  if (!frozen_) return std::nullopt;
  return FrozenChunk{frozen_->cold.get(), frozen_->chunk, frozen_->bytes};
}

bool Cell::AdoptFrozen(const std::shared_ptr<ColdChunkFile>& cold, const ColdChunkFile::Place& place,
                       uint64_t bytes) {
  if (bytes == 0 || bytes % ColdChunkFile::kPageBytes != 0) return false;
  auto chunk = cold->Adopt(place.offset, bytes, place.crc);
  if (!chunk.ok()) return false;
  auto frozen = Frozen::Of(cold, *chunk, bytes);
  if (frozen->sets == nullptr || frozen->sets->users_by_type().size() > events_by_type.size()) return false;
  users_ = Roaring();
  users_by_type_.clear();
  pending_.clear();
  frozen_ = std::move(frozen);
  return true;
}

void Cell::Thaw() {
  if (!frozen_) return;
  users_ = Roaring(roaring_bitmap_copy(&frozen_->sets->users().roaring));
  users_by_type_.clear();
  for (const Roaring& of_type : frozen_->sets->users_by_type())
    users_by_type_.emplace_back(roaring_bitmap_copy(&of_type.roaring));
  frozen_.reset();
}

std::unique_ptr<Cell::Frozen> Cell::Frozen::Of(const std::shared_ptr<ColdChunkFile>& cold, void* chunk,
                                               size_t bytes) {
  auto frozen = std::make_unique<Frozen>();
  frozen->cold = cold;
  frozen->chunk = chunk;
  frozen->bytes = bytes;
  frozen->sets = FrozenUserSets::View({static_cast<const char*>(chunk), bytes});
  return frozen;
}

Cell::Frozen::~Frozen() {
  sets.reset();
  if (chunk != nullptr) cold->Release(chunk, bytes);
}

}  // namespace tally

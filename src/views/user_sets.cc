#include "views/user_sets.h"

#include <cstring>

#include "common/fixed_width.h"

namespace tally {
namespace {

constexpr uint32_t kMagic = 0x315a4654;  // "TFZ1"
constexpr size_t kAlignment = 32;        // what a frozen view needs
constexpr size_t kPageBytes = 4096;

size_t RoundUp(size_t bytes, size_t to) { return (bytes + to - 1) / to * to; }

// Empties `bitmap` without freeing anything: its arrays belong to a frozen view.
void Detach(Roaring* bitmap) { std::memset(&bitmap->roaring, 0, sizeof(bitmap->roaring)); }

}  // namespace

bool WellFormed(const Roaring& bitmap) {
  roaring_uint32_iterator_t it;
  roaring_init_iterator(&bitmap.roaring, &it);
  uint64_t count = 0;
  int64_t previous = -1;
  // (Read 256 values at a time: value by value, the iterator was a tenth of a restart of 100 M events.)
  uint32_t values[256];
  for (uint32_t read = 0; (read = roaring_read_uint32_iterator(&it, values, 256)) > 0;) {
    bool increasing = static_cast<int64_t>(values[0]) > previous;
    for (uint32_t i = 1; i < read; ++i) increasing &= values[i] > values[i - 1];
    if (!increasing) return false;
    previous = values[read - 1];
    count += read;
  }
  return count == bitmap.cardinality();
}

std::string FreezeUserSets(const Roaring& users, std::span<const Roaring> users_by_type) {
  std::vector<const Roaring*> sets{&users};
  for (const Roaring& of_type : users_by_type) sets.push_back(&of_type);
  std::vector<uint64_t> sizes;
  size_t end = RoundUp(8 + 8 * sets.size(), kAlignment);
  for (const Roaring* set : sets) {
    sizes.push_back(set->isEmpty() ? 0 : roaring_bitmap_frozen_size_in_bytes(&set->roaring));
    end = RoundUp(end + sizes.back(), kAlignment);
  }
  std::string block;
  PutFixed<uint32_t>(&block, kMagic);
  PutFixed<uint32_t>(&block, static_cast<uint32_t>(sets.size()));
  for (uint64_t size : sizes) PutFixed<uint64_t>(&block, size);
  block.resize(RoundUp(end, kPageBytes), '\0');
  size_t at = RoundUp(8 + 8 * sets.size(), kAlignment);
  for (size_t i = 0; i < sets.size(); ++i) {
    if (sizes[i] > 0) roaring_bitmap_frozen_serialize(&sets[i]->roaring, block.data() + at);
    at = RoundUp(at + sizes[i], kAlignment);
  }
  return block;
}

std::unique_ptr<FrozenUserSets> FrozenUserSets::View(std::string_view bytes) {
  if (reinterpret_cast<uintptr_t>(bytes.data()) % kAlignment != 0 || bytes.size() < 8 ||
      GetFixed<uint32_t>(bytes.data()) != kMagic) {
    return nullptr;
  }
  const uint32_t count = GetFixed<uint32_t>(bytes.data() + 4);
  if (count == 0 || count > (bytes.size() - 8) / 8) return nullptr;
  std::unique_ptr<FrozenUserSets> sets(new FrozenUserSets());
  sets->users_by_type_.resize(count - 1);
  size_t at = RoundUp(8 + 8 * size_t{count}, kAlignment);
  for (uint32_t i = 0; i < count; ++i) {
    const auto size = GetFixed<uint64_t>(bytes.data() + 8 + 8 * size_t{i});
    if (at > bytes.size() || size > bytes.size() - at) return nullptr;
    Roaring* into = i == 0 ? &sets->users_ : &sets->users_by_type_[i - 1];
    if (size > 0 && !sets->Adopt(bytes.substr(at, size), into)) return nullptr;
    at = RoundUp(at + size, kAlignment);
  }
  return sets;
}

bool FrozenUserSets::Adopt(std::string_view bytes, Roaring* into) {
  const roaring_bitmap_t* view = roaring_bitmap_frozen_view(bytes.data(), bytes.size());
  if (view == nullptr) return false;
  views_.push_back(view);
  into->roaring = *view;
  return WellFormed(*into);
}

FrozenUserSets::~FrozenUserSets() {
  Detach(&users_);
  for (Roaring& of_type : users_by_type_) Detach(&of_type);
  for (const roaring_bitmap_t* view : views_) roaring_bitmap_free(view);
}

}  // namespace tally

#include "views/user_sets.h"

#include <bit>
#include <cstring>

#include "common/fixed_width.h"
#include "common/round_up.h"

namespace tally {
namespace {

constexpr uint32_t kMagic = 0x315a4654;  // "TFZ1"
constexpr size_t kAlignment = 32;        // what a frozen view needs
constexpr size_t kPageBytes = 4096;

// Where the first set starts in a block of `count` sets: after the magic, the count and each set's size.
size_t FirstSetAt(size_t count) { return RoundUp(8 + 8 * count, kAlignment); }

// Empties `bitmap` without freeing anything: its arrays belong to a frozen view.
void Detach(Roaring* bitmap) { std::memset(&bitmap->roaring, 0, sizeof(bitmap->roaring)); }

}  // namespace

bool WellFormed(const Roaring& bitmap) {
  // Container by container (reading every value through an iterator was 8 % of a restart of 100 M
  // events): keys increasing, each array's values increasing, each run after the one before it and inside
  // its container, and each bitset holding as many values as it says (arrays and runs are counted from
  // what they hold).
  const roaring_array_t& containers = bitmap.roaring.high_low_container;
  for (int32_t i = 0; i < containers.size; ++i) {
    if (i > 0 && containers.keys[i] <= containers.keys[i - 1]) return false;
    const void* container = containers.containers[i];
    switch (containers.typecodes[i]) {
      case BITSET_CONTAINER_TYPE_CODE: {
        const auto* bitset = static_cast<const bitset_container_t*>(container);
        int64_t count = 0;
        for (size_t word = 0; word < (size_t{1} << 16) / 64; ++word)
          count += std::popcount(bitset->array[word]);
        if (count != bitset->cardinality) return false;
        break;
      }
      case ARRAY_CONTAINER_TYPE_CODE: {
        const auto* array = static_cast<const array_container_t*>(container);
        bool increasing = true;
        for (int32_t at = 1; at < array->cardinality; ++at)
          increasing &= array->array[at] > array->array[at - 1];
        if (!increasing) return false;
        break;
      }
      case RUN_CONTAINER_TYPE_CODE: {
        const auto* run = static_cast<const run_container_t*>(container);
        int64_t end = -1;  // the last value of the run before
        for (int32_t at = 0; at < run->n_runs; ++at) {
          const rle16_t& next = run->runs[at];
          if (next.value <= end || uint32_t{next.value} + next.length > UINT16_MAX) return false;
          end = next.value + next.length;
        }
        break;
      }
      default:  // (a shared container: copy-on-write, which nothing here turns on)
        return false;
    }
  }
  return true;
}

std::string FreezeUserSets(const Roaring& users, std::span<const Roaring> users_by_type) {
  std::vector<const Roaring*> sets{&users};
  for (const Roaring& of_type : users_by_type) sets.push_back(&of_type);
  std::vector<uint64_t> sizes;
  size_t end = FirstSetAt(sets.size());
  for (const Roaring* set : sets) {
    sizes.push_back(set->isEmpty() ? 0 : roaring_bitmap_frozen_size_in_bytes(&set->roaring));
    end = RoundUp(end + sizes.back(), kAlignment);
  }
  std::string block;
  PutFixed<uint32_t>(&block, kMagic);
  PutFixed<uint32_t>(&block, static_cast<uint32_t>(sets.size()));
  for (uint64_t size : sizes) PutFixed<uint64_t>(&block, size);
  block.resize(RoundUp(end, kPageBytes), '\0');
  size_t at = FirstSetAt(sets.size());
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
  size_t at = FirstSetAt(count);
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

// An hour cell's user sets (all of its users, then those of each type), checked, and frozen into one block
// of whole pages that is read in place: the form a quiet hour's sets take in the cold chunk file, so that
// they cost no heap and a checkpoint refers to them instead of copying them.
//
// The block, in CRoaring's frozen format (the bitmap's arrays as they are in memory, viewed without a
// copy):
//   u32 magic "TFZ1" | u32 sets | u64 bytes of each set (0: empty) | zeros to a 32-byte boundary |
//   each set's frozen bytes, each from a 32-byte boundary | zeros to a whole page
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <roaring/roaring.hh>

namespace tally {

// This CRoaring's safe deserialization (and its frozen view) keeps the reads inside the bytes but checks
// no more: containers out of order, or a cardinality that is not the count, would make later answers
// wrong. A well-formed bitmap's values come strictly increasing, as many as it says it holds.
bool WellFormed(const Roaring& bitmap);

// `users`, then `users_by_type`, as a block of whole pages (ColdChunkFile::kPageBytes).
std::string FreezeUserSets(const Roaring& users, std::span<const Roaring> users_by_type);

// A block FreezeUserSets made, read where it is: the bitmaps share its bytes, which must outlive them.
class FrozenUserSets {
 public:
  // Null when the bytes (32-byte aligned) are not such a block, or a set in it is not well formed.
  static std::unique_ptr<FrozenUserSets> View(std::string_view bytes);
  ~FrozenUserSets();
  FrozenUserSets(const FrozenUserSets&) = delete;
  FrozenUserSets& operator=(const FrozenUserSets&) = delete;

  // Read only: a bitmap here may not be changed (its arrays are the block's).
  const Roaring& users() const { return users_; }
  const std::vector<Roaring>& users_by_type() const { return users_by_type_; }

 private:
  FrozenUserSets() = default;
  // Takes the frozen view of `bytes` into `into` (which then refers to them); false if it is not one.
  bool Adopt(std::string_view bytes, Roaring* into);

  // What CRoaring allocated for each view (the arrays of container pointers); the Roarings below hold
  // copies of their headers, and are emptied before these are freed.
  std::vector<const roaring_bitmap_t*> views_;
  Roaring users_;
  std::vector<Roaring> users_by_type_;
};

}  // namespace tally

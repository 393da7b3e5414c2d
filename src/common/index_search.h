// A binary search over places rather than over a container's iterators: for sequences read through an
// accessor (a chunked vector, bit-packed columns), which std::lower_bound cannot walk.
#pragma once

#include <cstddef>

namespace tally {

// The first place in [low, high) that `is_less_at` is false for, where the places it is true for all come
// first (high if there is none).
template <typename IsLessAt>
size_t LowerBoundOfPlaces(size_t low, size_t high, IsLessAt&& is_less_at) {
  while (low < high) {
    const size_t middle = low + (high - low) / 2;
    if (is_less_at(middle)) {
      low = middle + 1;
    } else {
      high = middle;
    }
  }
  return low;
}

}  // namespace tally

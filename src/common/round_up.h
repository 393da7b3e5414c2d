// Sizes and offsets rounded up to a multiple (pages, huge pages, alignments, chunks).
#pragma once

#include <cstddef>

namespace tally {

// `value` rounded up to a multiple of `to` (which is not 0).
constexpr size_t RoundUp(size_t value, size_t to) { return (value + to - 1) / to * to; }

}  // namespace tally

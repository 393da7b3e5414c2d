// Notes packed as high << 32 | low, folded in sorted: what the views buffer when writing each one where it
// belongs at once would cost a cache miss (an hour's cell notes type << 32 | user; a shard notes
// hour << 32 | row).
#pragma once

#include <algorithm>
#include <cstdint>
#include <span>
#include <vector>

namespace tally {

// Sorts `notes` and calls visit(high, run) for each run of notes with the same high half, in ascending
// order of it; within a run the notes ascend by their low half.
template <typename Visit>
void ForEachSortedRun(std::vector<uint64_t>& notes, Visit&& visit) {
  std::sort(notes.begin(), notes.end());
  for (size_t begin = 0; begin < notes.size();) {
    const auto high = static_cast<uint32_t>(notes[begin] >> 32);
    size_t end = begin + 1;
    while (end < notes.size() && static_cast<uint32_t>(notes[end] >> 32) == high) ++end;
    visit(high, std::span<const uint64_t>(notes.data() + begin, end - begin));
    begin = end;
  }
}

}  // namespace tally

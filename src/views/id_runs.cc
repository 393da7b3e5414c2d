#include "views/id_runs.h"

#include <algorithm>
#include <array>

#include "views/saved_bytes.h"

namespace tally {

namespace {

// The odd constants that pick an id's bit in each of a block's eight words (Parquet's split-block filter).
constexpr uint32_t kSalt[8] = {0x47b6137bU, 0x44974d91U, 0x8824ad5bU, 0xa2b7289dU,
                               0x705495c7U, 0x2df1424bU, 0x9efc4947U, 0x5c6bfb31U};

// The bit a fingerprint sets in word `i` of its block.
constexpr uint32_t BitOf(uint32_t fingerprint, size_t i) {
  return uint32_t{1} << ((fingerprint * kSalt[i]) >> 27);
}

template <typename Run>
size_t LowerBound(const Run& run, uint32_t fingerprint) {
  const size_t size = run.size();
  if (size == 0) return 0;
  // Fingerprints are spread evenly, so the search starts where this one would be and widens from there
  // (a few steps instead of a binary search's 27 over 100 M entries, each a page the kernel may have to
  // read back).
  const auto guess = static_cast<size_t>((uint64_t{fingerprint} * size) >> 32);
  size_t low = 0;   // every entry before it is below `fingerprint`
  size_t high = 0;  // `size`, or an entry not below `fingerprint`
  if (run[guess].fingerprint < fingerprint) {
    low = guess + 1;
    high = low;
    for (size_t step = 1; high < size && run[high].fingerprint < fingerprint; step *= 2) {
      low = high + 1;
      high = low + step;
    }
    high = std::min(high, size);
  } else {
    high = guess;
    low = guess;
    for (size_t step = 1; low > 0 && run[low - 1].fingerprint >= fingerprint; step *= 2) {
      high = low - 1;
      low = high > step ? high - step : 0;
    }
  }
  while (low < high) {
    const size_t middle = low + (high - low) / 2;
    if (run[middle].fingerprint < fingerprint) {
      low = middle + 1;
    } else {
      high = middle;
    }
  }
  return low;
}

// Sorts by fingerprint alone (equal ones stay in the order they came): four passes of a byte each, a
// fraction of a comparison sort's time on the millions of ids a checkpoint restores.
void SortByFingerprint(std::vector<IdRuns::Entry>& entries) {
  if (entries.size() < 4096) {
    std::stable_sort(entries.begin(), entries.end(), [](const IdRuns::Entry& a, const IdRuns::Entry& b) {
      return a.fingerprint < b.fingerprint;
    });
    return;
  }
  std::vector<IdRuns::Entry> sorted(entries.size());
  for (int shift = 0; shift < 32; shift += 8) {
    std::array<size_t, 257> start{};
    for (const IdRuns::Entry& entry : entries) ++start[((entry.fingerprint >> shift) & 0xFF) + 1];
    for (size_t byte = 1; byte < start.size(); ++byte) start[byte] += start[byte - 1];
    for (const IdRuns::Entry& entry : entries) sorted[start[(entry.fingerprint >> shift) & 0xFF]++] = entry;
    entries.swap(sorted);
  }
}

}  // namespace

size_t IdRuns::BlockIndexOf(uint32_t fingerprint) const {
  return static_cast<size_t>((uint64_t{fingerprint} * filter_.size()) >> 32);
}

void IdRuns::AddToFilter(uint32_t fingerprint) {
  Block& block = filter_[BlockIndexOf(fingerprint)];
  for (size_t i = 0; i < 8; ++i) block.words[i] |= BitOf(fingerprint, i);
}

bool IdRuns::MayContain(uint64_t hash) const {
  if (size_ == 0) return false;
  const uint32_t fingerprint = FingerprintOf(hash);
  const Block& block = filter_[BlockIndexOf(fingerprint)];
  uint32_t missing = 0;
  for (size_t i = 0; i < 8; ++i) missing |= ~block.words[i] & BitOf(fingerprint, i);
  return missing == 0;
}

void IdRuns::Prefetch(uint64_t hash) const {
  if (!filter_.empty()) __builtin_prefetch(&filter_[BlockIndexOf(FingerprintOf(hash))]);
}

void IdRuns::RebuildFilter() {
  filter_capacity_ = std::max(2 * size_, kMinFilterIds);
  filter_.assign((filter_capacity_ * kBitsPerIdAtCapacity + 255) / 256, Block{});
  for (const Run& run : runs_) {
    for (const Entry& entry : run) AddToFilter(entry.fingerprint);
  }
}

std::optional<uint32_t> IdRuns::Find(uint64_t hash, const std::function<bool(uint32_t)>& is_it) const {
  const uint32_t fingerprint = FingerprintOf(hash);
  for (const Run& run : runs_) {
    for (size_t i = LowerBound(run, fingerprint); i < run.size() && run[i].fingerprint == fingerprint; ++i) {
      if (is_it(run[i].number)) return run[i].number;
    }
  }
  return std::nullopt;
}

std::optional<uint32_t> IdRuns::FindPair(const std::function<bool(uint32_t, uint32_t)>& same) const {
  for (const Run& run : runs_) {
    for (size_t first = 0; first < run.size();) {
      size_t end = first + 1;
      while (end < run.size() && run[end].fingerprint == run[first].fingerprint) ++end;
      for (size_t a = first; a < end; ++a) {
        for (size_t b = a + 1; b < end; ++b) {
          if (same(run[a].number, run[b].number)) return run[a].number;
        }
      }
      first = end;
    }
  }
  return std::nullopt;
}

void IdRuns::Append(Run& run, const Entry& entry) {
  run.push_back(entry);
  // A run being merged can be most of the ids: its chunks go to the cold file as they fill, so that the
  // merge does not hold a second copy of them on the heap.
  if (cold_ && run.size() % Run::kChunkSize == 0) {
    // On an error (a full disk) the chunk stays on the heap, as MoveColdChunks would leave it.
    (void)run.MoveToCold(run.size(), cold_);
  }
}

IdRuns::Run IdRuns::MergeRuns(const std::vector<const Run*>& runs,
                              const std::function<bool(uint32_t)>& keep) {
  Run merged;
  std::vector<size_t> at(runs.size(), 0);
  while (true) {
    // A linear pick of the least: there are at most a few dozen runs.
    size_t least = runs.size();
    for (size_t r = 0; r < runs.size(); ++r) {
      if (at[r] < runs[r]->size() &&
          (least == runs.size() || (*runs[r])[at[r]].fingerprint < (*runs[least])[at[least]].fingerprint)) {
        least = r;
      }
    }
    if (least == runs.size()) break;
    const Entry entry = (*runs[least])[at[least]++];
    if (!keep || keep(entry.number)) Append(merged, entry);
  }
  return merged;
}

void IdRuns::Add(std::vector<Entry> entries) {
  if (entries.empty()) return;
  SortByFingerprint(entries);
  Run run;
  for (const Entry& entry : entries) Append(run, entry);
  size_ += entries.size();
  if (size_ > filter_capacity_) {
    runs_.push_back(std::move(run));
    RebuildFilter();
  } else {
    for (const Entry& entry : entries) AddToFilter(entry.fingerprint);
    runs_.push_back(std::move(run));
  }
  // Binary-counter merging: a run is merged with the one before it while that one is at most twice its
  // size, so an id is copied about log2(ids / run size) times over its life.
  while (runs_.size() >= 2 && runs_[runs_.size() - 2].size() <= 2 * runs_.back().size()) {
    Run merged = MergeRuns({&runs_[runs_.size() - 2], &runs_.back()}, {});
    runs_.pop_back();
    runs_.back() = std::move(merged);
  }
}

void IdRuns::KeepIf(const std::function<bool(uint32_t)>& keep) {
  if (runs_.empty()) return;
  std::vector<const Run*> all;
  for (const Run& run : runs_) all.push_back(&run);
  Run kept = MergeRuns(all, keep);
  runs_.clear();
  size_ = kept.size();
  if (size_ > 0) runs_.push_back(std::move(kept));
  RebuildFilter();
}

void IdRuns::Refingerprint(const std::function<uint32_t(uint32_t)>& fingerprint_of) {
  std::vector<Entry> entries;
  entries.reserve(size_);
  for (const Run& run : runs_) {
    for (const Entry& entry : run) entries.push_back({fingerprint_of(entry.number), entry.number});
  }
  runs_.clear();
  size_ = 0;
  filter_capacity_ = 0;  // (Add makes the filter again)
  filter_.clear();
  Add(std::move(entries));
}

void IdRuns::Save(saved::Writer* out) const {
  out->Value<uint64_t>(runs_.size());
  for (const Run& run : runs_) out->InMemory(run, 0);
}

bool IdRuns::Load(saved::Reader* in, uint32_t numbers, const std::shared_ptr<const MappedFile>& mapping) {
  uint64_t count = 0;
  if (!runs_.empty() || !in->Count(&count, sizeof(uint64_t) + 1)) return false;
  for (uint64_t r = 0; r < count; ++r) {
    Run run;
    if (!in->InMemory(&run, UINT32_MAX, mapping)) return false;
    uint32_t previous = 0;
    for (const Entry& entry : run) {
      if (entry.number >= numbers || entry.fingerprint < previous) return false;
      previous = entry.fingerprint;
    }
    size_ += run.size();
    runs_.push_back(std::move(run));
  }
  RebuildFilter();
  return true;
}

Result<size_t> IdRuns::MoveToCold(const std::shared_ptr<ColdChunkFile>& cold) {
  cold_ = cold;
  size_t moved = 0;
  for (Run& run : runs_) {
    auto chunks = run.MoveToCold(run.size(), cold);
    if (!chunks.ok()) return chunks.status();
    moved += *chunks;
  }
  return moved;
}

}  // namespace tally

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
  return run.LowerBound(low, high,
                        [&](const IdRuns::Entry& entry) { return entry.fingerprint < fingerprint; });
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

// Appends to a run being written, moving its full chunks to the cold file (if any) as it goes.
void Append(IdRuns::Run& run, const IdRuns::Entry& entry, const std::shared_ptr<ColdChunkFile>& cold) {
  run.push_back(entry);
  // A run being merged can be most of the ids: its chunks go to the cold file as they fill, so that the
  // merge does not hold a second copy of them on the heap.
  if (cold && run.size() % IdRuns::Run::kChunkSize == 0) {
    // On an error (a full disk) the chunk stays on the heap, as MoveColdChunks would leave it.
    (void)run.MoveToCold(run.size(), cold);
  }
}

// Whether `stop` is set, looked at once every chunk's worth of `done`.
bool Stopped(const std::atomic<bool>* stop, size_t done) {
  return stop != nullptr && done % IdRuns::Run::kChunkSize == 0 && stop->load(std::memory_order_relaxed);
}

// Merges `runs` into one, keeping what `keep` keeps (all when it is empty); only part of them once `stop`
// is set.
IdRuns::Run MergeRuns(const std::vector<const IdRuns::Run*>& runs, const std::function<bool(uint32_t)>& keep,
                      const std::shared_ptr<ColdChunkFile>& cold, const std::atomic<bool>* stop = nullptr) {
  IdRuns::Run merged;
  std::vector<size_t> at(runs.size(), 0);
  for (size_t done = 0; !Stopped(stop, done); ++done) {
    // A linear pick of the least: there are at most a few dozen runs.
    size_t least = runs.size();
    for (size_t r = 0; r < runs.size(); ++r) {
      if (at[r] < runs[r]->size() &&
          (least == runs.size() || (*runs[r])[at[r]].fingerprint < (*runs[least])[at[least]].fingerprint)) {
        least = r;
      }
    }
    if (least == runs.size()) break;
    const IdRuns::Entry entry = (*runs[least])[at[least]++];
    if (!keep || keep(entry.number)) Append(merged, entry, cold);
  }
  return merged;
}

// The block of `blocks` a fingerprint's bits are in.
size_t BlockIndexOf(uint32_t fingerprint, size_t blocks) {
  return static_cast<size_t>((uint64_t{fingerprint} * blocks) >> 32);
}

}  // namespace

void IdRuns::AddTo(std::vector<Block>& filter, uint32_t fingerprint) {
  Block& block = filter[BlockIndexOf(fingerprint, filter.size())];
  for (size_t i = 0; i < 8; ++i) block.words[i] |= BitOf(fingerprint, i);
}

bool IdRuns::MayContain(uint64_t hash) const {
  if (size_ == 0) return false;
  const uint32_t fingerprint = FingerprintOf(hash);
  const Block& block = filter_[BlockIndexOf(fingerprint, filter_.size())];
  uint32_t missing = 0;
  for (size_t i = 0; i < 8; ++i) missing |= ~block.words[i] & BitOf(fingerprint, i);
  return missing == 0;
}

void IdRuns::Prefetch(uint64_t hash) const {
  if (!filter_.empty()) __builtin_prefetch(&filter_[BlockIndexOf(FingerprintOf(hash), filter_.size())]);
}

std::vector<IdRuns::Block> IdRuns::FilterOf(const std::vector<std::shared_ptr<const Run>>& runs,
                                            size_t capacity, const std::atomic<bool>* stop) {
  std::vector<Block> filter = EmptyFilter(capacity);
  for (const auto& run : runs) {
    for (size_t i = 0; i < run->size() && !Stopped(stop, i); ++i) AddTo(filter, (*run)[i].fingerprint);
  }
  return filter;
}

void IdRuns::RebuildFilter() {
  filter_capacity_ = FilterCapacityFor(size_);
  filter_ = FilterOf({runs_.begin(), runs_.end()}, filter_capacity_);
}

std::optional<uint32_t> IdRuns::Find(uint64_t hash, const std::function<bool(uint32_t)>& is_it) const {
  const uint32_t fingerprint = FingerprintOf(hash);
  for (const auto& run : runs_) {
    for (size_t i = LowerBound(*run, fingerprint); i < run->size() && (*run)[i].fingerprint == fingerprint;
         ++i) {
      if (is_it((*run)[i].number)) return (*run)[i].number;
    }
  }
  return std::nullopt;
}

void IdRuns::Add(std::vector<Entry> entries) {
  if (entries.empty()) return;
  SortByFingerprint(entries);
  auto run = std::make_shared<Run>();
  for (const Entry& entry : entries) Append(*run, entry, cold_);
  size_ += entries.size();
  runs_.push_back(std::move(run));
  if (size_ > filter_capacity_ && (!merge_in_background_ || filter_.empty())) {
    RebuildFilter();
  } else {
    for (const Entry& entry : entries) AddToFilter(entry.fingerprint);
    if (filter_out_) {
      for (const Entry& entry : entries) added_while_out_.push_back(entry.fingerprint);
    }
  }
  if (merge_in_background_) return;
  for (auto merge = TakeMerge(); merge; merge = TakeMerge()) {
    merge->Write();
    PutMerge(*merge);
  }
}

std::optional<IdRuns::Merge> IdRuns::TakeMerge() {
  if (merge_out_) return std::nullopt;
  // From the newest back, each run at most twice the runs after it together joins the merge: the run
  // before the merged one is then more than twice its size, as each run is more than twice the next one
  // (a binary counter: an id is copied about log2(ids / run size) times over its life).
  size_t first = runs_.size();
  if (!runs_.empty()) {
    size_t after = runs_.back()->size();  // entries in the runs after runs_[i]
    for (size_t i = runs_.size() - 1; i-- > 0 && runs_[i]->size() <= 2 * after;) {
      first = i;
      after += runs_[i]->size();
    }
  }
  const bool filter = size_ > filter_capacity_;
  if (first == runs_.size() && !filter) return std::nullopt;
  Merge merge;
  merge.inputs_.assign(runs_.begin() + static_cast<ptrdiff_t>(first), runs_.end());
  if (filter) {
    merge.filtered_.assign(runs_.begin(), runs_.end());
    merge.filter_capacity_ = FilterCapacityFor(size_);
  }
  merge.cold_ = cold_;
  merge.generation_ = generation_;
  merge.first_ = first;
  merge_out_ = true;
  read_first_ = filter ? 0 : first;
  read_end_ = runs_.size();
  filter_out_ = filter;
  return merge;
}

void IdRuns::Merge::Write(const std::atomic<bool>* stop) {
  if (!inputs_.empty()) {
    std::vector<const Run*> runs;
    for (const auto& input : inputs_) runs.push_back(input.get());
    merged_ = MergeRuns(runs, {}, cold_, stop);
  }
  if (filter_capacity_ > 0) filter_ = FilterOf(filtered_, filter_capacity_, stop);
  written_ = stop == nullptr || !stop->load();  // (set at any point: the merge may be part of one)
}

void IdRuns::PutMerge(Merge& merge) {
  merge_out_ = false;
  const bool filter_out = std::exchange(filter_out_, false);
  const std::vector<uint32_t> added = std::exchange(added_while_out_, {});
  if (!merge.written_ || merge.generation_ != generation_) return;
  if (!merge.inputs_.empty()) {
    const auto first = runs_.begin() + static_cast<ptrdiff_t>(merge.first_);
    *first = std::make_shared<Run>(std::move(merge.merged_));
    runs_.erase(first + 1, first + static_cast<ptrdiff_t>(merge.inputs_.size()));
  }
  if (filter_out) {
    filter_ = std::move(merge.filter_);
    filter_capacity_ = merge.filter_capacity_;
    for (const uint32_t fingerprint : added) AddToFilter(fingerprint);
  }
}

void IdRuns::MergeBeside(std::mutex& lock, const std::atomic<bool>* stop) {
  std::optional<Merge> merge;
  {
    std::lock_guard held(lock);
    MergeInBackground();
    merge = TakeMerge();
  }
  while (merge) {
    merge->Write(stop);
    std::optional<Merge> next;
    {
      std::lock_guard held(lock);
      PutMerge(*merge);
      // (Once stopping, a merge taken again would be given up again at once: the same one, forever.)
      if (stop == nullptr || !stop->load()) next = TakeMerge();
    }
    merge = std::move(next);  // (the runs it merged are freed here, off the lock)
  }
}

std::vector<size_t> IdRuns::run_sizes() const {
  std::vector<size_t> sizes;
  for (const auto& run : runs_) sizes.push_back(run->size());
  return sizes;
}

void IdRuns::KeepIf(const std::function<bool(uint32_t)>& keep) {
  if (runs_.empty()) return;
  std::vector<const Run*> all;
  for (const auto& run : runs_) all.push_back(run.get());
  auto kept = std::make_shared<Run>(MergeRuns(all, keep, cold_));
  runs_.clear();
  ++generation_;
  size_ = kept->size();
  if (size_ > 0) runs_.push_back(std::move(kept));
  RebuildFilter();
}

void IdRuns::Save(saved::Writer* out) const {
  out->Value<uint64_t>(runs_.size());
  for (const auto& run : runs_) out->InMemory(*run, 0);
}

bool IdRuns::Load(saved::Reader* in, uint32_t numbers, const std::shared_ptr<const MappedFile>& mapping) {
  uint64_t count = 0;
  if (!runs_.empty() || !in->Count(&count, sizeof(uint64_t) + 1)) return false;
  ++generation_;
  for (uint64_t r = 0; r < count; ++r) {
    auto run = std::make_shared<Run>();
    if (!in->InMemory(run.get(), UINT32_MAX, mapping)) return false;
    size_ += run->size();
    runs_.push_back(std::move(run));
  }
  // One pass over the entries checks them and makes the filter (a restart reads them once: 800 MB at 100 M
  // ids).
  filter_capacity_ = FilterCapacityFor(size_);
  filter_ = EmptyFilter(filter_capacity_);
  for (const auto& run : runs_) {
    uint32_t previous = 0;
    for (const Entry& entry : *run) {
      if (entry.number >= numbers || entry.fingerprint < previous) return false;
      previous = entry.fingerprint;
      AddToFilter(entry.fingerprint);
    }
  }
  return true;
}

Result<size_t> IdRuns::MoveToCold(const std::shared_ptr<ColdChunkFile>& cold) {
  cold_ = cold;
  size_t moved = 0;
  for (size_t r = 0; r < runs_.size(); ++r) {
    // (A merge out reads its runs' chunks where they are; they go with it.)
    if (merge_out_ && r >= read_first_ && r < read_end_) continue;
    Run& run = *runs_[r];
    auto chunks = run.MoveToCold(run.size(), cold);
    if (!chunks.ok()) return chunks.status();
    moved += *chunks;
  }
  return moved;
}

}  // namespace tally

// The event ids that left the event-id index's hash set (EventIdIndex): each as its fingerprint (the high
// 32 bits of its hash) and its number, in sorted runs, merged as they grow (from the newest back, a run at
// most twice the runs after it together is merged with them, so that each run is more than twice the next
// one and there are about log2 of the ids' count divided by the hash set's size). Runs are written once and
// then moved to the cold file, like the index's columns: they cost the process no anonymous memory and the
// kernel can page them.
//
// A merge reads runs that stay as they are until it is put back, so it can run off the index's lock: a
// server's sealing passes take each merge, write it without the lock and put it back (MergeInBackground),
// and ingest waits for none (the last merge of 100 M ids reads and writes 800 MB). Without them, Add
// merges at once.
//
// One filter over all runs stays on the heap (a split-block Bloom filter of the fingerprints, 10 to 20
// bits an id): a new id, the common case, is told apart from every id in the runs by one cache line,
// without reading a run. It is made from the fingerprints alone, so that it can be made again from the
// runs; besides its own false positives, an id whose fingerprint another id has passes it too (with
// 100 M ids, about 2 % of new ids: 100 M / 2^32).
// A fingerprint says only "maybe": the caller confirms every number found with the id's text, so two ids
// whose fingerprints are the same are never confused.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "common/files.h"
#include "tally/status.h"
#include "views/chunked_vector.h"
#include "views/cold_chunks.h"

namespace tally {

namespace saved {
class Reader;
class Writer;
}  // namespace saved

class IdRuns {
 public:
  struct Entry {
    uint32_t fingerprint = 0;
    uint32_t number = 0;
  };
  static uint32_t FingerprintOf(uint64_t hash) { return static_cast<uint32_t>(hash >> 32); }

  // Adds `entries` (in any order; this sorts them by fingerprint) as one run, and adds them to the filter.
  // Merges the runs at once unless they are merged in the background.
  void Add(std::vector<Entry> entries);

  using Run = ChunkedVector<Entry>;
  // 256 bits, one of each 32 set per id (Parquet's split-block filter).
  struct Block {
    uint32_t words[8];
  };
  // What the runs need as they grow: the newest runs merged into one, and the filter made again for
  // twice the ids once they outgrow it. Taken from the runs and put back into them.
  class Merge {
   public:
    // Merges the runs taken into one and makes the filter (needs no lock: nothing changes the runs it
    // reads while it is out). Once `stop` is set it gives up (PutMerge then changes nothing).
    void Write(const std::atomic<bool>* stop = nullptr);

   private:
    friend class IdRuns;
    std::vector<std::shared_ptr<const Run>> inputs_;  // the runs to merge (none: only the filter)
    Run merged_;
    std::vector<std::shared_ptr<const Run>> filtered_;  // every run, when the filter is made again
    std::vector<Block> filter_;
    size_t filter_capacity_ = 0;
    std::shared_ptr<ColdChunkFile> cold_;
    bool written_ = false;
    uint64_t generation_ = 0;  // of the runs it was taken from
    size_t first_ = 0;         // the inputs are runs_[first_, first_ + inputs_.size())
  };
  // From now on Add leaves merges and the filter's growth to TakeMerge's caller (the filter, outgrown,
  // lets more ids through until then; it never misses one).
  void MergeInBackground() { merge_in_background_ = true; }
  // The work the runs need, if they need some and none is out.
  std::optional<Merge> TakeMerge();
  // Puts the merged run in place of its inputs, and the filter in place (with the ids added since it was
  // taken), unless it was given up or the runs were made again since it was taken (retention, a load):
  // then nothing changes, and the next TakeMerge hands out what the runs need now. The inputs are freed
  // with `merge` (off the lock: their chunks leave the cold file one by one).
  void PutMerge(Merge& merge);
  // Merges in the background from now on, and does every merge the runs need, holding `lock` (the one
  // that guards the runs) only to take each and put it back, and freeing each one's inputs without it.
  void MergeBeside(std::mutex& lock, const std::atomic<bool>* stop = nullptr);

  // Whether an id of this hash may be in a run (false: surely not).
  bool MayContain(uint64_t hash) const;
  void Prefetch(uint64_t hash) const;
  // The first number whose fingerprint is the hash's and for which `is_it(number)` is true, searched for in
  // every run (callers ask MayContain first: it answers for most ids without a search).
  std::optional<uint32_t> Find(uint64_t hash, const std::function<bool(uint32_t)>& is_it) const;
  // Keeps only the numbers for which `keep(number)` is true (retention), in one run.
  void KeepIf(const std::function<bool(uint32_t)>& keep);
  // For a checkpoint: the runs as they are in memory (a load from a copy-on-write mapping uses them where
  // they are); the filter is made again from them.
  void Save(saved::Writer* out) const;
  // Into empty runs. Refuses runs out of order, or with a number not below `numbers`.
  bool Load(saved::Reader* in, uint32_t numbers, const std::shared_ptr<const MappedFile>& mapping);
  // Moves every run's chunks not moved yet into `cold`; runs made later move as they are written.
  Result<size_t> MoveToCold(const std::shared_ptr<ColdChunkFile>& cold);
  size_t size() const { return size_; }
  size_t runs() const { return runs_.size(); }
  std::vector<size_t> run_sizes() const;  // the oldest first
  bool merge_out() const { return merge_out_; }
  // Bytes of the filter (on the heap).
  size_t filter_bytes() const { return filter_.size() * sizeof(Block); }

 private:
  static constexpr size_t kMinFilterIds = size_t{1} << 16;
  static constexpr size_t kBitsPerIdAtCapacity = 10;

  void AddToFilter(uint32_t fingerprint) { AddTo(filter_, fingerprint); }
  static void AddTo(std::vector<Block>& filter, uint32_t fingerprint);
  static size_t FilterCapacityFor(size_t ids) { return std::max(2 * ids, kMinFilterIds); }
  static std::vector<Block> EmptyFilter(size_t capacity) {
    return std::vector<Block>((capacity * kBitsPerIdAtCapacity + 255) / 256, Block{});
  }
  // A filter for `capacity` ids, made from `runs`.
  // (Part of it once `stop` is set.)
  static std::vector<Block> FilterOf(const std::vector<std::shared_ptr<const Run>>& runs, size_t capacity,
                                     const std::atomic<bool>* stop = nullptr);
  // A filter for twice the ids there are, made from every run.
  void RebuildFilter();

  // Runs are shared with a merge that reads them.
  std::vector<std::shared_ptr<Run>> runs_;  // the oldest (largest) first
  size_t size_ = 0;
  bool merge_in_background_ = false;
  bool merge_out_ = false;
  size_t read_first_ = 0, read_end_ = 0;   // the runs a merge out reads: not moved to the cold file
  bool filter_out_ = false;                // the merge out makes the filter again
  std::vector<uint32_t> added_while_out_;  // the fingerprints added since (for its filter)
  uint64_t generation_ = 0;                // changes each time every run is made again
  std::vector<Block> filter_;
  size_t filter_capacity_ = 0;  // ids the filter holds with at least kBitsPerIdAtCapacity bits each
  std::shared_ptr<ColdChunkFile> cold_;
};

}  // namespace tally

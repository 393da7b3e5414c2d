// An append-only sequence stored in fixed-size chunks. Unlike std::vector it never moves its elements:
// growing to millions of rows costs one chunk allocation at a time instead of copying everything at
// each doubling (which, under load, showed as multi-millisecond pauses in the p99 of the ingest path).
// Chunks no longer written to can be moved to a file the kernel pages (cold_chunks.h).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <memory>
#include <type_traits>
#include <vector>

#include "common/index_search.h"
#include "tally/status.h"
#include "views/cold_chunks.h"

namespace tally {

template <typename T, size_t kChunkShift = 12>
class ChunkedVector {
 public:
  using value_type = T;
  static constexpr size_t kChunkSize = size_t{1} << kChunkShift;

  void push_back(const T& value) {
    if ((size_ & (kChunkSize - 1)) == 0 && size_ >> kChunkShift == chunks_.size()) {
      chunks_.push_back(NewChunk());
    }
    Chunk& chunk = chunks_[size_ >> kChunkShift];
    chunk[size_ & (kChunkSize - 1)] = value;
    // (A chunk moved to the cold file before it was full: MoveToCold with `with_last`.)
    if (chunk.get_deleter().cold) [[unlikely]]
      NoteWritten(size_);
    ++size_;
  }
  // Appends copies of the `count` elements at `elements` (not necessarily aligned for T).
  void Append(const void* elements, size_t count) {
    static_assert(std::is_trivially_copyable_v<T>);
    const auto* from = static_cast<const char*>(elements);
    for (size_t i = 0; i < count; ++i) {
      T value;
      std::memcpy(&value, from + i * sizeof(T), sizeof(T));
      push_back(value);
    }
  }
  // The same for elements inside `mapping`, memory that takes writes without passing them on (a
  // copy-on-write mapping of a checkpoint): each whole chunk of them is used where it is, and goes with
  // the mapping's last chunk; the others (all of them if they are not aligned for T) are copied.
  void AppendInPlace(void* elements, size_t count, const std::shared_ptr<const void>& mapping) {
    if (reinterpret_cast<uintptr_t>(elements) % alignof(T) != 0) return Append(elements, count);
    T* const in_place = static_cast<T*>(elements);
    size_t appended = std::min(count, (kChunkSize - (size_ & (kChunkSize - 1))) & (kChunkSize - 1));
    Append(in_place, appended);
    for (; count - appended >= kChunkSize; appended += kChunkSize) {  // at a chunk's start
      chunks_.push_back(Chunk(in_place + appended, ChunkFree<T>{nullptr, 0, mapping}));
      size_ += kChunkSize;
    }
    Append(in_place + appended, count - appended);
  }
  // Appends a whole chunk's elements that are in `cold` where MoveIn put them (a checkpoint's chunk,
  // adopted): the size must be at a chunk's start.
  void AppendCold(T* chunk, const std::shared_ptr<ColdChunkFile>& cold, size_t count = kChunkSize) {
    chunks_.push_back(Chunk(chunk, ChunkFree<T>{cold, kChunkBytes}));
    size_ += count;
  }
  // The chunk holding element `index` if it is in a cold file (set in `*cold`) as MoveIn put it there (not
  // written to since), else null: a checkpoint refers to such a chunk instead of copying it.
  const T* UnchangedColdChunk(size_t index, const ColdChunkFile** cold) const {
    const size_t chunk = index >> kChunkShift;
    if (chunk >= chunks_.size() || !chunks_[chunk] || !chunks_[chunk].get_deleter().cold ||
        std::find(rewritten_.begin(), rewritten_.end(), chunk) != rewritten_.end()) {
      return nullptr;
    }
    *cold = chunks_[chunk].get_deleter().cold.get();
    return chunks_[chunk].get();
  }
  static constexpr size_t kChunkBytes = kChunkSize * sizeof(T);
  // Appends `count` elements that the caller sets, each before it is read (several threads may set them at
  // once, each its own range).
  void AppendUnset(size_t count) {
    size_ += count;
    while (chunks_.size() << kChunkShift < size_) chunks_.push_back(NewChunk());
  }
  // Calls `visit(const T* elements, size_t count)` for the elements from `index` on, one run of
  // neighbours (a chunk's) at a time.
  template <typename Visit>
  void ForEachRun(size_t index, Visit&& visit) const {
    while (index < size_) {
      const size_t count = std::min(kChunkSize - (index & (kChunkSize - 1)), size_ - index);
      visit(&(*this)[index], count);
      index += count;
    }
  }
  // The first index in [low, high) whose element `is_less` is false for, where the elements it is true for
  // all come first (a binary search; high if there is none).
  template <typename IsLess>
  size_t LowerBound(size_t low, size_t high, IsLess&& is_less) const {
    return LowerBoundOfPlaces(low, high, [&](size_t at) { return is_less((*this)[at]); });
  }
  T& operator[](size_t index) { return chunks_[index >> kChunkShift][index & (kChunkSize - 1)]; }
  const T& operator[](size_t index) const { return chunks_[index >> kChunkShift][index & (kChunkSize - 1)]; }
  T& back() { return (*this)[size_ - 1]; }
  // Frees every chunk wholly before `index`: the elements there must never be read again.
  void ReleaseBefore(size_t index) {
    // (Assigned, not reset: reset would keep the deleter, and with it a mapping or the cold file.)
    for (size_t chunk = 0; chunk < chunks_.size() && (chunk + 1) << kChunkShift <= index; ++chunk)
      chunks_[chunk] = Chunk();
  }
  // Moves every chunk wholly before `index` that is still on the heap into `cold`, and with `with_last` the
  // last one too, not full yet (a quiet sequence's, whose last chunk would be most of what it keeps on the
  // heap; an element appended later is a write to a moved chunk); the elements read and write as before.
  // Chunks written to since they moved (NoteWritten) move again, so that the pages the writes copied back
  // to the heap leave it. Returns how many chunks moved; on an error the chunks not moved stay on the heap.
  Result<size_t> MoveToCold(size_t index, const std::shared_ptr<ColdChunkFile>& cold,
                            bool with_last = false) {
    static_assert(std::is_trivially_copyable_v<T> && kChunkBytes % ColdChunkFile::kPageBytes == 0);
    size_t moved = 0;
    std::sort(rewritten_.begin(), rewritten_.end());
    rewritten_.erase(std::unique(rewritten_.begin(), rewritten_.end()), rewritten_.end());
    while (!rewritten_.empty()) {
      if (Chunk& chunk = chunks_[rewritten_.back()]; chunk) {  // (not released since)
        Status status = MoveChunk(chunk, cold);
        if (!status.ok()) return status;
        ++moved;
      }
      rewritten_.pop_back();
    }
    for (; first_on_heap_ < chunks_.size() && ((first_on_heap_ + 1) << kChunkShift <= index ||
                                               (with_last && first_on_heap_ + 1 == chunks_.size()));
         ++first_on_heap_) {
      Chunk& chunk = chunks_[first_on_heap_];
      if (!chunk || chunk.get_deleter().cold) continue;  // released, or adopted from the file at a start
      // The rest of a chunk not full yet is zeros in the file, not the heap's leftovers.
      const size_t used = std::min(kChunkSize, size_ - (first_on_heap_ << kChunkShift));
      if (used < kChunkSize)
        std::memset(static_cast<void*>(chunk.get() + used), 0, (kChunkSize - used) * sizeof(T));
      Status status = MoveChunk(chunk, cold);
      if (!status.ok()) return status;
      ++moved;
    }
    return moved;
  }
  // Says that the element at `index` was just written: if its chunk is in the cold file, the write copied a
  // page back to the heap, and the next MoveToCold moves the chunk again.
  void NoteWritten(size_t index) {
    const size_t chunk = index >> kChunkShift;
    if (chunk < chunks_.size() && chunks_[chunk] && chunks_[chunk].get_deleter().cold &&
        (rewritten_.empty() || rewritten_.back() != chunk)) {
      rewritten_.push_back(chunk);
    }
  }
  // On an empty vector: `size` elements that were released (the chunk holding the next one is allocated).
  void StartAfterReleased(size_t size) {
    chunks_.resize((size >> kChunkShift) + ((size & (kChunkSize - 1)) != 0 ? 1 : 0));
    if ((size & (kChunkSize - 1)) != 0) chunks_.back() = NewChunk();
    size_ = size;
  }
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }

  class const_iterator {
   public:
    using iterator_category = std::forward_iterator_tag;
    using value_type = T;
    using difference_type = std::ptrdiff_t;
    using pointer = const T*;
    using reference = const T&;
    const_iterator(const ChunkedVector* owner, size_t index) : owner_(owner), index_(index) {}
    const T& operator*() const { return (*owner_)[index_]; }
    const_iterator& operator++() {
      ++index_;
      return *this;
    }
    bool operator==(const const_iterator& other) const { return index_ == other.index_; }
    bool operator!=(const const_iterator& other) const { return index_ != other.index_; }

   private:
    const ChunkedVector* owner_;
    size_t index_;
  };
  const_iterator begin() const { return {this, 0}; }
  const_iterator end() const { return {this, size_}; }

 private:
  using Chunk = std::unique_ptr<T[], ChunkFree<T>>;
  // Not zeroed: an element is read only after push_back wrote it, and zeroing a chunk first touched each
  // page twice (a tenth of a restart's CPU went to it).
  static Chunk NewChunk() { return Chunk(new T[kChunkSize]); }
  // Puts the chunk's elements in the cold file (again, if it was there); on an error it stays as it was.
  static Status MoveChunk(Chunk& chunk, const std::shared_ptr<ColdChunkFile>& cold) {
    auto mapped = cold->MoveIn(chunk.get(), kChunkBytes);
    if (!mapped.ok()) return mapped.status();
    chunk = Chunk(static_cast<T*>(*mapped), ChunkFree<T>{cold, kChunkBytes});
    return Status::Ok();
  }

  std::vector<Chunk> chunks_;
  size_t size_ = 0;
  size_t first_on_heap_ = 0;       // every chunk before it is released or in the cold file
  std::vector<size_t> rewritten_;  // chunks in the cold file written to since they moved (repeats allowed)
};

}  // namespace tally

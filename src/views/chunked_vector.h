// An append-only sequence stored in fixed-size chunks. Unlike std::vector it never moves its elements:
// growing to millions of rows costs one chunk allocation at a time instead of copying everything at
// each doubling (which, under load, showed as multi-millisecond pauses in the p99 of the ingest path).
#pragma once

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <memory>
#include <vector>

namespace tally {

template <typename T, size_t kChunkShift = 12>
class ChunkedVector {
 public:
  static constexpr size_t kChunkSize = size_t{1} << kChunkShift;

  void push_back(const T& value) {
    if ((size_ & (kChunkSize - 1)) == 0 && size_ >> kChunkShift == chunks_.size()) {
      chunks_.push_back(std::make_unique<T[]>(kChunkSize));
    }
    chunks_[size_ >> kChunkShift][size_ & (kChunkSize - 1)] = value;
    ++size_;
  }
  T& operator[](size_t index) { return chunks_[index >> kChunkShift][index & (kChunkSize - 1)]; }
  const T& operator[](size_t index) const { return chunks_[index >> kChunkShift][index & (kChunkSize - 1)]; }
  T& back() { return (*this)[size_ - 1]; }
  // Frees every chunk wholly before `index`: the elements there must never be read again.
  void ReleaseBefore(size_t index) {
    for (size_t chunk = 0; chunk < chunks_.size() && (chunk + 1) << kChunkShift <= index; ++chunk)
      chunks_[chunk].reset();
  }
  // On an empty vector: `size` elements that were released (the chunk holding the next one is allocated).
  void StartAfterReleased(size_t size) {
    chunks_.resize((size >> kChunkShift) + ((size & (kChunkSize - 1)) != 0 ? 1 : 0));
    if ((size & (kChunkSize - 1)) != 0) chunks_.back() = std::make_unique<T[]>(kChunkSize);
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
  std::vector<std::unique_ptr<T[]>> chunks_;
  size_t size_ = 0;
};

}  // namespace tally

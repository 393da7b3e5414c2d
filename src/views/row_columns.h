// The rows of a sealed part (views/shard_views.h: SealedPart) as columns, with the part's counted rows by
// user: what a part's file holds of its rows (segments/sealed_hour_file.h), read in place, so that the
// rows and the timelines of a sealed hour can be read from its files instead of being held.
//
// One run of bytes, the same in memory and in a file (little endian, as the machine is):
//   u32 rows | u32 notes | u64 zero
//   kColumns times: u64 base | u64 max | u32 width | u32 zero
//   each column's values minus its base, `width` bits each, in u64 words (the last one padded with zeros)
// The columns, in this order, a value a row (in the part's order) for the first eight:
//   milliseconds into the hour, state, type, user, product + 1 (0: none), store + 1, version, log position
//   notes: the counted rows' places in the part, ordered by (user, place): a user's rows are found by a
//   binary search that reads the user of the row each note names
// A column's `max` bounds its values (a value read above it reads as `max`): it says whether the part's
// numbers fit a shard's dictionaries without reading them all.
#pragma once

#include <algorithm>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/fixed_width.h"
#include "common/index_search.h"
#include "tally/status.h"
#include "views/event_row.h"

namespace tally {

// What every row of a part is within: the shard's dictionaries' sizes and the part's first and last rows'
// log positions (an hour's rows are in log order).
struct RowBounds {
  uint32_t users = 0, types = 0, products = 0, stores = 0;
  uint64_t first_position = 0, last_position = 0;
};

// Writes the columns of a part's rows, given one by one (under the shard's lock, as they are read for the
// seal: each takes the bits it needs and no more), then the notes, sorted (off the lock).
class RowColumnsWriter {
 public:
  RowColumnsWriter(int64_t hour, uint32_t rows, const RowBounds& bounds);
  // The part's next row (rows of the hour, within the bounds).
  void Add(const EventRow& row);
  // The bytes, once every row is added.
  std::string Finish();

 private:
  class Packer {
   public:
    Packer(uint64_t base, uint64_t max, uint64_t count);
    void Put(uint64_t value);  // (above the column's max: as the max)
    uint64_t max() const { return max_; }
    void AppendHeader(std::string* out) const;
    void AppendWords(std::string* out) const;

   private:
    uint64_t base_ = 0, max_ = 0;
    uint32_t width_ = 0;
    std::vector<uint64_t> words_;
    uint64_t bits_ = 0;
  };
  int64_t hour_ = 0;
  uint32_t rows_ = 0, added_ = 0;
  Packer millis_, state_, type_, user_, product_, store_, position_;
  std::vector<uint32_t> versions_;  // (their width is known only once all are seen)
  std::vector<uint64_t> notes_;     // user << 32 | place
};

class RowColumns {
 public:
  static constexpr size_t kColumns = 9;
  // The columns in `bytes` (kept alive by `owner`; 8-byte aligned or not) of a part of `rows` rows of
  // `hour`, after checking that their sizes hold together. An empty `bytes`: no columns (as a part built
  // only to be read once has).
  static Result<RowColumns> FromBytes(std::string_view bytes, std::shared_ptr<const void> owner, int64_t hour,
                                      uint32_t rows);
  bool empty() const { return rows_ == 0; }
  uint32_t rows() const { return rows_; }
  std::string_view bytes() const { return bytes_; }
  // Row `place` of the part (place < rows()).
  EventRow Row(uint32_t place) const;
  uint64_t Position(uint32_t place) const { return Column(kPosition).Get(place); }
  // Calls visit(place) for each of the user's counted rows in the part, in ascending order.
  template <typename Visit>
  void ForEachOf(uint32_t user, Visit&& visit) const {
    const Packed notes = Column(kNotes);
    const size_t first =
        LowerBoundOfPlaces(0, notes_, [&](size_t note) { return UserOf(notes.Get(note)) < user; });
    for (size_t note = first; note < notes_; ++note) {
      const uint64_t place = notes.Get(note);
      if (UserOf(place) != user) break;
      visit(static_cast<uint32_t>(place));
    }
  }
  // Whether every user, type, product and store a row can name is within a shard's dictionaries.
  bool Fits(size_t users, size_t types, size_t products, size_t stores) const;

 private:
  enum Column : uint8_t {
    kMillis,
    kState,
    kType,
    kUser,
    kProduct,
    kStore,
    kVersion,
    kPosition,
    kNotes,
  };
  struct Packed {
    const char* words = nullptr;
    uint64_t base = 0, max = 0;
    uint32_t width = 0;
    uint64_t Get(uint64_t at) const;
  };
  Packed Column(Column column) const { return columns_[column]; }
  // (Past the rows, which only a crafted note names: above every user.)
  uint64_t UserOf(uint64_t place) const { return place < rows_ ? Column(kUser).Get(place) : UINT64_MAX; }

  std::string_view bytes_;
  std::shared_ptr<const void> owner_;
  int64_t hour_ = 0;
  uint32_t rows_ = 0, notes_ = 0;
  Packed columns_[kColumns];
};

// (Inline: a seal puts seven values a row under the shard's lock, and reads eight back for its index.)
inline void RowColumnsWriter::Packer::Put(uint64_t value) {
  if (width_ == 0) return;
  const uint64_t bits = std::clamp(value, base_, max_) - base_;
  const uint64_t offset = bits_ % 64;
  if (offset == 0) words_.push_back(0);
  words_.back() |= bits << offset;
  if (offset != 0 && offset + width_ > 64) words_.push_back(bits >> (64 - offset));
  bits_ += width_;
}

inline uint64_t RowColumns::Packed::Get(uint64_t at) const {
  if (width == 0) return base;
  const uint64_t bit = at * width;
  const uint64_t offset = bit % 64;
  uint64_t value = GetFixed<uint64_t>(words + bit / 64 * sizeof(uint64_t)) >> offset;
  if (offset != 0 && offset + width > 64)
    value |= GetFixed<uint64_t>(words + (bit / 64 + 1) * sizeof(uint64_t)) << (64 - offset);
  if (width < 64) value &= (uint64_t{1} << width) - 1;
  return std::min(value, max - base) + base;
}

}  // namespace tally

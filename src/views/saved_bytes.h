// The pieces saved views are made of (a checkpoint's payload): values as the machine holds them (little
// endian), texts with their length, user sets in CRoaring's portable format (or as their place in the cold
// file, frozen), and columns as they are in memory, aligned so that a load can use them in place. Reading
// refuses anything that does not parse.
#pragma once

#include <algorithm>
#include <bit>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include <roaring/roaring.hh>

#include "common/byte_sink.h"
#include "common/files.h"
#include "common/round_up.h"
#include "views/cell.h"
#include "views/chunked_vector.h"
#include "views/dictionary.h"
#include "views/user_sets.h"

namespace tally::saved {

class Writer {
 public:
  // `refer_to_cold`: chunks in the cold file are saved as their place there (InMemory).
  explicit Writer(ByteSink* out, bool refer_to_cold = false) : out_(out), refer_to_cold_(refer_to_cold) {}
  bool refer_to_cold() const { return refer_to_cold_; }
  template <typename T>
  void Value(T value) {
    out_->Value(value);
  }
  void Text(std::string_view text) {
    Value<uint64_t>(text.size());
    out_->Append(text.data(), text.size());
  }
  void Bytes(const void* data, size_t size) { out_->Append(data, size); }
  void Bitmap(const Roaring& bitmap) {
    const size_t bytes = bitmap.getSizeInBytes(true);
    Value<uint64_t>(bytes);
    if (char* place = out_->Reserve(bytes)) {
      bitmap.write(place, true);
      out_->Commit(bytes);
      return;
    }
    std::string large(bytes, '\0');  // more than the sink's buffer holds: rare, a very large hour
    bitmap.write(large.data(), true);
    out_->Append(large.data(), large.size());
  }
  // u64 types | u64 events of each type | u8 where the user sets are: 0 here (the users' bitmap, u64 sets,
  // and each nonempty set of a type as u32 type | bitmap), 1 in the cold file (frozen, Cell::Freeze: u64
  // offset | u32 crc32c | u64 bytes), when the writer refers to it.
  void Cell(const tally::Cell& cell) {
    Value<uint64_t>(cell.events_by_type.size());
    for (uint64_t count : cell.events_by_type) Value(count);
    if (auto chunk = refer_to_cold_ ? cell.frozen_chunk() : std::nullopt) {
      if (auto place = chunk->cold->PlaceOf(chunk->address, chunk->bytes)) {
        Value<uint8_t>(1);
        Value(place->offset);
        Value(place->crc);
        Value<uint64_t>(chunk->bytes);
        return;
      }
    }
    Value<uint8_t>(0);
    Bitmap(cell.users());
    const std::vector<Roaring>& users_by_type = cell.users_by_type();
    uint64_t sets = 0;
    for (const Roaring& users : users_by_type) sets += users.isEmpty() ? 0 : 1;
    Value(sets);
    for (uint32_t type = 0; type < users_by_type.size(); ++type) {
      if (users_by_type[type].isEmpty()) continue;
      Value(type);
      Bitmap(users_by_type[type]);
    }
  }
  void Keys(const Dictionary& dictionary) {
    Value<uint64_t>(dictionary.size());
    for (uint32_t i = 0; i < dictionary.size(); ++i) Text(dictionary.KeyOf(i));
  }
  // The elements from `first` on, as they are in memory, aligned for their type where the saved views
  // start aligned (a checkpoint's payload in its mapping): a load can use them where they are. Chunks
  // from the first whole one on that are in the cold file as it holds them (the last one too, not full:
  // ChunkedVector::MoveToCold's `with_last`) are saved as their place there and checksum when the writer
  // refers to the cold file (a checkpoint of the server's views, which keeps the file).
  //   u64 count | u64 places | places x (u64 element | u64 offset | u32 crc32c) | u8 padding | zeros |
  //   the other elements
  template <typename T, size_t kChunkShift>
  void InMemory(const ChunkedVector<T, kChunkShift>& elements, size_t first) {
    static_assert(std::is_trivially_copyable_v<T> && std::endian::native == std::endian::little);
    using Vector = ChunkedVector<T, kChunkShift>;
    struct Referred {
      uint64_t element;
      ColdChunkFile::Place place;
    };
    std::vector<Referred> referred;
    const size_t size = elements.size();
    const size_t first_whole = RoundUp(first, Vector::kChunkSize);
    for (size_t at = first_whole; refer_to_cold_ && at < size; at += Vector::kChunkSize) {
      const ColdChunkFile* cold = nullptr;
      const T* chunk = elements.UnchangedColdChunk(at, &cold);
      if (chunk == nullptr) continue;
      if (auto place = cold->PlaceOf(chunk, Vector::kChunkBytes)) referred.push_back({at - first, *place});
    }
    Value<uint64_t>(size - first);
    Value<uint64_t>(referred.size());
    for (const Referred& chunk : referred) {
      Value(chunk.element);
      Value(chunk.place.offset);
      Value(chunk.place.crc);
    }
    const auto padding = static_cast<uint8_t>((alignof(T) - (out_->size() + 1) % alignof(T)) % alignof(T));
    Value(padding);
    static constexpr char kZeros[alignof(T)] = {};
    out_->Append(kZeros, padding);
    size_t next = 0;  // in `referred`
    for (size_t at = first; at < size;) {
      const size_t count = std::min(Vector::kChunkSize - at % Vector::kChunkSize, size - at);
      if (next < referred.size() && referred[next].element == at - first) {
        ++next;
      } else {
        out_->Append(&elements[at], count * sizeof(T));
      }
      at += count;
    }
  }

 private:
  ByteSink* out_;
  bool refer_to_cold_;
};

class Reader {
 public:
  explicit Reader(std::string_view bytes) : rest_(bytes) {}
  // Chunks saved as their place in `cold` are adopted from it (without it they are refused).
  void AdoptFrom(std::shared_ptr<ColdChunkFile> cold) { cold_ = std::move(cold); }
  const std::shared_ptr<ColdChunkFile>& cold() const { return cold_; }
  template <typename T>
  bool Value(T* value) {
    if (rest_.size() < sizeof(T)) return false;
    std::memcpy(value, rest_.data(), sizeof(T));
    rest_.remove_prefix(sizeof(T));
    return true;
  }
  // A bool is a byte that is 0 or 1 (any other would be undefined behaviour to read as a bool).
  bool Value(bool* value) {
    uint8_t byte = 0;
    if (!Value(&byte) || byte > 1) return false;
    *value = byte == 1;
    return true;
  }
  // A count that cannot exceed what is left (each item takes at least `min_item_bytes`).
  bool Count(uint64_t* count, size_t min_item_bytes) {
    return Value(count) && *count <= rest_.size() / std::max<size_t>(min_item_bytes, 1);
  }
  // The next `size` bytes, as they are.
  bool Span(size_t size, std::string_view* bytes) {
    if (size > rest_.size()) return false;
    *bytes = rest_.substr(0, size);
    rest_.remove_prefix(size);
    return true;
  }
  bool Text(std::string_view* text) {
    uint64_t size = 0;
    return Value(&size) && Span(size, text);
  }
  bool Text(std::string* text) {
    std::string_view view;
    if (!Text(&view)) return false;
    text->assign(view);
    return true;
  }
  bool Bitmap(Roaring* bitmap) {
    std::string_view bytes;
    if (!Text(&bytes)) return false;  // (its length, then its bytes)
    roaring_bitmap_t* parsed = roaring_bitmap_portable_deserialize_safe(bytes.data(), bytes.size());
    if (parsed == nullptr) return false;
    *bitmap = Roaring(parsed);
    return WellFormed(*bitmap);
  }
  bool Cell(tally::Cell* cell) {
    uint64_t types = 0;
    if (!Count(&types, sizeof(uint64_t))) return false;
    cell->events_by_type.resize(types);
    for (uint64_t& count : cell->events_by_type) {
      if (!Value(&count)) return false;
    }
    uint8_t where = 0;
    if (!Value(&where) || where > 1) return false;
    if (where == 1) {
      ColdChunkFile::Place place;
      uint64_t bytes = 0;
      return Value(&place.offset) && Value(&place.crc) && Value(&bytes) && cold_ != nullptr &&
             cell->AdoptFrozen(cold_, place, bytes);
    }
    uint64_t sets = 0;
    if (!Bitmap(&cell->mutable_users()) || !Count(&sets, sizeof(uint32_t))) return false;
    std::vector<Roaring>& users_by_type = cell->mutable_users_by_type();
    for (uint64_t i = 0; i < sets; ++i) {
      uint32_t type = 0;
      if (!Value(&type) || type >= cell->events_by_type.size()) return false;
      if (users_by_type.size() < cell->events_by_type.size())
        users_by_type.resize(cell->events_by_type.size());
      if (!Bitmap(&users_by_type[type])) return false;
    }
    return true;
  }
  // Elements Writer::InMemory saved, appended to `into`: in place when `mapping` (the memory the bytes are
  // in) copies on write, else copied; the chunks saved as their place in the cold file are adopted from it
  // (ColdChunkFile::Adopt; refused without a cold file). At most `max_count` of them.
  template <typename T, size_t kChunkShift>
  bool InMemory(ChunkedVector<T, kChunkShift>* into, uint64_t max_count,
                const std::shared_ptr<const MappedFile>& mapping) {
    using Vector = ChunkedVector<T, kChunkShift>;
    uint64_t count = 0, places = 0;
    if (!Value(&count) || count > max_count) return false;
    std::vector<std::pair<uint64_t, ColdChunkFile::Place>> referred;
    if (!Count(&places, 20) || places > (count + Vector::kChunkSize - 1) / Vector::kChunkSize) return false;
    referred.resize(places);
    for (auto& [element, place] : referred) {
      if (!Value(&element) || !Value(&place.offset) || !Value(&place.crc)) return false;
    }
    uint8_t padding = 0;
    std::string_view zeros;
    if (!Value(&padding) || padding >= alignof(T) || !Span(padding, &zeros)) return false;
    // (The elements saved here: at least the count less whole chunks for each place.)
    if (count > places * Vector::kChunkSize && count - places * Vector::kChunkSize > rest_.size() / sizeof(T))
      return false;
    char* writable = mapping ? mapping->WritableAt(rest_.data()) : nullptr;
    const size_t start = into->size();
    uint64_t appended = 0;  // of `count`
    auto append_inline = [&](uint64_t elements) {
      if (writable != nullptr) {
        into->AppendInPlace(writable, elements, mapping);
        writable += elements * sizeof(T);
      } else {
        into->Append(rest_.data(), elements);
      }
      rest_.remove_prefix(elements * sizeof(T));
      appended += elements;
    };
    for (const auto& [element, place] : referred) {
      // Each at a chunk's start, in order, inside the count (the last one's chunk may be the count's end).
      if (element < appended || element >= count || (start + element) % Vector::kChunkSize != 0 ||
          element - appended > rest_.size() / sizeof(T) || cold_ == nullptr) {
        return false;
      }
      append_inline(element - appended);
      auto chunk = cold_->Adopt(place.offset, Vector::kChunkBytes, place.crc);
      if (!chunk.ok()) return false;
      const uint64_t elements = std::min<uint64_t>(Vector::kChunkSize, count - appended);
      into->AppendCold(static_cast<T*>(*chunk), cold_, elements);
      appended += elements;
    }
    if (count - appended > rest_.size() / sizeof(T)) return false;
    append_inline(count - appended);
    return true;
  }
  bool Keys(Dictionary* dictionary) {
    uint64_t count = 0;
    if (!Count(&count, sizeof(uint64_t))) return false;
    dictionary->Reserve(count);
    // In a table of a million users each key's slot is a cache miss: the keys are read first, so that
    // each slot can be asked for well before its key is added.
    std::vector<Dictionary::Hashed> keys(count);
    for (Dictionary::Hashed& hashed : keys) {
      std::string_view key;
      if (!Text(&key)) return false;
      hashed = Dictionary::HashOf(key);  // once, for the prefetch and the lookup
    }
    constexpr size_t kAhead = 8;
    for (size_t i = 0; i < keys.size(); ++i) {
      if (i + kAhead < keys.size()) dictionary->Prefetch(keys[i + kAhead]);
      if (dictionary->Intern(keys[i]) != i) return false;
    }
    return true;
  }
  bool AtEnd() const { return rest_.empty(); }
  std::string_view rest() const { return rest_; }

 private:
  std::string_view rest_;
  std::shared_ptr<ColdChunkFile> cold_;
};

}  // namespace tally::saved

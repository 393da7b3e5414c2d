#include "views/event_id_index.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <thread>
#include <utility>

#include <absl/hash/hash.h>
#include <absl/strings/string_view.h>
#include <xxhash.h>

#include "tally/event.h"
#include "views/saved_bytes.h"

namespace tally {

EventIdIndex::EventIdIndex(size_t hot_ids) : hot_ids_(hot_ids), ids_(0, Hash{this}, Equal{this}) {}

namespace {

constexpr std::string_view kHexDigits = "0123456789abcdef";
constexpr size_t kUuidTextBytes = EventIdIndex::kUuidTextBytes;
constexpr bool IsUuidDash(size_t at) { return at == 8 || at == 13 || at == 18 || at == 23; }

// Lowercase hex digits' values; -1 for any other byte (uppercase too: only the canonical lowercase form is
// packed, so that it unpacks to the same text).
constexpr std::array<int8_t, 256> kHexValue = [] {
  std::array<int8_t, 256> values{};
  values.fill(-1);
  for (int c = '0'; c <= '9'; ++c) values[c] = static_cast<int8_t>(c - '0');
  for (int c = 'a'; c <= 'f'; ++c) values[c] = static_cast<int8_t>(c - 'a' + 10);
  return values;
}();

// Where the 32 hex digits of a UUID's text are.
constexpr std::array<uint8_t, 32> kUuidDigitAt = [] {
  std::array<uint8_t, 32> at{};
  for (size_t i = 0, next = 0; i < kUuidTextBytes; ++i) {
    if (!IsUuidDash(i)) at[next++] = static_cast<uint8_t>(i);
  }
  return at;
}();

}  // namespace

EventIdIndex::Stored EventIdIndex::StoredForm(std::string_view text, char (&buffer)[16]) {
  if (text.size() != kUuidTextBytes || text[8] != '-' || text[13] != '-' || text[18] != '-' ||
      text[23] != '-')
    return {text, false};
  // Every digit decoded without a branch; a byte that is not a digit makes `bad` negative.
  int bad = 0;
  for (size_t i = 0; i < 16; ++i) {
    const int high = kHexValue[static_cast<uint8_t>(text[kUuidDigitAt[2 * i]])];
    const int low = kHexValue[static_cast<uint8_t>(text[kUuidDigitAt[2 * i + 1]])];
    bad |= high | low;
    buffer[i] = static_cast<char>(high << 4 | low);
  }
  if (bad < 0) return {text, false};
  return {std::string_view(buffer, sizeof(buffer)), true};
}

size_t EventIdIndex::HashOfStored(const Stored& stored) {
  // The same in every process: fingerprints of it are saved (absl's hash is salted per process).
  return XXH3_64bits_withSeed(stored.bytes.data(), stored.bytes.size(), stored.packed ? 1 : 0);
}

size_t EventIdIndex::HashOf(std::string_view id) {
  char buffer[16];
  return HashOfStored(StoredForm(id, buffer));
}

std::string EventIdIndex::Text(uint32_t id) const {
  std::array<char, kUuidTextBytes> buffer;
  return std::string(Text(id, &buffer));
}

std::string_view EventIdIndex::Text(uint32_t id, std::array<char, kUuidTextBytes>* buffer) const {
  const Stored stored = StoredOf(id);
  if (!stored.packed) return stored.bytes;
  for (size_t i = 0, at = 0; i < 16; ++i) {
    if (IsUuidDash(at)) (*buffer)[at++] = '-';
    const auto byte = static_cast<uint8_t>(stored.bytes[i]);
    (*buffer)[at++] = kHexDigits[byte >> 4];
    (*buffer)[at++] = kHexDigits[byte & 0xF];
  }
  return {buffer->data(), kUuidTextBytes};
}

std::optional<uint32_t> EventIdIndex::Find(std::string_view id) const {
  char buffer[16];
  const Stored stored = StoredForm(id, buffer);
  return Lookup(stored, HashOfStored(stored));
}

std::optional<uint32_t> EventIdIndex::Lookup(const Stored& stored, size_t hash) const {
  if (auto it = ids_.find(Hashed{stored, hash}); it != ids_.end()) return *it;
  // Most new ids are told from the runs' by the filter alone.
  if (!runs_.MayContain(hash)) return std::nullopt;
  return runs_.Find(hash,
                    [&](uint32_t number) { return hour_[number] != kFree && StoredOf(number) == stored; });
}

uint64_t EventIdIndex::Generation::Keep(std::string_view bytes) {
  // Ids are at most 128 bytes (API.md), so one always fits in a region.
  if (used + bytes.size() > ArenaRegion::kBytes) {
    if (!regions.empty()) used_before.push_back(static_cast<uint32_t>(used));
    regions.emplace_back();
    used = 0;
  }
  ++kept;
  std::memcpy(regions.back().data() + used, bytes.data(), bytes.size());
  const uint64_t place = uint64_t{regions.size() - 1} << kPlaceRegionShift | used;
  used += bytes.size();
  return place;
}

uint32_t EventIdIndex::SlotOf(int64_t hour) {
  const int64_t key = GenerationKeyOf(hour);
  auto [it, added] = generations_.try_emplace(key, 0);
  if (!added) return it->second;
  if (free_slots_.empty()) {
    free_slots_.push_back(static_cast<uint32_t>(slots_.size()));
    slots_.emplace_back();
  }
  it->second = free_slots_.back();
  free_slots_.pop_back();
  slots_[it->second] = std::make_unique<Generation>();
  slots_[it->second]->key = key;
  return it->second;
}

void EventIdIndex::PlaceIn(uint32_t id, const Stored& stored, int64_t hour) {
  const uint32_t slot = SlotOf(hour);
  text_place_[id] = uint64_t{slot} << kPlaceSlotShift | slots_[slot]->Keep(stored.bytes);
  text_length_[id] = static_cast<uint8_t>(stored.packed ? 0 : stored.bytes.size());
  hour_[id] = static_cast<int32_t>(hour);
  text_place_.NoteWritten(id);
  text_length_.NoteWritten(id);
  hour_.NoteWritten(id);
}

void EventIdIndex::SetCurrent(uint32_t id, RowRef row, uint32_t version) {
  current_position_[id] = row.position;
  current_shard_[id] = static_cast<uint8_t>(row.shard);
  current_version_[id] = version;
  current_position_.NoteWritten(id);
  current_shard_.NoteWritten(id);
  current_version_.NoteWritten(id);
}

uint32_t EventIdIndex::NewNumber() {
  if (!free_numbers_.empty()) {
    const uint32_t number = free_numbers_.back();
    free_numbers_.pop_back();
    return number;
  }
  const auto number = static_cast<uint32_t>(hour_.size());
  text_place_.push_back(0);
  text_length_.push_back(0);
  hour_.push_back(kFree);
  current_position_.push_back(0);
  current_shard_.push_back(0);
  current_version_.push_back(0);
  return number;
}

std::pair<uint32_t, bool> EventIdIndex::FindOrInsert(std::string_view id, size_t hash, RowRef row,
                                                     uint32_t version) {
  char buffer[16];
  const Stored stored = StoredForm(id, buffer);
  if (auto found = Lookup(stored, hash)) return {*found, false};
  const uint32_t number = NewNumber();
  PlaceIn(number, stored, row.hour);
  SetCurrent(number, row, version);
  // The probe in Lookup left the slot's group in the cache.
  ids_.lazy_emplace(Hashed{stored, hash}, [&](const auto& construct) { construct(number); });
  hot_entries_.push_back({IdRuns::FingerprintOf(hash), number});
  if (ids_.size() >= hot_ids_) MoveHotIdsToRuns();
  return {number, true};
}

void EventIdIndex::MoveHotIdsToRuns() {
  runs_.Add(std::exchange(hot_entries_, {}));
  ids_.clear();
  ids_.reserve(hot_ids_);
}

void EventIdIndex::AddRow(uint32_t id, RowRef row) {
  RowsOfId& rows = all_rows_[id];
  // The second row of an id: until now the first was its only (and current) row.
  if (rows.empty()) rows.push_back(current(id));
  rows.push_back(row);
}

void EventIdIndex::AddDuplicate(uint32_t id, RowRef row) { AddRow(id, row); }

void EventIdIndex::AddCorrection(uint32_t id, RowRef row, uint32_t version) {
  AddRow(id, row);
  const int64_t hour = row.hour;
  if (GenerationOf(text_place_[id]).key != GenerationKeyOf(hour)) {
    // The text moves to the arena of its new day (the old copy goes with its day's arena).
    const Stored stored = StoredOf(id);
    PlaceIn(id, stored, hour);
  } else if (hour != hour_[id]) {
    hour_[id] = static_cast<int32_t>(hour);
    hour_.NoteWritten(id);
  }
  SetCurrent(id, row, version);
}

std::vector<RowRef> EventIdIndex::Rows(uint32_t id) const {
  RowRef only;
  const std::span<const RowRef> rows = Rows(id, &only);
  return {rows.begin(), rows.end()};
}

std::span<const RowRef> EventIdIndex::Rows(uint32_t id, RowRef* only) const {
  if (auto it = all_rows_.find(id); it != all_rows_.end()) return {it->second.data(), it->second.size()};
  *only = current(id);
  return {only, 1};
}

void EventIdIndex::ForgetBefore(int64_t first_kept_hour) {
  // (An id's arena starts no later than its hour.)
  if (generations_.empty() || generations_.begin()->first >= first_kept_hour) return;
  // One pass over every id's hour (a few milliseconds for millions of ids, once an hour) instead of a list
  // of each hour's ids, which would cost 4 bytes an id.
  size_t freed = 0;
  for (uint32_t id = 0; id < hour_.size(); ++id) {
    if (hour_[id] == kFree || hour_[id] >= first_kept_hour) continue;
    all_rows_.erase(id);
    hour_[id] = kFree;
    hour_.NoteWritten(id);
    free_numbers_.push_back(id);
    ++freed;
  }
  // Before a freed number is given to a new id: neither the set nor a run may still lead to it. The runs
  // are rewritten (all of them, into one) only if some freed id was in them.
  const size_t freed_in_set = absl::erase_if(ids_, [&](uint32_t id) { return hour_[id] == kFree; });
  std::erase_if(hot_entries_, [&](const IdRuns::Entry& entry) { return hour_[entry.number] == kFree; });
  if (freed_in_set < freed) runs_.KeepIf([&](uint32_t id) { return hour_[id] != kFree; });
  // The arenas whose hours are all dropped.
  for (auto it = generations_.begin(); it != generations_.end() && it->first < first_kept_hour;) {
    if (GenerationEndOf(it->first) > first_kept_hour) {
      ++it;
      continue;
    }
    slots_[it->second].reset();
    free_slots_.push_back(it->second);
    it = generations_.erase(it);
  }
}

void EventIdIndex::Save(saved::Writer* out) const {
  out->InMemory(hour_, 0);
  out->InMemory(text_length_, 0);
  out->InMemory(text_place_, 0);
  out->InMemory(current_position_, 0);
  out->InMemory(current_shard_, 0);
  out->InMemory(current_version_, 0);
  out->Value<uint64_t>(generations_.size());
  for (const auto& [hour, slot] : generations_) {
    const Generation& generation = *slots_[slot];
    out->Value(hour);
    out->Value(slot);
    out->Value(generation.kept);
    out->Value<uint64_t>(generation.regions.size());
    for (size_t i = 0; i < generation.regions.size(); ++i) {
      // Its bytes used, the first of them as their place in the cold file (when the writer refers to it
      // and they are there), then the others.
      const ArenaRegion& region = generation.regions[i];
      const size_t used = generation.UsedIn(i);
      std::optional<ArenaRegion::ColdPlace> place;
      if (out->refer_to_cold()) place = region.cold_place();
      if (place && place->bytes > used) place.reset();
      out->Value<uint64_t>(used);
      out->Value<uint64_t>(place ? place->bytes : 0);
      if (place) {
        out->Value(place->offset);
        out->Value(place->crc);
      }
      const size_t referred = place ? place->bytes : 0;
      out->Bytes(region.data() + referred, used - referred);
    }
  }
  runs_.Save(out);
  // The hash tables' ids in order: their own order differs from table to table (Abseil salts it), and the
  // same views should save the same bytes.
  std::vector<uint32_t> ids(ids_.begin(), ids_.end());
  std::sort(ids.begin(), ids.end());
  out->Value<uint64_t>(ids.size());
  for (const uint32_t id : ids) out->Value(id);
  out->Value<uint64_t>(free_numbers_.size());
  for (const uint32_t id : free_numbers_) out->Value(id);
  ids.clear();
  for (const auto& [id, rows] : all_rows_) ids.push_back(id);
  std::sort(ids.begin(), ids.end());
  out->Value<uint64_t>(ids.size());
  for (const uint32_t id : ids) {
    const RowsOfId& rows = all_rows_.at(id);
    out->Value(id);
    out->Value<uint64_t>(rows.size());
    for (const RowRef row : rows) {
      out->Value(row.shard);
      out->Value(row.hour);
      out->Value(row.position);
    }
  }
}

bool EventIdIndex::Load(saved::Reader* in, const std::shared_ptr<const MappedFile>& mapping,
                        uint32_t shards) {
  if (!hour_.empty() || !in->InMemory(&hour_, UINT32_MAX, mapping)) return false;
  const size_t numbers = hour_.size();
  if (!in->InMemory(&text_length_, numbers, mapping) || !in->InMemory(&text_place_, numbers, mapping) ||
      !in->InMemory(&current_position_, numbers, mapping) ||
      !in->InMemory(&current_shard_, numbers, mapping) ||
      !in->InMemory(&current_version_, numbers, mapping) || text_length_.size() != numbers ||
      current_position_.size() != numbers || current_shard_.size() != numbers ||
      current_version_.size() != numbers || text_place_.size() != numbers) {
    return false;
  }
  uint64_t count = 0;
  if (!in->Count(&count, 3 * sizeof(uint64_t))) return false;
  for (uint64_t g = 0; g < count; ++g) {
    int64_t hour = 0;
    uint32_t slot = 0;
    uint64_t kept = 0, regions = 0;
    if (!in->Value(&hour) || hour < 0 || hour > HourOf(kMaxTimestampMillis) ||
        (g > 0 && hour <= generations_.rbegin()->first) || !in->Value(&slot) ||
        slot >= uint32_t{1} << (64 - kPlaceSlotShift) || !in->Value(&kept) ||
        !in->Count(&regions, sizeof(uint64_t)) || regions > kPlaceRegionMask + 1) {
      return false;
    }
    if (slot >= slots_.size()) slots_.resize(slot + 1);
    if (slots_[slot]) return false;
    generations_.emplace(hour, slot);
    slots_[slot] = std::make_unique<Generation>();
    Generation& generation = *slots_[slot];
    generation.key = hour;
    generation.kept = kept;
    generation.kept_at_last_move = kept;
    for (uint64_t i = 0; i < regions; ++i) {
      uint64_t used = 0;
      ArenaRegion::ColdPlace place;
      std::string_view saved;
      if (!in->Value(&used) || used > ArenaRegion::kBytes) return false;
      if (!in->Value(&place.bytes) || place.bytes > used ||
          (place.bytes > 0 &&
           (!in->Value(&place.offset) || !in->Value(&place.crc) || in->cold() == nullptr))) {
        return false;
      }
      if (!in->Span(used - place.bytes, &saved)) return false;
      ArenaRegion& region = generation.regions.emplace_back();
      if (place.bytes > 0 && !region.Adopt(place, used, in->cold()).ok()) return false;
      std::memcpy(region.data() + place.bytes, saved.data(), saved.size());
      if (i + 1 < regions) {
        generation.used_before.push_back(static_cast<uint32_t>(used));
      } else {
        generation.used = used;
      }
    }
  }
  for (uint32_t slot = static_cast<uint32_t>(slots_.size()); slot-- > 0;) {
    if (!slots_[slot]) free_slots_.push_back(slot);
  }
  // Checks the places of ids [begin, end) and counts the ids that are live; false: a place or a row does
  // not fit.
  auto check_places = [&](uint32_t begin, uint32_t end, size_t* live) {
    for (uint32_t id = begin; id < end; ++id) {
      if (hour_[id] == kFree) continue;
      ++*live;
      const uint64_t place = text_place_[id];
      const uint64_t slot = place >> kPlaceSlotShift;
      if (slot >= slots_.size() || !slots_[slot] || !InGeneration(slots_[slot]->key, hour_[id])) return false;
      const Generation& generation = *slots_[slot];
      const uint64_t region = (place >> kPlaceRegionShift) & kPlaceRegionMask;
      const uint64_t at = place & (ArenaRegion::kBytes - 1);
      const uint64_t length = text_length_[id] == 0 ? 16 : text_length_[id];
      if (region >= generation.regions.size() || at + length > generation.UsedIn(region) ||
          current_shard_[id] >= shards) {
        return false;
      }
    }
    return true;
  };
  // Two halves at once when there are many: with the shards loaded, this was the one thread left running at
  // a restart of 100 M events. (From 65 536 ids on, so that tests take this path too.)
  constexpr uint32_t kIdsForTwoThreads = 1 << 16;
  const uint32_t half = numbers >= kIdsForTwoThreads ? static_cast<uint32_t>(numbers / 2) : 0;
  size_t live = 0, live_in_second_half = 0;
  bool second_half_fits = true;
  std::thread second_half;
  if (half > 0) {
    second_half = std::thread(
        [&] { second_half_fits = check_places(half, static_cast<uint32_t>(numbers), &live_in_second_half); });
  }
  const bool first_half_fits = check_places(0, half > 0 ? half : static_cast<uint32_t>(numbers), &live);
  if (second_half.joinable()) second_half.join();
  if (!first_half_fits || !second_half_fits) return false;
  live += live_in_second_half;
  if (!runs_.Load(in, static_cast<uint32_t>(numbers), mapping) || !in->Count(&count, sizeof(uint32_t)))
    return false;
  ids_.reserve(count);
  hot_entries_.reserve(count);
  for (uint64_t i = 0; i < count; ++i) {
    uint32_t id = 0;
    if (!in->Value(&id) || id >= numbers || hour_[id] == kFree) return false;
    // (Hashed once, for the set and the fingerprint; the id's place was checked above.)
    const Stored stored = StoredOf(id);
    const size_t hash = HashOfStored(stored);
    bool inserted = false;
    ids_.lazy_emplace(Hashed{stored, hash}, [&](const auto& construct) {
      construct(id);
      inserted = true;
    });
    if (!inserted) return false;  // the same id, or another with the same text, twice
    hot_entries_.push_back({IdRuns::FingerprintOf(hash), id});
  }
  // Every id is in the set or a run.
  if (runs_.size() + ids_.size() != live || !in->Count(&count, sizeof(uint32_t))) return false;
  free_numbers_.reserve(count);
  for (uint64_t i = 0; i < count; ++i) {
    uint32_t id = 0;
    if (!in->Value(&id) || id >= numbers || hour_[id] != kFree) return false;
    free_numbers_.push_back(id);
  }
  if (!in->Count(&count, sizeof(uint32_t) + sizeof(uint64_t))) return false;
  for (uint64_t i = 0; i < count; ++i) {
    uint32_t id = 0;
    uint64_t rows = 0;
    if (!in->Value(&id) || id >= numbers || hour_[id] == kFree || !in->Count(&rows, 16) || rows < 2) {
      return false;
    }
    RowsOfId& kept = all_rows_[id];
    if (!kept.empty()) return false;
    for (uint64_t r = 0; r < rows; ++r) {
      RowRef row;
      if (!in->Value(&row.shard) || !in->Value(&row.hour) || !in->Value(&row.position) || row.shard >= shards)
        return false;
      kept.push_back(row);
    }
  }
  return true;
}

Result<size_t> EventIdIndex::MoveColdChunks(const std::shared_ptr<ColdChunkFile>& cold, size_t hot_ids,
                                            int64_t first_hot_hour) {
  size_t moved = 0;
  for (auto it = generations_.begin(); it != generations_.end() && it->first < first_hot_hour; ++it) {
    Generation& generation = *slots_[it->second];
    // The day of the hot hours is still written to: its full regions (all but the last) are written no
    // more, and move.
    const bool written_to = GenerationEndOf(it->first) > first_hot_hour;
    const bool quiet = written_to || generation.kept == generation.kept_at_last_move;
    if (!written_to) generation.kept_at_last_move = generation.kept;
    const size_t regions = generation.regions.size() - (written_to && !generation.regions.empty() ? 1 : 0);
    for (size_t i = 0; i < regions; ++i) {
      // The bytes a region before the last holds are what it had when the next one was taken, a little less
      // than the whole region unless the texts filled it exactly: what a checkpoint refers to is at most
      // that, so the region moves no further (taken as the whole region, the move was found larger than
      // the region and the checkpoint copied it instead).
      auto bytes = generation.regions[i].MoveToCold(generation.UsedIn(i), quiet, cold);
      if (!bytes.ok()) return bytes.status();
      moved += *bytes > 0 ? 1 : 0;
    }
  }
  auto runs = runs_.MoveToCold(cold);
  if (!runs.ok()) return runs.status();
  moved += *runs;
  if (hour_.size() <= hot_ids) return moved;
  const size_t before = hour_.size() - hot_ids;
  for (Result<size_t> column :
       {text_place_.MoveToCold(before, cold), text_length_.MoveToCold(before, cold),
        hour_.MoveToCold(before, cold), current_position_.MoveToCold(before, cold),
        current_shard_.MoveToCold(before, cold), current_version_.MoveToCold(before, cold)}) {
    if (!column.ok()) return column.status();
    moved += *column;
  }
  return moved;
}

}  // namespace tally

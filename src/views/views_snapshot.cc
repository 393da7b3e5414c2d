// Views saved to and loaded from a checkpoint, in the pieces of saved_bytes.h; the rows, the hours' row
// lists and the event-id index's columns as they are in memory. Load refuses anything that does not parse.
// Sealed indexes are not saved (they are in their own files, which a start checks against the views),
// only each hour's seal: how many rows it covered, their digest, and its rows retracted since.
#include <algorithm>
#include <atomic>
#include <thread>
#include <type_traits>

#include "common/byte_sink.h"
#include "common/files.h"
#include "views/saved_bytes.h"
#include "views/shard_views.h"
#include "views/views.h"

namespace tally {
namespace {

using saved::Reader;
using saved::Writer;

// Rows are saved as they are in memory: their layout is part of the checkpoint format, and a change to it
// needs a new format version (and this figure changed with it).
static_assert(sizeof(EventRow) == 40 && std::is_trivially_copyable_v<EventRow>);

// Sets the row's timestamp and state, as an older checkpoint saved them apart; false when the timestamp does
// not fit the row's 56 bits (never one this server took: refused like any damaged checkpoint).
bool SetTimeAndState(Millis timestamp, RowState state, EventRow* row) {
  row->timestamp = timestamp;
  row->state = state;
  return row->timestamp == timestamp;
}

// A row as checkpoints of layouts kColumnsAsInMemory to kSealMasks saved it (48 bytes): loaded, it is
// copied into a row of today's layout.
struct RowOf48Bytes {
  Millis timestamp;
  uint64_t position;
  uint32_t user, type, product, store, version, previous_of_user;
  RowState state;
  uint8_t unused[7];
};
static_assert(sizeof(RowOf48Bytes) == 48 && std::is_trivially_copyable_v<RowOf48Bytes>);

// The rows a checkpoint of layout kColumnsAsInMemory to kSealMasks saved, from `first_saved_row` on (the
// ones before it released), appended to `rows` in today's layout. They are copied onto the heap (those in
// the cold chunk file too, whose places the next checkpoints give back); the sealing passes move them out.
bool LoadRowsOf48Bytes(Reader* reader, uint32_t first_saved_row,
                       const std::shared_ptr<const MappedFile>& mapping, ChunkedVector<EventRow>* rows) {
  ChunkedVector<RowOf48Bytes> saved;
  saved.StartAfterReleased(first_saved_row);
  if (!reader->InMemory(&saved, UINT32_MAX - first_saved_row, mapping)) return false;
  rows->StartAfterReleased(first_saved_row);
  for (size_t index = first_saved_row; index < saved.size(); ++index) {
    const RowOf48Bytes& old = saved[index];
    EventRow row{};
    if (!SetTimeAndState(old.timestamp, old.state, &row)) return false;
    row.position = old.position;
    row.user = old.user;
    row.type = old.type;
    row.product = old.product;
    row.store = old.store;
    row.version = old.version;
    row.previous_of_user = old.previous_of_user;
    rows->push_back(row);
  }
  return true;
}

// The event ids as checkpoints before format 8 saved them: one by one, each with its text, current row,
// version, hour and rows. False: they do not parse, or a row does not fit.
bool LoadIdsOneByOne(Reader* reader, std::span<const uint64_t> rows_of_shard, EventIdIndex* ids) {
  uint64_t count = 0;
  if (!reader->Count(&count, 40)) return false;
  ids->StartRestore(count);  // (Count checked it against the bytes there are)
  std::vector<RowRef> rows;
  for (uint64_t i = 0; i < count; ++i) {
    std::string_view text;  // inside the bytes read
    RowRef current;
    uint32_t version = 0;
    int64_t hour = 0;
    uint64_t row_count = 0;
    if (!reader->Text(&text) || text.empty() || text.size() > 255 || !reader->Value(&current.shard) ||
        !reader->Value(&current.row) || !reader->Value(&version) || !reader->Value(&hour) || hour < 0 ||
        hour > HourOf(kMaxTimestampMillis) || !reader->Count(&row_count, 8) || row_count == 0 ||
        !current.In(rows_of_shard)) {
      return false;
    }
    rows.clear();
    for (uint64_t r = 0; r < row_count; ++r) {
      RowRef row;
      if (!reader->Value(&row.shard) || !reader->Value(&row.row) || !row.In(rows_of_shard)) return false;
      if (row_count > 1) rows.push_back(row);
    }
    const uint32_t number = ids->Restore(text, EventIdIndex::HashOf(text), current, version, hour);
    if (!rows.empty()) ids->RestoreRows(number, rows);
  }
  return ids->FinishRestore().ok();
}

// A reader of columns saved in `layout`, adopting the chunks saved as their place from `cold`.
Reader ReaderOf(std::string_view bytes, SavedLayout layout, const std::shared_ptr<ColdChunkFile>& cold) {
  Reader reader(bytes);
  reader.AdoptFrom(cold);
  if (layout < SavedLayout::kChunkPlaces) reader.ReadColumnsWithoutPlaces();
  if (layout < SavedLayout::kCellPlaces) reader.ReadCellsWithoutPlaces();
  return reader;
}

}  // namespace

void ShardViews::Save(ByteSink* out, bool refer_to_cold) const {
  Writer writer(out, refer_to_cold);
  writer.Keys(users_);
  writer.Keys(types_);
  writer.Keys(products_);
  writer.Keys(stores_);
  // Rows before the first kept one were dropped (and perhaps released): only their number is saved, and
  // the rows from the start of its chunk (so that a load can use whole chunks in place).
  const uint32_t first_saved_row = first_kept_row_ - first_kept_row_ % ChunkedVector<EventRow>::kChunkSize;
  writer.Value(first_kept_row_);
  writer.Value(first_saved_row);
  writer.InMemory(rows_, first_saved_row);
  const auto& hours = this->hours();  // (with the staged rows folded in)
  writer.Value<uint64_t>(hours.size());
  for (const auto& [hour, data] : hours) {
    writer.Value(hour);
    writer.Cell(data.all);
    writer.InMemory(data.rows, 0);
    // The seal held, so that a start can tell its file fits without a digest of the rows (HowSealedFileFits);
    // or, while a start's files are still being installed, the seal the checkpoint loaded noted, if it
    // still holds.
    const HourData::Seal seal = data.SealToNote();
    writer.Value<uint64_t>(seal.parts.size());
    for (const PartRows& part : seal.parts) {  // (each begins where the one before it ends)
      writer.Value<uint32_t>(part.end);
      writer.Value<uint64_t>(part.digest);
    }
    writer.Value<uint64_t>(seal.masked_rows.size());
    for (uint32_t row : seal.masked_rows) writer.Value(row);
  }
  writer.Value<uint64_t>(last_row_of_user_.size());
  for (uint32_t row : last_row_of_user_) writer.Value(row);
  writer.Value<uint64_t>(type_stats_.size());
  for (const TypeStats& stats : type_stats_) {
    writer.Value(stats.seen);
    writer.Value(stats.first_seen);
    writer.Value(stats.last_seen);
    writer.Value(stats.events);
  }
  writer.Value(first_kept_hour_);
}

Result<std::unique_ptr<ShardViews>> ShardViews::Load(std::string_view* bytes, SavedLayout layout,
                                                     const std::shared_ptr<const MappedFile>& mapping,
                                                     const std::shared_ptr<ColdChunkFile>& cold) {
  auto views = std::make_unique<ShardViews>();
  Reader reader = ReaderOf(*bytes, layout, cold);
  const Status damaged = Status::Corruption("checkpoint: shard views do not parse");
  if (!reader.Keys(&views->users_) || !reader.Keys(&views->types_) || !reader.Keys(&views->products_) ||
      !reader.Keys(&views->stores_)) {
    return damaged;
  }
  const bool in_memory = layout >= SavedLayout::kColumnsAsInMemory;
  uint64_t count = 0;
  if (!reader.Value(&views->first_kept_row_)) return damaged;
  if (in_memory) {
    uint32_t first_saved_row = 0;
    if (!reader.Value(&first_saved_row) || first_saved_row > views->first_kept_row_) return damaged;
    if (layout < SavedLayout::kRowsOf40Bytes) {
      if (!LoadRowsOf48Bytes(&reader, first_saved_row, mapping, &views->rows_)) return damaged;
    } else {
      views->rows_.StartAfterReleased(first_saved_row);
      if (!reader.InMemory(&views->rows_, UINT32_MAX - first_saved_row, mapping)) return damaged;
    }
    if (views->rows_.size() < views->first_kept_row_) return damaged;
  } else {
    if (!reader.Count(&count, 41) || count + views->first_kept_row_ > UINT32_MAX) return damaged;
    views->rows_.StartAfterReleased(views->first_kept_row_);
    for (uint64_t i = 0; i < count; ++i) {
      EventRow row{};
      Millis timestamp = 0;
      RowState state{};
      if (!reader.Value(&timestamp) || !reader.Value(&row.position) || !reader.Value(&row.user) ||
          !reader.Value(&row.type) || !reader.Value(&row.product) || !reader.Value(&row.store) ||
          !reader.Value(&row.version) || !reader.Value(&state) || !reader.Value(&row.previous_of_user)) {
        return damaged;
      }
      if (!SetTimeAndState(timestamp, state, &row)) return damaged;
      views->rows_.push_back(row);
    }
  }
  if (!reader.Count(&count, 8)) return damaged;
  for (uint64_t i = 0; i < count; ++i) {
    int64_t hour = 0;
    if (!reader.Value(&hour)) return damaged;
    HourData& data = views->hours_[hour];
    if (!reader.Cell(&data.all)) return damaged;
    if (in_memory) {
      if (!reader.InMemory(&data.rows, UINT32_MAX, mapping)) return damaged;
      data.noted_seal.retractions = data.retractions;
      uint64_t parts = layout >= SavedLayout::kSealsNoted ? 1 : 0;
      if (layout >= SavedLayout::kSealParts && !reader.Count(&parts, 12)) return damaged;
      for (uint32_t first = 0; parts > 0; --parts) {
        PartRows part{first, 0, 0};
        if (!reader.Value(&part.end) || !reader.Value(&part.digest) || part.end > data.rows.size() ||
            part.end < first) {
          return damaged;
        }
        // (A seal of no rows: layouts before kSealParts noted an hour not sealed so.)
        if (part.end == first) continue;
        data.noted_seal.parts.push_back(part);
        first = part.end;
      }
      const uint32_t noted_rows = data.noted_seal.parts.empty() ? 0 : data.noted_seal.parts.back().end;
      if (layout >= SavedLayout::kSealMasks) {
        uint64_t masked = 0;
        if (!reader.Count(&masked, 4) || masked > noted_rows) return damaged;
        data.noted_seal.masked_rows.resize(masked);
        for (uint32_t& row : data.noted_seal.masked_rows) {
          if (!reader.Value(&row)) return damaged;
        }
      }
      continue;
    }
    uint64_t rows = 0;
    if (!reader.Count(&rows, 4)) return damaged;
    for (uint64_t j = 0; j < rows; ++j) {
      uint32_t row = 0;
      if (!reader.Value(&row)) return damaged;
      data.rows.push_back(row);
    }
  }
  if (!reader.Count(&count, 4)) return damaged;
  views->last_row_of_user_.resize(count);
  for (uint32_t& row : views->last_row_of_user_) {
    if (!reader.Value(&row)) return damaged;
  }
  if (!reader.Count(&count, 25)) return damaged;
  views->type_stats_.resize(count);
  for (TypeStats& stats : views->type_stats_) {
    if (!reader.Value(&stats.seen) || !reader.Value(&stats.first_seen) || !reader.Value(&stats.last_seen) ||
        !reader.Value(&stats.events)) {
      return damaged;
    }
  }
  if (!reader.Value(&views->first_kept_hour_)) return damaged;
  // Every index must point inside what was loaded; a snapshot that says otherwise is not used.
  const uint64_t rows = views->rows_.size();
  const uint32_t first_row = views->first_kept_row_;
  for (size_t index = first_row; index < rows; ++index) {
    const EventRow& row = views->rows_[index];
    if (row.user >= views->users_.size() || row.type >= views->types_.size() ||
        (row.product != kNoDimension && row.product >= views->products_.size()) ||
        (row.store != kNoDimension && row.store >= views->stores_.size()) || row.state > RowState::kDropped) {
      return damaged;
    }
    // A chain goes back in row order, so every walk ends (below first_row: it ends there). That it goes
    // through the same user's rows is checked where it is walked, which reads those rows anyway: here, each
    // row's previous one was a cache miss, most of this load's time at 100 M events.
    if (row.previous_of_user != kNoRow && row.previous_of_user >= index) return damaged;
  }
  // A user's last row is anywhere: asked for well ahead.
  constexpr size_t kAhead = 16;
  const auto& last_rows = views->last_row_of_user_;
  for (uint32_t user = 0; user < last_rows.size(); ++user) {
    if (user + kAhead < last_rows.size()) {
      const uint32_t ahead = last_rows[user + kAhead];
      if (ahead >= first_row && ahead < rows) __builtin_prefetch(&views->rows_[ahead]);
    }
    const uint32_t last = last_rows[user];
    if (last != kNoRow && last >= first_row && (last >= rows || views->rows_[last].user != user))
      return damaged;
  }
  // A cell's users and types are the shard's.
  const auto users_known = [&](const Roaring& users) {
    return users.isEmpty() || users.maximum() < views->users_.size();
  };
  for (const auto& [hour, data] : views->hours_) {
    // In row order (a seal's rows are told by their place: HourData::PlaceOf).
    uint64_t next_row = first_row;
    for (uint32_t row : data.rows) {
      if (row >= rows || row < next_row) return damaged;
      next_row = uint64_t{row} + 1;
    }
    // A masked row is one of the seal's rows, once, and was retracted (replaced by a correction).
    std::vector<uint32_t> masked = data.noted_seal.masked_rows;
    const uint32_t noted_rows = data.noted_seal.parts.empty() ? 0 : data.noted_seal.parts.back().end;
    std::sort(masked.begin(), masked.end());
    for (size_t i = 0; i < masked.size(); ++i) {
      if ((i > 0 && masked[i] == masked[i - 1]) || !data.PlaceOf(masked[i], 0, noted_rows) ||
          views->rows_[masked[i]].state != RowState::kSuperseded) {
        return damaged;
      }
    }
    if (data.all.events_by_type.size() > views->types_.size() || !users_known(data.all.users()))
      return damaged;
    for (const Roaring& users : data.all.users_by_type()) {
      if (!users_known(users)) return damaged;
    }
  }
  if (views->last_row_of_user_.size() < views->users_.size() ||
      views->type_stats_.size() < views->types_.size()) {
    return damaged;
  }
  *bytes = reader.rest();
  return views;
}

void Views::Save(std::string* out) const {
  StringSink sink(out);
  Save(&sink);
}

void Views::Save(ByteSink* out, bool refer_to_cold) const {
  Writer writer(out, refer_to_cold);
  writer.Value<uint32_t>(shard_count());
  // Each shard's part (its number of rows, then its views) has its length written after the global views,
  // so that a load can read the shards on threads of their own while it reads the event ids (which it
  // checks against those numbers of rows).
  std::vector<uint64_t> lengths;
  for (const auto& shard : shards_) {
    const uint64_t start = out->size();
    writer.Value<uint64_t>(shard->rows().size());
    shard->Save(out, refer_to_cold);
    lengths.push_back(out->size() - start);
  }
  global_.ids_.Save(&writer);
  writer.Value<uint64_t>(global_.rejected_.size());
  for (const RejectedRow& rejected : global_.rejected_) {
    writer.Value(rejected.received_at);
    writer.Value(rejected.position);
  }
  writer.Value(global_.stream_sequence_);
  writer.Value<uint64_t>(global_.schemas_.size());
  for (const auto& [type, entry] : global_.schemas_) {
    writer.Text(type);
    writer.Text(SchemaToJson(entry.schema));
    writer.Value(entry.updated_at);
    writer.Value(entry.position);
  }
  writer.Value(global_.first_kept_hour_);
  writer.Value<uint8_t>(global_.last_cut_position_.has_value());
  writer.Value(global_.last_cut_position_.value_or(0));
  for (uint64_t length : lengths) writer.Value(length);
}

Result<std::unique_ptr<Views>> Views::Load(std::string_view bytes, uint32_t shard_count, SavedLayout layout,
                                           const std::shared_ptr<const MappedFile>& mapping,
                                           const std::shared_ptr<ColdChunkFile>& cold, size_t hot_id_set) {
  const Status damaged = Status::Corruption("checkpoint: views do not parse");
  uint32_t saved_shards = 0;
  {
    Reader reader(bytes);
    if (!reader.Value(&saved_shards)) return damaged;
    bytes = reader.rest();
  }
  if (saved_shards != shard_count) {
    return Status::Corruption("checkpoint: written with " + std::to_string(saved_shards) +
                              " shards, the server runs " + std::to_string(shard_count));
  }
  auto views = std::make_unique<Views>(shard_count, hot_id_set);
  std::vector<uint64_t> lengths(shard_count);
  if (layout != SavedLayout::kShardLengthsFirst) {
    if (bytes.size() < sizeof(uint64_t) * shard_count) return damaged;
    Reader reader(bytes.substr(bytes.size() - sizeof(uint64_t) * shard_count));
    for (uint64_t& length : lengths) reader.Value(&length);
    bytes.remove_suffix(sizeof(uint64_t) * shard_count);
  }
  std::vector<std::string_view> parts(shard_count);
  std::vector<uint64_t> rows_of(shard_count);
  {
    Reader reader(bytes);
    for (uint32_t shard = 0; shard < shard_count; ++shard) {
      uint64_t& length = lengths[shard];
      if (layout == SavedLayout::kShardLengthsFirst) {
        if (!reader.Value(&length)) return damaged;
        length += sizeof(uint64_t);  // (it did not count the number of rows)
      }
      if (length < sizeof(uint64_t) || length > reader.rest().size() || !reader.Value(&rows_of[shard]) ||
          rows_of[shard] > UINT32_MAX) {
        return damaged;
      }
      parts[shard] = reader.rest().substr(0, length - sizeof(uint64_t));
      reader = Reader(reader.rest().substr(length - sizeof(uint64_t)));
    }
    bytes = reader.rest();
  }
  // The shards load on threads of their own (as many as there are cores), the event ids on this one.
  std::vector<Result<std::unique_ptr<ShardViews>>> loaded;
  loaded.reserve(shard_count);
  for (uint32_t shard = 0; shard < shard_count; ++shard) loaded.emplace_back(damaged);
  std::atomic<uint32_t> next_shard{0};
  auto load_shards = [&] {
    for (uint32_t shard = next_shard++; shard < shard_count; shard = next_shard++) {
      std::string_view part = parts[shard];
      loaded[shard] = ShardViews::Load(&part, layout, mapping, cold);
      // The whole part, and the rows it said it holds.
      if (loaded[shard].ok() && (!part.empty() || (*loaded[shard])->rows().size() != rows_of[shard]))
        loaded[shard] = damaged;
    }
  };
  std::vector<std::thread> loaders(std::min(shard_count, std::max(1u, std::thread::hardware_concurrency())));
  for (std::thread& loader : loaders) loader = std::thread(load_shards);
  const Status global = views->LoadGlobal(bytes, rows_of, layout, mapping, cold);
  for (std::thread& loader : loaders) loader.join();
  for (uint32_t shard = 0; shard < shard_count; ++shard) {
    if (!loaded[shard].ok()) return loaded[shard].status();
    views->shards_[shard] = std::move(*loaded[shard]);
    views->global_.next_row_[shard] = static_cast<uint32_t>(rows_of[shard]);
  }
  if (!global.ok()) return global;
  return views;
}

Status Views::LoadGlobal(std::string_view bytes, std::span<const uint64_t> rows_of_shard, SavedLayout layout,
                         const std::shared_ptr<const MappedFile>& mapping,
                         const std::shared_ptr<ColdChunkFile>& cold) {
  const Status damaged = Status::Corruption("checkpoint: views do not parse");
  Views* views = this;
  Reader reader = ReaderOf(bytes, layout, cold);
  uint64_t count = 0;
  const bool ids_loaded =
      layout >= SavedLayout::kColumnsAsInMemory
          ? views->global_.ids_.Load(&reader, mapping, rows_of_shard, layout >= SavedLayout::kIdPlacesColumn,
                                     layout >= SavedLayout::kStableIdHashes)
          : LoadIdsOneByOne(&reader, rows_of_shard, &views->global_.ids_);
  if (!ids_loaded) return damaged;
  if (!reader.Count(&count, 16)) return damaged;
  for (uint64_t i = 0; i < count; ++i) {
    RejectedRow rejected{};
    if (!reader.Value(&rejected.received_at) || !reader.Value(&rejected.position)) return damaged;
    views->global_.rejected_.push_back(rejected);
  }
  if (!reader.Value(&views->global_.stream_sequence_) || !reader.Count(&count, 24)) return damaged;
  for (uint64_t i = 0; i < count; ++i) {
    std::string type, json;
    SchemaEntry entry;
    if (!reader.Text(&type) || !reader.Text(&json) || !reader.Value(&entry.updated_at) ||
        !reader.Value(&entry.position)) {
      return damaged;
    }
    auto schema = ParseSchema(json);
    if (!schema.ok()) return damaged;
    entry.schema = std::move(*schema);
    views->global_.schemas_.emplace(std::move(type), std::move(entry));
  }
  uint8_t has_cut = 0;
  uint64_t cut_position = 0;
  if (!reader.Value(&views->global_.first_kept_hour_) || !reader.Value(&has_cut) ||
      !reader.Value(&cut_position) || has_cut > 1 || !reader.AtEnd()) {
    return damaged;
  }
  if (has_cut == 1) views->global_.last_cut_position_ = cut_position;
  return Status::Ok();
}

}  // namespace tally

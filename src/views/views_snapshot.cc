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

// A reader of columns, adopting the chunks saved as their place from `cold`.
Reader ReaderOf(std::string_view bytes, const std::shared_ptr<ColdChunkFile>& cold) {
  Reader reader(bytes);
  reader.AdoptFrom(cold);
  return reader;
}

}  // namespace

void ShardViews::Save(ByteSink* out, bool refer_to_cold) const {
  Writer writer(out, refer_to_cold);
  writer.Keys(users_);
  writer.Keys(types_);
  writer.Keys(products_);
  writer.Keys(stores_);
  const auto& hours = this->hours();  // (with the staged rows folded in)
  writer.Value<uint64_t>(hours.size());
  for (const auto& [hour, data] : hours) {
    writer.Value(hour);
    writer.Cell(data.all);
    writer.InMemory(data.rows, 0);
    writer.InMemory(data.by_user.merged(), 0);
    writer.InMemory(data.by_user.recent(), 0);
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
  const Status damaged = Status::Corruption("checkpoint: shard views do not parse");
  if (layout != SavedLayout::kRowsByHour) return damaged;
  auto views = std::make_unique<ShardViews>();
  Reader reader = ReaderOf(*bytes, cold);
  if (!reader.Keys(&views->users_) || !reader.Keys(&views->types_) || !reader.Keys(&views->products_) ||
      !reader.Keys(&views->stores_)) {
    return damaged;
  }
  uint64_t count = 0;
  if (!reader.Count(&count, 8)) return damaged;
  for (uint64_t i = 0; i < count; ++i) {
    int64_t hour = 0;
    if (!reader.Value(&hour) || hour < 0 || hour > HourOf(kMaxTimestampMillis) ||
        (!views->hours_.empty() && hour <= views->hours_.rbegin()->first)) {
      return damaged;
    }
    HourData& data = views->hours_[hour];
    if (!reader.Cell(&data.all) || !reader.InMemory(&data.rows, UINT32_MAX, mapping) ||
        !reader.InMemory(&data.by_user.mutable_merged(), UINT32_MAX, mapping) ||
        !reader.InMemory(&data.by_user.mutable_recent(), UINT32_MAX, mapping)) {
      return damaged;
    }
    data.noted_seal.retractions = data.retractions;
    uint64_t parts = 0;
    if (!reader.Count(&parts, 12)) return damaged;
    for (uint32_t first = 0; parts > 0; --parts) {
      PartRows part{first, 0, 0};
      if (!reader.Value(&part.end) || !reader.Value(&part.digest) || part.end > data.rows.size() ||
          part.end <= first) {
        return damaged;
      }
      data.noted_seal.parts.push_back(part);
      first = part.end;
    }
    const uint32_t noted_rows = data.noted_seal.parts.empty() ? 0 : data.noted_seal.parts.back().end;
    uint64_t masked = 0;
    if (!reader.Count(&masked, 4) || masked > noted_rows) return damaged;
    data.noted_seal.masked_rows.resize(masked);
    for (uint32_t& row : data.noted_seal.masked_rows) {
      if (!reader.Value(&row)) return damaged;
    }
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
  const auto users_known = [&](const Roaring& users) {
    return users.isEmpty() || users.maximum() < views->users_.size();
  };
  for (const auto& [hour, data] : views->hours_) {
    // The hour's rows: its own, in log order, each naming what the shard has.
    uint64_t position = 0;
    for (uint32_t index = 0; index < data.rows.size(); ++index) {
      const EventRow& row = data.rows[index];
      if (row.user >= views->users_.size() || row.type >= views->types_.size() ||
          (row.product != kNoDimension && row.product >= views->products_.size()) ||
          (row.store != kNoDimension && row.store >= views->stores_.size()) ||
          row.state > RowState::kDuplicate || HourOf(row.timestamp) != hour ||
          (index > 0 && row.position <= position)) {
        return damaged;
      }
      position = row.position;
    }
    // Its rows by user: each a row of the hour, the run in order. (That a note's row is its user's is
    // checked where the notes are read, which read those rows anyway: here, each was a random read of a
    // row. Only crafted bytes with a right checksum can hold such a note.)
    const auto& merged = data.by_user.merged();
    for (size_t i = 0; i < merged.size(); ++i) {
      if (static_cast<uint32_t>(merged[i]) >= data.rows.size() || (i > 0 && merged[i] <= merged[i - 1]))
        return damaged;
    }
    for (uint64_t note : data.by_user.recent()) {
      if (static_cast<uint32_t>(note) >= data.rows.size()) return damaged;
    }
    // A masked row is one of the seal's rows, once, and was retracted (replaced by a correction).
    std::vector<uint32_t> masked = data.noted_seal.masked_rows;
    const uint32_t noted_rows = data.noted_seal.parts.empty() ? 0 : data.noted_seal.parts.back().end;
    std::sort(masked.begin(), masked.end());
    for (size_t i = 0; i < masked.size(); ++i) {
      if ((i > 0 && masked[i] == masked[i - 1]) || masked[i] >= noted_rows ||
          data.rows[masked[i]].state != RowState::kSuperseded) {
        return damaged;
      }
    }
    if (data.all.events_by_type.size() > views->types_.size() || !users_known(data.all.users()))
      return damaged;
    for (const Roaring& users : data.all.users_by_type()) {
      if (!users_known(users)) return damaged;
    }
  }
  if (views->type_stats_.size() < views->types_.size()) return damaged;
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
    writer.Value<uint64_t>(shard->RowCount());
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
  if (layout != SavedLayout::kRowsByHour) return damaged;
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
  {
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
      const uint64_t length = lengths[shard];
      if (length < sizeof(uint64_t) || length > reader.rest().size() || !reader.Value(&rows_of[shard])) {
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
      if (loaded[shard].ok() && (!part.empty() || (*loaded[shard])->RowCount() != rows_of[shard]))
        loaded[shard] = damaged;
    }
  };
  std::vector<std::thread> loaders(std::min(shard_count, std::max(1u, std::thread::hardware_concurrency())));
  for (std::thread& loader : loaders) loader = std::thread(load_shards);
  const Status global = views->LoadGlobal(bytes, mapping, cold);
  for (std::thread& loader : loaders) loader.join();
  for (uint32_t shard = 0; shard < shard_count; ++shard) {
    if (!loaded[shard].ok()) return loaded[shard].status();
    views->shards_[shard] = std::move(*loaded[shard]);
  }
  if (!global.ok()) return global;
  return views;
}

Status Views::LoadGlobal(std::string_view bytes, const std::shared_ptr<const MappedFile>& mapping,
                         const std::shared_ptr<ColdChunkFile>& cold) {
  const Status damaged = Status::Corruption("checkpoint: views do not parse");
  Views* views = this;
  Reader reader = ReaderOf(bytes, cold);
  uint64_t count = 0;
  if (!views->global_.ids_.Load(&reader, mapping, shard_count())) return damaged;
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

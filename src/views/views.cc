#include "views/views.h"

#include <xxhash.h>

#include <algorithm>

#include "ingest/take_home.h"

namespace tally {
namespace {

// Where `row` sits in a timeline ordered by (event time, row).
std::vector<uint32_t>::iterator TimelinePosition(std::vector<uint32_t>& timeline,
                                                 const ChunkedVector<EventRow>& rows, uint32_t row) {
  return std::lower_bound(timeline.begin(), timeline.end(), row, [&](uint32_t a, uint32_t b) {
    return rows[a].timestamp != rows[b].timestamp ? rows[a].timestamp < rows[b].timestamp : a < b;
  });
}

}  // namespace

ApplyOutcome Views::Apply(const LogRecord& record, LogPosition position) {
  if (const auto* event = std::get_if<Event>(&record)) return ApplyEvent(*event, position);
  if (const auto* rejected = std::get_if<RejectedInput>(&record)) {
    rejected_.push_back(RejectedRow{rejected->received_at, position.Packed()});
    return ApplyOutcome::kRejectedKept;
  }
  const auto& change = std::get<SchemaChange>(record);
  if (change.schema_json.empty()) {
    schemas_.erase(change.type);
  } else if (auto schema = ParseSchema(change.schema_json); schema.ok()) {
    schemas_[change.type] = SchemaEntry{std::move(*schema), change.received_at};
  }
  types_.Intern(change.type);
  if (type_stats_.size() < types_.size()) type_stats_.resize(types_.size());
  return ApplyOutcome::kSchemaChanged;
}

ApplyOutcome Views::ApplyEvent(const Event& event, LogPosition position) {
  const auto row_index = static_cast<uint32_t>(rows_.size());
  EventRow row{};
  row.timestamp = event.timestamp;
  row.position = position.Packed();
  row.user = users_.Intern(event.user_id);
  row.type = types_.Intern(event.type);
  row.product = event.product_id.empty() ? kNoDimension : products_.Intern(event.product_id);
  row.store = event.store_id.empty() ? kNoDimension : stores_.Intern(event.store_id);
  row.version = event.version;
  row.state = RowState::kCurrent;
  if (timelines_.size() < users_.size()) timelines_.resize(users_.size());
  if (type_stats_.size() < types_.size()) type_stats_.resize(types_.size());

  ApplyOutcome outcome = ApplyOutcome::kAccepted;
  if (!event.event_id.empty()) {
    auto [id, inserted] = ids_.FindOrInsert(event.event_id, row_index);
    if (!inserted) {
      if (event.version <= rows_[ids_.current(id)].version) {
        row.state = RowState::kDuplicate;
        rows_.push_back(row);
        ids_.AddRow(id, row_index);
        return ApplyOutcome::kDuplicate;
      }
      Retract(ids_.current(id));
      outcome = ApplyOutcome::kCorrection;
      ids_.set_current(id, row_index);
      ids_.AddRow(id, row_index);
    }
  }
  rows_.push_back(row);
  Include(row_index, event.received_at);
  return outcome;
}

void Views::Include(uint32_t row_index, Millis received_at) {
  const EventRow& row = rows_[row_index];
  HourData& hour = hours_[HourOf(row.timestamp)];
  hour.rows.push_back(row_index);
  hour.all.Add(row.type, row.user);
  if (row.product != kNoDimension) hour.by_product[row.product].Add(row.type, row.user);
  if (row.store != kNoDimension) hour.by_store[row.store].Add(row.type, row.user);
  std::vector<uint32_t>& timeline = timelines_[row.user];
  // Most events arrive in time order for their user: one comparison with the newest, instead of a binary
  // search whose every step is a cache miss into the event table.
  if (timeline.empty() || rows_[timeline.back()].timestamp <= row.timestamp) {
    timeline.push_back(row_index);
  } else {
    timeline.insert(TimelinePosition(timeline, rows_, row_index), row_index);
  }
  TypeStats& stats = type_stats_[row.type];
  if (!stats.seen || received_at < stats.first_seen) stats.first_seen = received_at;
  if (!stats.seen || received_at > stats.last_seen) stats.last_seen = received_at;
  stats.seen = true;
  ++stats.events;
}

void Views::Retract(uint32_t row_index) {
  EventRow& row = rows_[row_index];
  std::vector<uint32_t>& timeline = timelines_[row.user];
  timeline.erase(TimelinePosition(timeline, rows_, row_index));

  // What the user still has in the same hour decides whether they leave each cell.
  const int64_t hour_index = HourOf(row.timestamp);
  const Millis hour_start = hour_index * kMillisPerHour;
  bool stays = false, stays_in_type = false;
  bool stays_in_product = false, stays_in_product_type = false;
  bool stays_in_store = false, stays_in_store_type = false;
  auto first = std::lower_bound(timeline.begin(), timeline.end(), hour_start,
                                [&](uint32_t r, Millis t) { return rows_[r].timestamp < t; });
  for (auto it = first; it != timeline.end() && rows_[*it].timestamp < hour_start + kMillisPerHour; ++it) {
    const EventRow& other = rows_[*it];
    const bool same_type = other.type == row.type;
    stays = true;
    stays_in_type |= same_type;
    if (row.product != kNoDimension && other.product == row.product) {
      stays_in_product = true;
      stays_in_product_type |= same_type;
    }
    if (row.store != kNoDimension && other.store == row.store) {
      stays_in_store = true;
      stays_in_store_type |= same_type;
    }
  }
  HourData& hour = hours_[hour_index];
  hour.all.Remove(row.type, row.user, stays, stays_in_type);
  if (row.product != kNoDimension) {
    hour.by_product[row.product].Remove(row.type, row.user, stays_in_product, stays_in_product_type);
  }
  if (row.store != kNoDimension) {
    hour.by_store[row.store].Remove(row.type, row.user, stays_in_store, stays_in_store_type);
  }
  --type_stats_[row.type].events;
  row.state = RowState::kSuperseded;
}

std::vector<uint32_t> Views::RowsOfId(std::string_view event_id) const {
  auto id = ids_.Find(event_id);
  return id ? ids_.Rows(*id) : std::vector<uint32_t>();
}

TakeHomeCounts Views::TakeHomeHour(int64_t hour) const {
  TakeHomeCounts counts;
  auto it = hours_.find(hour);
  if (it == hours_.end()) return counts;
  const Cell& cell = it->second.all;
  counts.unique_users = cell.users.cardinality();
  if (auto click = types_.Find(kClickType)) counts.clicks = cell.EventsOfType(*click);
  if (auto impression = types_.Find(kImpressionType)) counts.impressions = cell.EventsOfType(*impression);
  return counts;
}

namespace {

class Hasher {
 public:
  Hasher() : state_(XXH3_createState()) { XXH3_64bits_reset(state_); }
  ~Hasher() { XXH3_freeState(state_); }
  Hasher(const Hasher&) = delete;
  Hasher& operator=(const Hasher&) = delete;
  template <typename T>
  void Value(const T& value) {
    static_assert(std::is_trivially_copyable_v<T>);
    XXH3_64bits_update(state_, &value, sizeof(value));
  }
  void Text(std::string_view text) {
    Value(text.size());
    XXH3_64bits_update(state_, text.data(), text.size());
  }
  void Bitmap(const Roaring& bitmap) {
    Value(bitmap.cardinality());
    for (uint32_t value : bitmap) Value(value);
  }
  void Cells(const Cell& cell) {
    for (uint64_t count : cell.events_by_type) Value(count);
    Bitmap(cell.users);
    for (uint32_t type = 0; type < cell.users_by_type.size(); ++type) {
      if (cell.users_by_type[type].isEmpty()) continue;
      Value(type);
      Bitmap(cell.users_by_type[type]);
    }
  }
  void CellMap(const absl::flat_hash_map<uint32_t, Cell>& cells) {
    std::vector<uint32_t> keys;
    for (const auto& [key, cell] : cells) keys.push_back(key);
    std::sort(keys.begin(), keys.end());
    for (uint32_t key : keys) {
      Value(key);
      Cells(cells.at(key));
    }
  }
  void Keys(const Dictionary& dictionary) {
    Value(dictionary.size());
    for (uint32_t i = 0; i < dictionary.size(); ++i) Text(dictionary.KeyOf(i));
  }
  uint64_t Finish() { return XXH3_64bits_digest(state_); }

 private:
  XXH3_state_t* state_;
};

}  // namespace

uint64_t Views::Digest() const {
  Hasher hasher;
  hasher.Keys(users_);
  hasher.Keys(types_);
  hasher.Keys(products_);
  hasher.Keys(stores_);
  for (const EventRow& row : rows_) {
    hasher.Value(row.timestamp);
    hasher.Value(row.user);
    hasher.Value(row.type);
    hasher.Value(row.product);
    hasher.Value(row.store);
    hasher.Value(row.version);
    hasher.Value(row.state);
  }
  for (const auto& [hour, data] : hours_) {
    hasher.Value(hour);
    hasher.Cells(data.all);
    hasher.CellMap(data.by_product);
    hasher.CellMap(data.by_store);
    for (uint32_t row : data.rows) hasher.Value(row);
  }
  for (const auto& timeline : timelines_) {
    hasher.Value(timeline.size());
    for (uint32_t row : timeline) hasher.Value(row);
  }
  std::vector<uint32_t> ids(ids_.size());
  for (uint32_t id = 0; id < ids.size(); ++id) ids[id] = id;
  std::sort(ids.begin(), ids.end(), [&](uint32_t a, uint32_t b) { return ids_.Text(a) < ids_.Text(b); });
  for (uint32_t id : ids) {
    hasher.Text(ids_.Text(id));
    hasher.Value(ids_.current(id));
    for (uint32_t row : ids_.Rows(id)) hasher.Value(row);
  }
  for (const RejectedRow& rejected : rejected_) hasher.Value(rejected.received_at);
  for (const auto& [type, entry] : schemas_) {
    hasher.Text(type);
    hasher.Text(SchemaToJson(entry.schema));
    hasher.Value(entry.updated_at);
  }
  for (const TypeStats& stats : type_stats_) {
    hasher.Value(stats.seen);
    hasher.Value(stats.first_seen);
    hasher.Value(stats.last_seen);
    hasher.Value(stats.events);
  }
  return hasher.Finish();
}

}  // namespace tally

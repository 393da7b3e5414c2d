#include "views/views.h"

#include "common/hasher.h"

#include <xxhash.h>

#include <algorithm>
#include <map>

namespace tally {

uint32_t ShardOfUser(std::string_view user_id, uint32_t shard_count) {
  return shard_count == 1 ? 0
                          : static_cast<uint32_t>(XXH3_64bits(user_id.data(), user_id.size()) % shard_count);
}

std::vector<RowRef> Views::RowsOfId(std::string_view event_id) const {
  auto id = global_.ids_.Find(event_id);
  if (!id) return {};
  std::vector<RowRef> rows = global_.ids_.Rows(*id);
  std::erase_if(rows, [&](RowRef row) { return !shards_[row.shard]->Find(row.hour, row.position); });
  return rows;
}

std::optional<int64_t> Views::OldestHour() const {
  std::optional<int64_t> oldest;
  for (const auto& shard : shards_) {
    if (!shard->hours().empty()) oldest = std::min(oldest.value_or(INT64_MAX), shard->hours().begin()->first);
  }
  return oldest;
}

std::optional<uint64_t> Views::FirstPositionNeeded(bool count_schemas) const {
  std::optional<uint64_t> first = global_.last_cut_position_;
  auto need = [&first](uint64_t position) { first = first ? std::min(*first, position) : position; };
  for (const auto& shard : shards_) {
    if (auto position = shard->FirstKeptPosition()) need(*position);
  }
  if (!global_.rejected_.empty()) need(global_.rejected_.front().position);
  if (count_schemas) {
    for (const auto& [type, entry] : global_.schemas_) need(entry.position);
  }
  return first;
}

std::vector<SchemaChange> Views::SchemasSetBefore(uint64_t position) const {
  std::vector<SchemaChange> changes;
  for (const auto& [type, entry] : global_.schemas_) {
    if (entry.position < position) changes.push_back({entry.updated_at, type, SchemaToJson(entry.schema)});
  }
  return changes;
}

Views::Views(uint32_t shard_count, size_t hot_id_set) : global_(hot_id_set) {
  shard_count = std::clamp<uint32_t>(shard_count, 1, kMaxShards);
  for (uint32_t i = 0; i < shard_count; ++i) shards_.push_back(std::make_unique<ShardViews>());
}

void Views::PrefetchIds(std::span<const RecordView> records, ApplyPlan* plan) const {
  plan->id_hashes.resize(records.size());
  for (size_t i = 0; i < records.size(); ++i) {
    if (const auto* event = std::get_if<EventView>(&records[i]);
        event != nullptr && !event->event_id.empty()) {
      plan->id_hashes[i] = EventIdIndex::HashOf(event->event_id);
      global_.ids_.Prefetch(plan->id_hashes[i]);
    }
  }
}

void Views::Sequence(const RecordView& record, uint32_t record_index, uint64_t position, ApplyPlan* plan) {
  if (const auto* rejected = std::get_if<RejectedInput>(&record)) {
    global_.rejected_.push_back(RejectedRow{rejected->received_at, position});
    plan->outcomes.push_back(ApplyOutcome::kRejectedKept);
    return;
  }
  if (const auto* change = std::get_if<SchemaChange>(&record)) {
    if (change->schema_json.empty()) {
      global_.schemas_.erase(change->type);
    } else if (auto schema = ParseSchema(change->schema_json); schema.ok()) {
      global_.schemas_[change->type] = SchemaEntry{std::move(*schema), change->received_at, position};
    }
    plan->outcomes.push_back(ApplyOutcome::kSchemaChanged);
    return;
  }
  if (const auto* cut = std::get_if<RetentionCut>(&record)) {
    global_.first_kept_hour_ = std::max(global_.first_kept_hour_, cut->first_kept_hour);
    global_.last_cut_position_ = position;
    const Millis kept_from = global_.first_kept_hour_ * kMillisPerHour;
    std::erase_if(global_.rejected_, [&](const RejectedRow& row) { return row.received_at < kept_from; });
    global_.ids_.ForgetBefore(global_.first_kept_hour_);
    for (auto& steps : plan->steps) steps.push_back({ShardStep::Kind::kDropHours, record_index, {}});
    plan->outcomes.push_back(ApplyOutcome::kRetentionCut);
    return;
  }
  const auto& event = std::get<EventView>(record);
  const uint32_t shard = ShardOf(event.user_id);
  const RowRef row{shard, static_cast<int32_t>(HourOf(event.timestamp)), position};
  std::vector<ShardStep>& steps = plan->steps[shard];
  ApplyOutcome outcome = ApplyOutcome::kAccepted;
  if (!event.event_id.empty()) {
    auto [id, inserted] =
        global_.ids_.FindOrInsert(event.event_id, plan->id_hashes[record_index], row, event.version);
    if (!inserted) {
      if (event.version <= global_.ids_.current_version(id)) {
        global_.ids_.AddDuplicate(id, row);
        steps.push_back({ShardStep::Kind::kIncludeDuplicate, record_index, {}});
        plan->outcomes.push_back(ApplyOutcome::kDuplicate);
        return;
      }
      // The replaced row leaves its own shard first (it may be this one: then before the new row counts).
      const RowRef replaced = global_.ids_.current(id);
      plan->steps[replaced.shard].push_back({ShardStep::Kind::kRetract, record_index, replaced});
      global_.ids_.AddCorrection(id, row, event.version);
      outcome = ApplyOutcome::kCorrection;
    }
  }
  steps.push_back({ShardStep::Kind::kIncludeCurrent, record_index, {}});
  plan->outcomes.push_back(outcome);
}

void Views::RunShardSteps(uint32_t shard, const ApplyPlan& plan, std::span<const RecordView> records,
                          std::span<const uint64_t> positions) {
  ShardViews& views = *shards_[shard];
  const std::vector<ShardStep>& steps = plan.steps[shard];
  auto includes = [](const ShardStep& step) {
    return step.kind == ShardStep::Kind::kIncludeCurrent || step.kind == ShardStep::Kind::kIncludeDuplicate;
  };
  std::vector<Dictionary::Hashed> user_keys;
  user_keys.reserve(steps.size());
  for (const ShardStep& step : steps) {
    if (!includes(step)) continue;
    const EventView& event = std::get<EventView>(records[step.record]);
    user_keys.push_back(Dictionary::HashOf(event.user_id));
    views.users().Prefetch(user_keys.back());
    // A catalogue of tens of thousands of products is a table larger than the caches.
    if (!event.product_id.empty()) views.products().Prefetch(event.product_id);
  }
  // The users are numbered first (in log order, as each row's would be), so that every user's timeline is
  // in cache by the time the row is counted.
  std::vector<uint32_t> users;
  users.reserve(user_keys.size());
  for (const Dictionary::Hashed& key : user_keys) users.push_back(views.InternUser(key));
  auto next_user = users.begin();
  for (const ShardStep& step : steps) {
    if (step.kind == ShardStep::Kind::kRetract) {
      views.Retract(step.retracted.hour, step.retracted.position);
      continue;
    }
    if (step.kind == ShardStep::Kind::kDropHours) {
      views.DropHoursBefore(std::get<RetentionCut>(records[step.record]).first_kept_hour);
      continue;
    }
    views.Include(std::get<EventView>(records[step.record]), *next_user++, positions[step.record],
                  step.kind == ShardStep::Kind::kIncludeCurrent ? RowState::kCurrent : RowState::kDuplicate);
  }
}

std::vector<ApplyOutcome> Views::ApplyBatch(std::span<const RecordView> records,
                                            std::span<const uint64_t> positions) {
  ApplyPlan plan(shard_count(), records.size());
  PrefetchIds(records, &plan);
  for (uint32_t i = 0; i < records.size(); ++i) Sequence(records[i], i, positions[i], &plan);
  for (uint32_t shard = 0; shard < shard_count(); ++shard) {
    if (!plan.steps[shard].empty()) RunShardSteps(shard, plan, records, positions);
  }
  return std::move(plan.outcomes);
}

ApplyOutcome Views::Apply(const RecordView& record, LogPosition position) {
  const uint64_t packed = position.Packed();
  return ApplyBatch({&record, 1}, {&packed, 1})[0];
}

void Views::SealHours(uint32_t quiet_passes, uint32_t busy_rows) {
  for (const auto& shard : shards_) shard->SealHours(quiet_passes, busy_rows);
}

TakeHomeCounts Views::TakeHomeHour(int64_t hour) const {
  TakeHomeCounts counts;
  for (const auto& shard : shards_) counts += shard->TakeHomeHour(hour);
  return counts;
}

std::map<std::string, TypeStats> Views::TypeStatsByName() const {
  std::map<std::string, TypeStats> by_name;
  for (const auto& shard : shards_) {
    for (uint32_t type = 0; type < shard->type_stats().size(); ++type) {
      const TypeStats& stats = shard->type_stats()[type];
      if (!stats.seen) continue;
      TypeStats& merged = by_name[std::string(shard->types().KeyOf(type))];
      merged.first_seen = merged.seen ? std::min(merged.first_seen, stats.first_seen) : stats.first_seen;
      merged.last_seen = merged.seen ? std::max(merged.last_seen, stats.last_seen) : stats.last_seen;
      merged.seen = true;
      merged.events += stats.events;
    }
  }
  return by_name;
}

uint64_t Views::rows() const {
  uint64_t rows = 0;
  for (const auto& shard : shards_) rows += shard->RowCount();
  return rows;
}

Views::Tiers Views::tiers() const {
  Tiers tiers;
  for (const auto& shard : shards_) {
    for (const auto& [hour, data] : shard->hours()) {
      if (data.SealedWhole()) {
        ++tiers.sealed_hours;
      } else if (data.WaitsToMerge()) {
        ++tiers.late_rows_hours;
      } else {
        ++tiers.hot_hours;
      }
      tiers.sealed_parts += data.parts.size();
      for (const SealedPart& part : data.parts)
        tiers.sealed_bytes += part.index->by_product.bytes() + part.index->by_store.bytes();
      tiers.frozen_hours += data.all.frozen() ? 1 : 0;
    }
  }
  return tiers;
}

namespace {

// A set of user ids, hashed so that neither the order of insertion nor the shard a member came from
// matters.
struct UserSetHash {
  uint64_t count = 0, sum = 0, xored = 0;
  void Add(std::string_view user) {
    const uint64_t hash = XXH3_64bits(user.data(), user.size());
    ++count;
    sum += hash;
    xored ^= hash;
  }
  // `users`: a Roaring or a span of user indices.
  template <typename Users>
  void AddAll(const Users& users, const Dictionary& names) {
    for (uint32_t user : users) Add(names.KeyOf(user));
  }
};

// One cell of all shards merged: events and users by type name, and all users.
struct MergedCell {
  std::map<std::string, std::pair<uint64_t, UserSetHash>> by_type;
  UserSetHash users;

  void Add(const Cell& cell, const ShardViews& shard) {
    users.AddAll(cell.users(), shard.users());
    for (uint32_t type = 0; type < cell.events_by_type.size(); ++type) {
      const Roaring* users_of_type = cell.UsersOfType(type);
      if (cell.events_by_type[type] == 0 && (users_of_type == nullptr || users_of_type->isEmpty())) continue;
      auto& [events, type_users] = by_type[std::string(shard.types().KeyOf(type))];
      events += cell.events_by_type[type];
      if (users_of_type != nullptr) type_users.AddAll(*users_of_type, shard.users());
    }
  }
  // The key at `at` of an index of the shard's hour.
  void Add(const DimensionIndex& index, size_t at, const ShardViews& shard) {
    Roaring key_users;
    index.ForEachGroup(at, [&](const DimensionIndex::Group& group) {
      auto& [events, type_users] = by_type[std::string(shard.types().KeyOf(group.type))];
      events += group.events;
      type_users.AddAll(group.users, shard.users());
      key_users.addMany(group.users.size(), group.users.data());
    });
    users.AddAll(key_users, shard.users());
  }
  void HashInto(Hasher* hasher) const {
    hasher->Value(users);
    for (const auto& [type, entry] : by_type) {
      hasher->Text(type);
      hasher->Value(entry.first);
      hasher->Value(entry.second);
    }
  }
};

struct MergedHour {
  MergedCell all;
  std::map<std::string, MergedCell> by_product, by_store;
  uint64_t rows = 0;
};

}  // namespace

uint64_t Views::Digest() const {
  // Rows numbered in log order across all shards; everything that points at a row hashes that number.
  // Rows retention dropped are left out (a replay of a log whose oldest segments were deleted has none of
  // them), and so is what points only at them.
  struct Located {
    uint64_t position;
    uint32_t shard;
    int64_t hour;
    const EventRow* row;
  };
  constexpr uint64_t kDroppedRow = UINT64_MAX;
  std::vector<Located> order;
  for (uint32_t shard = 0; shard < shard_count(); ++shard) {
    for (const auto& [hour, data] : shards_[shard]->hours()) {
      for (const EventRow& row : data.rows) order.push_back({row.position, shard, hour, &row});
    }
  }
  std::sort(order.begin(), order.end(),
            [](const Located& a, const Located& b) { return a.position < b.position; });
  auto number_of = [&](RowRef row) {
    auto it = std::lower_bound(
        order.begin(), order.end(), row.position,
        [](const Located& located, uint64_t position) { return located.position < position; });
    if (it == order.end() || it->position != row.position || it->shard != row.shard || it->hour != row.hour)
      return kDroppedRow;
    return static_cast<uint64_t>(it - order.begin());
  };

  Hasher hasher;
  hasher.Value(order.size());
  for (const Located& located : order) {
    const ShardViews& shard = *shards_[located.shard];
    const EventRow& row = *located.row;
    hasher.Value(row.timestamp);
    hasher.Text(shard.users().KeyOf(row.user));
    hasher.Text(shard.types().KeyOf(row.type));
    hasher.Value(row.product != kNoDimension);
    if (row.product != kNoDimension) hasher.Text(shard.products().KeyOf(row.product));
    hasher.Value(row.store != kNoDimension);
    if (row.store != kNoDimension) hasher.Text(shard.stores().KeyOf(row.store));
    hasher.Value(row.version);
    hasher.Value(row.state);
  }

  std::map<int64_t, MergedHour> hours;
  for (uint32_t s = 0; s < shard_count(); ++s) {
    const ShardViews& shard = *shards_[s];
    for (const auto& [hour, data] : shard.hours()) {
      MergedHour& merged = hours[hour];
      merged.all.Add(data.all, shard);
      // From the rows, sealed or not: the digest must not depend on when hours were sealed.
      const SealedHour by_key = shard.BuildSealedHour(hour);
      for (size_t at = 0; at < by_key.by_product.key_count(); ++at)
        merged.by_product[std::string(shard.products().KeyOf(by_key.by_product.key_at(at)))].Add(
            by_key.by_product, at, shard);
      for (size_t at = 0; at < by_key.by_store.key_count(); ++at)
        merged.by_store[std::string(shard.stores().KeyOf(by_key.by_store.key_at(at)))].Add(by_key.by_store,
                                                                                           at, shard);
      merged.rows += data.rows.size();
    }
  }
  for (auto& [hour, merged] : hours) {
    hasher.Value(hour);
    merged.all.HashInto(&hasher);
    for (const auto* cells : {&merged.by_product, &merged.by_store}) {
      hasher.Value(cells->size());
      for (const auto& [key, cell] : *cells) {
        hasher.Text(key);
        cell.HashInto(&hasher);
      }
    }
    hasher.Value(merged.rows);
  }

  struct UserAt {
    std::string_view name;
    uint32_t shard, user;
  };
  std::vector<UserAt> users;
  for (uint32_t s = 0; s < shard_count(); ++s) {
    for (uint32_t user = 0; user < shards_[s]->users().size(); ++user)
      users.push_back({shards_[s]->users().KeyOf(user), s, user});
  }
  std::sort(users.begin(), users.end(), [](const UserAt& a, const UserAt& b) { return a.name < b.name; });
  // Every user's timeline (current rows by event time, then log order), all at once: one asked for alone
  // looks at every hour (ShardViews::Timeline).
  struct TimelineRow {
    uint32_t user;
    Millis timestamp;
    uint64_t number;
    auto operator<=>(const TimelineRow&) const = default;
  };
  std::vector<std::vector<TimelineRow>> timelines(shard_count());
  for (uint64_t number = 0; number < order.size(); ++number) {
    const EventRow& row = *order[number].row;
    if (row.state == RowState::kCurrent)
      timelines[order[number].shard].push_back({row.user, row.timestamp, number});
  }
  for (auto& rows : timelines) std::sort(rows.begin(), rows.end());
  for (const UserAt& user : users) {
    const std::vector<TimelineRow>& rows = timelines[user.shard];
    const auto first = std::lower_bound(rows.begin(), rows.end(), TimelineRow{user.user, INT64_MIN, 0});
    auto end = first;
    while (end != rows.end() && end->user == user.user) ++end;
    if (first == end) continue;  // no current event (or none that retention kept)
    hasher.Text(user.name);
    hasher.Value(static_cast<size_t>(end - first));
    for (auto it = first; it != end; ++it) hasher.Value(it->number);
  }

  const EventIdIndex& ids = global_.ids_;
  std::vector<std::pair<std::string, uint32_t>> id_order;
  id_order.reserve(ids.size());
  ids.ForEach([&](uint32_t id) {
    if (number_of(ids.current(id)) != kDroppedRow) id_order.emplace_back(ids.Text(id), id);
  });
  std::sort(id_order.begin(), id_order.end());
  for (const auto& [text, id] : id_order) {
    hasher.Text(text);
    hasher.Value(ids.current_version(id));
    hasher.Value(number_of(ids.current(id)));
    for (RowRef row : ids.Rows(id)) {
      if (const uint64_t number = number_of(row); number != kDroppedRow) hasher.Value(number);
    }
  }
  for (const RejectedRow& rejected : global_.rejected_) hasher.Value(rejected.received_at);
  for (const auto& [type, entry] : global_.schemas_) {
    hasher.Text(type);
    hasher.Text(SchemaToJson(entry.schema));
    hasher.Value(entry.updated_at);
  }
  hasher.Value(global_.first_kept_hour_);
  for (const auto& [type, stats] : TypeStatsByName()) {
    // Once retention dropped hours, when a type was first and last seen may lie in records a replay of the
    // trimmed log no longer has.
    if (global_.first_kept_hour_ > 0 && stats.events == 0) continue;
    hasher.Text(type);
    if (global_.first_kept_hour_ == 0) {
      hasher.Value(stats.first_seen);
      hasher.Value(stats.last_seen);
    }
    hasher.Value(stats.events);
  }
  return hasher.Finish();
}

}  // namespace tally

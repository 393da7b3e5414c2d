#include "query/event_lookup.h"

#include <algorithm>
#include <map>
#include <set>
#include <variant>

#include "ingest/schema.h"

namespace tally {
namespace {

// Where a row's whole record is: the log, and its sealed hour's events when they hold it.
struct RecordSource {
  uint64_t position;
  uint32_t shard;
  std::optional<SealedEventAt> sealed;
};

RecordSource SourceOf(const ShardViews& shard, uint32_t shard_index, RowAt at) {
  return {shard.Row(at).position, shard_index, shard.SealedEventOf(at)};
}

// The records at these sources, in their order, which the views say are events (or rejected input).
template <typename Record>
Result<std::vector<Record>> RecordsAt(const Engine& engine, const std::vector<RecordSource>& sources) {
  std::vector<Record> records;
  records.reserve(sources.size());
  EventBlocks::Reader reader;
  for (const RecordSource& source : sources) {
    auto record = engine.ReadRecord(source.position, source.shard, source.sealed, &reader);
    if (!record.ok()) return Status::Internal("log: " + record.status().message());
    if (!std::holds_alternative<Record>(*record))
      return Status::Internal("log: the record at " + std::to_string(source.position) +
                              " is not the one the views name");
    records.push_back(std::get<Record>(std::move(*record)));
  }
  return records;
}

TypeEntry EntryOf(const Views& views, const std::map<std::string, TypeStats>& type_stats,
                  const std::string& type) {
  TypeEntry entry;
  entry.type = type;
  if (auto stats = type_stats.find(type); stats != type_stats.end()) {
    entry.events = stats->second.events;
    entry.first_seen = stats->second.first_seen;
    entry.last_seen = stats->second.last_seen;
  }
  if (auto schema = views.global().schemas().find(type); schema != views.global().schemas().end())
    entry.schema_json = SchemaToJson(schema->second.schema);
  return entry;
}

}  // namespace

const char* RowStateName(RowState state) {
  switch (state) {
    case RowState::kCurrent:
      return "current";
    case RowState::kSuperseded:
      return "superseded";
    case RowState::kDuplicate:
      return "duplicate";
  }
  return "?";
}

Result<std::vector<EventVersion>> EventVersions(const Engine& engine, const std::string& event_id) {
  std::vector<RecordSource> sources;
  std::vector<RowState> states;
  engine.Read([&](const Views& views) {
    for (RowRef ref : views.RowsOfId(event_id)) {
      const ShardViews& shard = views.shard(ref.shard);
      const std::optional<RowAt> at = shard.Find(ref.hour, ref.position);
      if (!at) continue;  // (only a damaged checkpoint's index names a row no shard has)
      sources.push_back(SourceOf(shard, ref.shard, *at));
      states.push_back(shard.Row(*at).state);
    }
    return 0;
  });
  auto events = RecordsAt<Event>(engine, sources);
  if (!events.ok()) return events.status();
  std::vector<EventVersion> versions;
  for (size_t i = 0; i < events->size(); ++i) versions.push_back({std::move((*events)[i]), states[i]});
  return versions;
}

Result<TimelinePage> UserTimeline(const Engine& engine, const TimelineRequest& request) {
  struct Found {
    RecordSource source;
    Millis timestamp;
  };
  std::vector<Found> found;
  bool more = false;
  engine.Read([&](const Views& all) {
    const uint32_t shard = all.ShardOf(request.user_id);
    const ShardViews& views = all.shard(shard);
    auto user = views.users().Find(request.user_id);
    if (!user) return 0;
    std::optional<uint32_t> type;
    if (request.type) {
      type = views.types().Find(*request.type);
      if (!type) return 0;
    }
    const std::vector<RowAt> timeline = views.Timeline(*user);
    auto end = std::lower_bound(timeline.begin(), timeline.end(), request.before,
                                [&](RowAt at, Millis t) { return views.Row(at).timestamp < t; });
    for (auto it = end; it != timeline.begin();) {
      const EventRow& row = views.Row(*--it);
      if (type && row.type != *type) continue;
      if (found.size() >= request.limit) {
        const bool continues_run = row.timestamp == found.back().timestamp;
        // A page that is all one run takes the whole run, past the limit.
        const bool page_is_one_run = continues_run && found.front().timestamp == row.timestamp;
        if (!page_is_one_run) {
          // Otherwise it ends before the run it would have ended inside.
          while (continues_run && found.back().timestamp == row.timestamp) found.pop_back();
          more = true;
          break;
        }
      }
      found.push_back({SourceOf(views, shard, *it), row.timestamp});
    }
    return 0;
  });
  std::vector<RecordSource> sources;
  for (const Found& item : found) sources.push_back(item.source);
  auto events = RecordsAt<Event>(engine, sources);
  if (!events.ok()) return events.status();
  TimelinePage page;
  page.events = std::move(*events);
  if (more && !found.empty()) page.next_before = found.back().timestamp;
  return page;
}

Result<std::vector<RejectedInput>> RecentRejected(const Engine& engine, size_t limit, Millis before) {
  const std::vector<RecordSource> sources = engine.ReadGlobal([&](const GlobalViews& global) {
    std::vector<RecordSource> newest;
    const auto& rejected = global.rejected();
    for (auto it = rejected.rbegin(); it != rejected.rend() && newest.size() < limit; ++it) {
      if (it->received_at < before) newest.push_back({it->position, 0, std::nullopt});
    }
    return newest;
  });
  return RecordsAt<RejectedInput>(engine, sources);
}

std::vector<TypeEntry> TypeEntries(const Engine& engine) {
  return engine.Read([&](const Views& views) {
    const auto type_stats = views.TypeStatsByName();
    std::set<std::string> names;
    for (const auto& [name, stats] : type_stats) names.insert(name);
    for (const auto& [name, schema] : views.global().schemas()) names.insert(name);
    std::vector<TypeEntry> entries;
    for (const std::string& name : names) entries.push_back(EntryOf(views, type_stats, name));
    return entries;
  });
}

std::optional<TypeEntry> TypeEntryOf(const Engine& engine, const std::string& type) {
  return engine.Read([&](const Views& views) -> std::optional<TypeEntry> {
    const auto type_stats = views.TypeStatsByName();
    if (type_stats.count(type) == 0 && views.global().schemas().count(type) == 0) return std::nullopt;
    return EntryOf(views, type_stats, type);
  });
}

}  // namespace tally

// The native API, version 1 (API.md §2).
#include <array>
#include <cinttypes>
#include <cstdio>
#include <map>
#include <set>

#include "common/clock.h"
#include "common/json_writer.h"
#include "http/assets.h"
#include "http/request_head.h"
#include "http/worker.h"
#include "ingest/json_events.h"
#include "ingest/query_string.h"
#include "ingest/schema.h"
#include "query/event_json.h"
#include "query/stats.h"

namespace tally {
namespace {

constexpr int64_t kMaxLimit = 1000;

void ReplyBadRequest(h2o_req_t* req, const Status& status) {
  ReplyJsonError(req, 400, "invalid_argument", status.message());
}

void ReplyNotFound(h2o_req_t* req, std::string_view message) {
  ReplyJsonError(req, 404, "not_found", message);
}

// ---- GET /v1/events/{id} ----

const char* StateName(RowState state) {
  switch (state) {
    case RowState::kCurrent:
      return "current";
    case RowState::kSuperseded:
      return "superseded";
    case RowState::kDuplicate:
      return "duplicate";
    case RowState::kDropped:
      return "dropped";
  }
  return "?";
}

}  // namespace

void HandleGetEvent(Worker& worker, h2o_req_t* req, const RouteArgs& args) {
  const std::string& event_id = args.params[0];
  struct Version {
    uint64_t position;
    RowState state;
  };
  std::vector<Version> versions;
  worker.engine().Read([&](const Views& views) {
    for (RowRef ref : views.RowsOfId(event_id)) {
      const EventRow& row = views.shard(ref.shard).rows()[ref.row];
      versions.push_back({row.position, row.state});
    }
    return 0;
  });
  if (versions.empty()) {
    ReplyNotFound(req, "event_id: no event with id '" + event_id + "'");
    return;
  }
  JsonWriter json;
  JsonWriter current;
  json.BeginObject().Key("event_id").String(event_id).Key("versions").BeginArray();
  for (const Version& version : versions) {
    auto record = worker.engine().ReadRecord(version.position);
    if (!record.ok()) {
      ReplyJsonError(req, 500, "internal", "log: " + record.status().message());
      return;
    }
    const Event& event = std::get<Event>(*record);
    BeginEventJson(event, &json);
    json.Key("status").String(StateName(version.state)).EndObject();
    if (version.state == RowState::kCurrent) {
      BeginEventJson(event, &current);
      current.EndObject();
    }
  }
  json.EndArray().Key("current").Raw(current.str()).EndObject();
  ReplyJson(req, 200, json.str());
}

namespace {

// ---- GET /v1/users/{id}/events ----

Result<size_t> ParseLimit(const QueryParams& params, int64_t default_limit) {
  const std::string* limit = params.Get("limit");
  if (limit == nullptr) return static_cast<size_t>(default_limit);
  auto value = ParseBoundedInteger("limit", *limit, 1, kMaxLimit);
  if (!value.ok()) return value.status();
  return static_cast<size_t>(*value);
}

}  // namespace

void HandleUserEvents(Worker& worker, h2o_req_t* req, const RouteArgs& args) {
  const std::string& user_id = args.params[0];
  auto params = QueryParams::Parse(QueryOf(req), {"limit", "before", "type"});
  if (!params.ok()) return ReplyBadRequest(req, params.status());
  auto limit = ParseLimit(*params, 50);
  if (!limit.ok()) return ReplyBadRequest(req, limit.status());
  Millis before = kMaxTimestampMillis + 1;
  if (const std::string* text = params->Get("before")) {
    auto value = ParseTimeParam("before", *text, kMaxTimestampMillis + 1);
    if (!value.ok()) return ReplyBadRequest(req, value.status());
    before = *value;
  }
  const std::string* type_filter = params->Get("type");
  if (type_filter != nullptr) {
    if (Status status = CheckEventType(*type_filter); !status.ok()) return ReplyBadRequest(req, status);
  }
  struct Found {
    uint64_t position;
    Millis timestamp;
  };
  std::vector<Found> found;
  bool more = false;
  worker.engine().Read([&](const Views& all) {
    const ShardViews& views = all.shard(all.ShardOf(user_id));
    auto user = views.users().Find(user_id);
    if (!user) return 0;
    std::optional<uint32_t> type;
    if (type_filter != nullptr) {
      type = views.types().Find(*type_filter);
      if (!type) return 0;
    }
    const std::vector<uint32_t> timeline = views.Timeline(*user);
    auto end = std::lower_bound(timeline.begin(), timeline.end(), before,
                                [&](uint32_t row, Millis t) { return views.rows()[row].timestamp < t; });
    for (auto it = end; it != timeline.begin();) {
      const EventRow& row = views.rows()[*--it];
      if (type && row.type != *type) continue;
      // Paging is by timestamp: a page must not end inside a run of equal timestamps, or the next page
      // (before = the last one shown) would skip the rest of the run. It ends before the run, or, when
      // the whole page is that run, after it: longer than `limit` rather than skipping.
      if (found.size() >= *limit && row.timestamp != found.back().timestamp) {
        more = true;
        break;
      }
      if (found.size() >= *limit && found.front().timestamp != row.timestamp) {
        size_t keep = found.size();
        while (found[keep - 1].timestamp == row.timestamp) --keep;
        found.resize(keep);
        more = true;
        break;
      }
      found.push_back({row.position, row.timestamp});
    }
    return 0;
  });
  JsonWriter json;
  json.BeginObject().Key("user_id").String(user_id).Key("events").BeginArray();
  for (const Found& item : found) {
    auto record = worker.engine().ReadRecord(item.position);
    if (!record.ok()) return ReplyJsonError(req, 500, "internal", "log: " + record.status().message());
    BeginEventJson(std::get<Event>(*record), &json);
    json.EndObject();
  }
  json.EndArray().Key("next_before");
  if (more && !found.empty()) {
    json.Int(found.back().timestamp);
  } else {
    json.Null();
  }
  json.EndObject();
  ReplyJson(req, 200, json.str());
}

namespace {

// ---- GET /v1/stats and /v1/top ----

Status ReadFilter(const QueryParams& params, EventFilter* filter) {
  if (const std::string* type = params.Get("type")) {
    TALLY_RETURN_IF_ERROR(CheckEventType(*type));
    filter->type = *type;
  }
  for (const char* name : {"product_id", "store_id"}) {
    if (const std::string* value = params.Get(name)) {
      if (value->empty() || value->size() > kMaxDimensionBytes) {
        return Status::InvalidArgument(name, "must be 1-256 bytes");
      }
      (std::string_view(name) == "product_id" ? filter->product_id : filter->store_id) = *value;
    }
  }
  return Status::Ok();
}

Status ReadRange(const QueryParams& params, Millis* from, Millis* to) {
  const std::string* from_text = params.Get("from");
  const std::string* to_text = params.Get("to");
  if (from_text == nullptr) return Status::InvalidArgument("from", "missing");
  if (to_text == nullptr) return Status::InvalidArgument("to", "missing");
  auto from_value = ParseTimeParam("from", *from_text, kMaxTimestampMillis);
  if (!from_value.ok()) return from_value.status();
  auto to_value = ParseTimeParam("to", *to_text, kMaxTimestampMillis + 1);
  if (!to_value.ok()) return to_value.status();
  if (*to_value <= *from_value) return Status::InvalidArgument("to", "must be after from");
  *from = *from_value;
  *to = *to_value;
  return Status::Ok();
}

void WriteAggregate(const Aggregate& aggregate, JsonWriter* json) {
  json->Key("events").Uint(aggregate.events).Key("unique_users").Uint(aggregate.unique_users).Key("by_type");
  json->BeginObject();
  for (const auto& [type, events] : aggregate.by_type) json->Key(type).Uint(events);
  json->EndObject();
}

}  // namespace

void HandleStats(Worker& worker, h2o_req_t* req, const RouteArgs&) {
  auto params = QueryParams::Parse(QueryOf(req), {"from", "to", "bucket", "type", "product_id", "store_id"});
  if (!params.ok()) return ReplyBadRequest(req, params.status());
  StatsRequest request;
  if (Status status = ReadRange(*params, &request.from, &request.to); !status.ok())
    return ReplyBadRequest(req, status);
  if (Status status = ReadFilter(*params, &request.filter); !status.ok()) return ReplyBadRequest(req, status);
  std::string bucket_name = "hour";
  if (const std::string* bucket = params->Get("bucket")) {
    bucket_name = *bucket;
    if (bucket_name == "hour") {
      request.bucket = Bucket::kHour;
    } else if (bucket_name == "day") {
      request.bucket = Bucket::kDay;
    } else if (bucket_name == "all") {
      request.bucket = Bucket::kAll;
    } else {
      return ReplyBadRequest(req, Status::InvalidArgument("bucket", "must be hour, day or all"));
    }
  }
  auto result = worker.engine().Read([&](const Views& views) { return ComputeStats(views, request); });
  if (!result.ok()) return ReplyBadRequest(req, result.status());
  JsonWriter json;
  json.BeginObject()
      .Key("from")
      .Int(request.from)
      .Key("to")
      .Int(request.to)
      .Key("bucket")
      .String(bucket_name);
  json.Key("buckets").BeginArray();
  for (const StatsBucket& bucket : result->buckets) {
    json.BeginObject().Key("start").Int(bucket.start).Key("end").Int(bucket.end);
    WriteAggregate(bucket.aggregate, &json);
    json.EndObject();
  }
  json.EndArray().Key("total").BeginObject();
  WriteAggregate(result->total, &json);
  json.EndObject().EndObject();
  ReplyJson(req, 200, json.str());
}

void HandleTop(Worker& worker, h2o_req_t* req, const RouteArgs&) {
  auto params = QueryParams::Parse(QueryOf(req), {"by", "from", "to", "hours", "type", "limit"});
  if (!params.ok()) return ReplyBadRequest(req, params.status());
  TopRequest request;
  const std::string* by = params->Get("by");
  if (by == nullptr)
    return ReplyBadRequest(req, Status::InvalidArgument("by", "missing (product_id or store_id)"));
  if (*by == "product_id") {
    request.by = TopDimension::kProduct;
  } else if (*by == "store_id") {
    request.by = TopDimension::kStore;
  } else {
    return ReplyBadRequest(req, Status::InvalidArgument("by", "must be product_id or store_id"));
  }
  if (const std::string* hours = params->Get("hours")) {
    if (params->Get("from") != nullptr || params->Get("to") != nullptr) {
      return ReplyBadRequest(req,
                             Status::InvalidArgument("hours", "replaces from and to: give one or the other"));
    }
    auto count = ParseBoundedInteger("hours", *hours, 1, 24 * 366);
    if (!count.ok()) return ReplyBadRequest(req, count.status());
    // The last N hours up to now: the current hour (still going) and the N-1 before it, whole.
    const int64_t current_hour = HourOf(WallClockMillis());
    request.from = (current_hour - (*count - 1)) * kMillisPerHour;
    request.to = (current_hour + 1) * kMillisPerHour;
  } else if (Status status = ReadRange(*params, &request.from, &request.to); !status.ok()) {
    return ReplyBadRequest(req, status);
  }
  EventFilter filter;
  if (Status status = ReadFilter(*params, &filter); !status.ok()) return ReplyBadRequest(req, status);
  request.type = filter.type;
  auto limit = ParseLimit(*params, 10);
  if (!limit.ok()) return ReplyBadRequest(req, limit.status());
  request.limit = *limit;
  auto top = worker.engine().Read([&](const Views& views) { return ComputeTop(views, request); });
  JsonWriter json;
  json.BeginObject().Key("by").String(*by).Key("from").Int(request.from).Key("to").Int(request.to).Key("top");
  json.BeginArray();
  for (const TopEntry& entry : top) {
    json.BeginObject().Key("key").String(entry.key).Key("events").Uint(entry.events);
    json.Key("unique_users").Uint(entry.unique_users).EndObject();
  }
  json.EndArray().EndObject();
  ReplyJson(req, 200, json.str());
}

namespace {

// ---- GET /v1/rejected ----

}  // namespace

void HandleRejected(Worker& worker, h2o_req_t* req, const RouteArgs&) {
  auto params = QueryParams::Parse(QueryOf(req), {"limit", "before"});
  if (!params.ok()) return ReplyBadRequest(req, params.status());
  auto limit = ParseLimit(*params, 50);
  if (!limit.ok()) return ReplyBadRequest(req, limit.status());
  Millis before = INT64_MAX;
  if (const std::string* text = params->Get("before")) {
    auto value = ParseTimeParam("before", *text, kMaxTimestampMillis + 1);
    if (!value.ok()) return ReplyBadRequest(req, value.status());
    before = *value;
  }
  std::vector<uint64_t> positions;
  worker.engine().ReadGlobal([&](const GlobalViews& global) {
    const auto& rejected = global.rejected();
    for (auto it = rejected.rbegin(); it != rejected.rend() && positions.size() < *limit; ++it) {
      if (it->received_at < before) positions.push_back(it->position);
    }
    return 0;
  });
  JsonWriter json;
  json.BeginObject().Key("rejected").BeginArray();
  for (uint64_t position : positions) {
    auto record = worker.engine().ReadRecord(position);
    if (!record.ok()) return ReplyJsonError(req, 500, "internal", "log: " + record.status().message());
    const auto& rejected = std::get<RejectedInput>(*record);
    json.BeginObject().Key("received_at").Int(rejected.received_at).Key("source").String(rejected.source);
    json.Key("reason").String(rejected.reason).Key("raw").String(rejected.raw);
    json.Key("key_name");
    if (rejected.key_name.empty()) {
      json.Null();
    } else {
      json.String(rejected.key_name);
    }
    json.EndObject();
  }
  json.EndArray().EndObject();
  ReplyJson(req, 200, json.str());
}

namespace {

// ---- schemas ----

using TypeStatsMap = std::map<std::string, TypeStats>;

void WriteTypeEntry(const Views& views, const TypeStatsMap& type_stats, const std::string& type,
                    JsonWriter* json) {
  json->BeginObject().Key("type").String(type);
  auto stats = type_stats.find(type);
  const bool seen = stats != type_stats.end();
  json->Key("events").Uint(seen ? stats->second.events : 0);
  json->Key("first_seen");
  seen ? json->Int(stats->second.first_seen) : json->Null();
  json->Key("last_seen");
  seen ? json->Int(stats->second.last_seen) : json->Null();
  json->Key("schema");
  auto schema = views.global().schemas().find(type);
  if (schema == views.global().schemas().end()) {
    json->Null();
  } else {
    json->Raw(SchemaToJson(schema->second.schema));
  }
  json->EndObject();
}

}  // namespace

void HandleSchemaList(Worker& worker, h2o_req_t* req, const RouteArgs&) {
  auto params = QueryParams::Parse(QueryOf(req), {});
  if (!params.ok()) return ReplyBadRequest(req, params.status());
  std::string body = worker.engine().Read([&](const Views& views) {
    const TypeStatsMap type_stats = views.TypeStatsByName();
    // Every type with events or a schema, by name.
    std::set<std::string> names;
    for (const auto& [name, stats] : type_stats) names.insert(name);
    for (const auto& [name, schema] : views.global().schemas()) names.insert(name);
    JsonWriter json;
    json.BeginObject().Key("types").BeginArray();
    for (const std::string& name : names) WriteTypeEntry(views, type_stats, name, &json);
    json.EndArray().EndObject();
    return json.Take();
  });
  ReplyJson(req, 200, body);
}

void HandleGetSchema(Worker& worker, h2o_req_t* req, const RouteArgs& args) {
  const std::string& type = args.params[0];
  if (Status status = CheckEventType(type); !status.ok()) return ReplyBadRequest(req, status);
  std::string body = worker.engine().Read([&](const Views& views) {
    const TypeStatsMap type_stats = views.TypeStatsByName();
    if (type_stats.count(type) == 0 && views.global().schemas().count(type) == 0) return std::string();
    JsonWriter json;
    WriteTypeEntry(views, type_stats, type, &json);
    return json.Take();
  });
  if (body.empty()) return ReplyNotFound(req, "type: '" + type + "' has no schema and no events");
  ReplyJson(req, 200, body);
}

void HandlePutSchema(Worker& worker, h2o_req_t* req, const RouteArgs& args) {
  const std::string& type = args.params[0];
  if (Status status = CheckEventType(type); !status.ok()) return ReplyBadRequest(req, status);
  auto schema = ParseSchema(BodyOf(req));
  if (!schema.ok()) return ReplyBadRequest(req, schema.status());
  const std::string canonical = SchemaToJson(*schema);
  worker.batch().Add(SchemaChange{WallClockMillis(), type, canonical});
  JsonWriter json;
  json.BeginObject().Key("type").String(type).Key("schema").Raw(canonical).EndObject();
  worker.ReplyAfterCommit(req, 200, json.Take());
}

void HandleDeleteSchema(Worker& worker, h2o_req_t* req, const RouteArgs& args) {
  const std::string& type = args.params[0];
  if (Status status = CheckEventType(type); !status.ok()) return ReplyBadRequest(req, status);
  const bool exists =
      worker.engine().ReadGlobal([&](const GlobalViews& global) { return global.schemas().count(type) > 0; });
  if (!exists) return ReplyNotFound(req, "type: '" + type + "' has no schema");
  worker.batch().Add(SchemaChange{WallClockMillis(), type, ""});
  JsonWriter json;
  json.BeginObject().Key("type").String(type).Key("deleted").Bool(true).EndObject();
  worker.ReplyAfterCommit(req, 200, json.Take());
}

void HandleDigest(Worker& worker, h2o_req_t* req, const RouteArgs&) {
  Engine::DigestAt digest = worker.engine().Digest();
  char hex[17];
  std::snprintf(hex, sizeof(hex), "%016" PRIx64, digest.digest);
  JsonWriter json;
  json.BeginObject().Key("lsn").Uint(digest.lsn).Key("digest").String(hex);
  // Cluster mode: the stream sequence these views cover (the same digest on every node at the same one).
  if (const uint64_t sequence = worker.engine().stream_sequence(); sequence > 0)
    json.Key("stream_sequence").Uint(sequence);
  json.EndObject();
  ReplyJson(req, 200, json.str());
}

}  // namespace tally

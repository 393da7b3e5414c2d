// The native API's reads and schema changes: each handler parses its request, asks src/query, and writes
// the answer (API.md in docs/ is the contract).
#include <chrono>
#include <cinttypes>
#include <cstdio>

#include "common/clock.h"
#include "common/json_writer.h"
#include "http/worker.h"
#include "ingest/json_events.h"
#include "ingest/query_string.h"
#include "ingest/schema.h"
#include "query/event_json.h"
#include "query/event_lookup.h"
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

void ReplyInternal(h2o_req_t* req, const Status& status) {
  ReplyJsonError(req, 500, "internal", status.message());
}

Result<size_t> ParseLimit(const QueryParams& params, int64_t default_limit) {
  const std::string* limit = params.Get("limit");
  if (limit == nullptr) return static_cast<size_t>(default_limit);
  auto value = ParseBoundedInteger("limit", *limit, 1, kMaxLimit);
  if (!value.ok()) return value.status();
  return static_cast<size_t>(*value);
}

// `before` (a time), if given.
Result<Millis> ParseBefore(const QueryParams& params, Millis if_absent) {
  const std::string* text = params.Get("before");
  if (text == nullptr) return if_absent;
  return ParseTimeParam("before", *text, kMaxTimestampMillis + 1);
}

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

void WriteTypeEntry(const TypeEntry& entry, JsonWriter* json) {
  json->BeginObject().Key("type").String(entry.type).Key("events").Uint(entry.events);
  json->Key("first_seen");
  entry.first_seen ? json->Int(*entry.first_seen) : json->Null();
  json->Key("last_seen");
  entry.last_seen ? json->Int(*entry.last_seen) : json->Null();
  json->Key("schema");
  entry.schema_json ? json->Raw(*entry.schema_json) : json->Null();
  json->EndObject();
}

}  // namespace

void HandleGetEvent(Worker& worker, h2o_req_t* req, const RouteArgs& args) {
  const std::string& event_id = args.params[0];
  auto versions = EventVersions(worker.engine(), event_id);
  if (!versions.ok()) return ReplyInternal(req, versions.status());
  if (versions->empty()) return ReplyNotFound(req, "event_id: no event with id '" + event_id + "'");
  JsonWriter json;
  JsonWriter current;
  json.BeginObject().Key("event_id").String(event_id).Key("versions").BeginArray();
  for (const EventVersion& version : *versions) {
    BeginEventJson(version.event, &json);
    json.Key("status").String(RowStateName(version.state)).EndObject();
    if (version.state == RowState::kCurrent) {
      BeginEventJson(version.event, &current);
      current.EndObject();
    }
  }
  json.EndArray().Key("current").Raw(current.str()).EndObject();
  ReplyJson(req, 200, json.str());
}

void HandleUserEvents(Worker& worker, h2o_req_t* req, const RouteArgs& args) {
  auto params = QueryParams::Parse(QueryOf(req), {"limit", "before", "type"});
  if (!params.ok()) return ReplyBadRequest(req, params.status());
  TimelineRequest request;
  request.user_id = args.params[0];
  auto limit = ParseLimit(*params, 50);
  if (!limit.ok()) return ReplyBadRequest(req, limit.status());
  request.limit = *limit;
  auto before = ParseBefore(*params, kMaxTimestampMillis + 1);
  if (!before.ok()) return ReplyBadRequest(req, before.status());
  request.before = *before;
  if (const std::string* type = params->Get("type")) {
    if (Status status = CheckEventType(*type); !status.ok()) return ReplyBadRequest(req, status);
    request.type = *type;
  }
  auto page = UserTimeline(worker.engine(), request);
  if (!page.ok()) return ReplyInternal(req, page.status());
  JsonWriter json;
  json.BeginObject().Key("user_id").String(request.user_id).Key("events").BeginArray();
  for (const Event& event : page->events) {
    BeginEventJson(event, &json);
    json.EndObject();
  }
  json.EndArray().Key("next_before");
  page->next_before ? json.Int(*page->next_before) : json.Null();
  json.EndObject();
  ReplyJson(req, 200, json.str());
}

void HandleStats(Worker& worker, h2o_req_t* req, const RouteArgs& args) {
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
  // By product or store an hour answers from its sealed index: right after a start, the question waits
  // for the files rather than scan the rows (a month's top products over 100 M events took 10 s so, with
  // every shard's lock held, against 0.25 s once the files are in).
  if ((request.filter.product_id || request.filter.store_id) &&
      worker.ParkUntilSealedHourFiles(req, HandleStats, args)) {
    return;
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

void HandleTop(Worker& worker, h2o_req_t* req, const RouteArgs& args) {
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
  if (worker.ParkUntilSealedHourFiles(req, HandleTop, args)) return;  // as HandleStats by product
  // The engine's locks (ingest waits on them) are held only to take what the list needs and to name it.
  auto top = ComputeTopBetweenReads(
      [&](const std::function<void(const Views&)>& step) {
        worker.engine().Read([&](const Views& views) { step(views); });
      },
      request, worker.day_counts());
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

void HandleRejected(Worker& worker, h2o_req_t* req, const RouteArgs&) {
  auto params = QueryParams::Parse(QueryOf(req), {"limit", "before"});
  if (!params.ok()) return ReplyBadRequest(req, params.status());
  auto limit = ParseLimit(*params, 50);
  if (!limit.ok()) return ReplyBadRequest(req, limit.status());
  auto before = ParseBefore(*params, INT64_MAX);
  if (!before.ok()) return ReplyBadRequest(req, before.status());
  auto inputs = RecentRejected(worker.engine(), *limit, *before);
  if (!inputs.ok()) return ReplyInternal(req, inputs.status());
  JsonWriter json;
  json.BeginObject().Key("rejected").BeginArray();
  for (const RejectedInput& rejected : *inputs) {
    json.BeginObject().Key("received_at").Int(rejected.received_at).Key("source").String(rejected.source);
    json.Key("reason").String(rejected.reason).Key("raw").String(rejected.raw);
    json.Key("key_name");
    rejected.key_name.empty() ? json.Null() : json.String(rejected.key_name);
    json.EndObject();
  }
  json.EndArray().EndObject();
  ReplyJson(req, 200, json.str());
}

void HandleSchemaList(Worker& worker, h2o_req_t* req, const RouteArgs&) {
  auto params = QueryParams::Parse(QueryOf(req), {});
  if (!params.ok()) return ReplyBadRequest(req, params.status());
  JsonWriter json;
  json.BeginObject().Key("types").BeginArray();
  for (const TypeEntry& entry : TypeEntries(worker.engine())) WriteTypeEntry(entry, &json);
  json.EndArray().EndObject();
  ReplyJson(req, 200, json.str());
}

void HandleGetSchema(Worker& worker, h2o_req_t* req, const RouteArgs& args) {
  const std::string& type = args.params[0];
  if (Status status = CheckEventType(type); !status.ok()) return ReplyBadRequest(req, status);
  const auto entry = TypeEntryOf(worker.engine(), type);
  if (!entry) return ReplyNotFound(req, "type: '" + type + "' has no schema and no events");
  JsonWriter json;
  WriteTypeEntry(*entry, &json);
  ReplyJson(req, 200, json.str());
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

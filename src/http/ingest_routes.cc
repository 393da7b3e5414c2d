// The routes that take events in: the native POST /v1/events, Segment's HTTP Tracking API and PostHog's
// capture API. Each parses its body its own way (src/ingest); from there every event goes the same way:
// schemas, retention, an id if it has none, the batch, and one summary once the batch is in the log.
#include <algorithm>
#include <array>
#include <cinttypes>
#include <cstdio>

#include "common/clock.h"
#include "common/json_writer.h"
#include "http/request_head.h"
#include "http/worker.h"
#include "ingest/gzip.h"
#include "ingest/query_string.h"
#include "ingest/schema.h"

namespace tally {
namespace {

// Written to `text` (36 characters and a NUL), which the returned view is of.
std::string_view NewUuidV7(Millis now, std::mt19937_64& random, std::array<char, 37>* text) {
  const uint64_t high = (static_cast<uint64_t>(now) << 16) | 0x7000 | (random() & 0x0FFF);
  const uint64_t low = (random() & 0x3FFFFFFFFFFFFFFFull) | 0x8000000000000000ull;
  std::snprintf(text->data(), text->size(),
                "%08" PRIx64 "-%04" PRIx64 "-%04" PRIx64 "-%04" PRIx64 "-%012" PRIx64, high >> 32,
                (high >> 16) & 0xFFFF, high & 0xFFFF, low >> 48, low & uint64_t{0xFFFFFFFFFFFF});
  return {text->data(), 36};
}

// A body that could not be read as its API's events: kept with the reason, answered 400 (413 when it
// held more events than allowed). Every event sent counts against the client's rate, these too.
void RefuseBody(Worker& worker, h2o_req_t* req, const Status& status, std::string_view source, Millis now) {
  if (!worker.AdmitEvents(req, 1)) return;
  worker.AddRejected(RejectedInput{now, std::string(source), status.message(), std::string(BodyOf(req)), ""});
  if (status.code() == Status::Code::kTooLarge) {
    ReplyJsonError(req, 413, "too_large", status.message());
  } else {
    ReplyJsonError(req, 400, "invalid_argument", status.message());
  }
}

// The events of one request, however they came: each checked against its type's schema and the retention
// window, given an id if it has none, and added to the batch; the request is answered with the summary
// once the batch is in the log.
void IngestEvents(Worker& worker, h2o_req_t* req, ParsedBody& events, std::string_view source, Millis now,
                  Worker::LeadingField leading = {}) {
  if (!worker.AdmitEvents(req, events.size())) return;
  // Schemas are checked against the catalog as it is now; the decision is then in the log for good.
  worker.engine().ReadGlobal([&](const GlobalViews& global) {
    if (global.schemas().empty()) return 0;
    for (EventInput& input : events) {
      if (!input.status.ok()) continue;
      auto schema = global.schemas().find(std::string(input.event.type));
      if (schema != global.schemas().end())
        input.status = CheckAgainstSchema(input.event, schema->second.schema);
    }
    return 0;
  });
  const size_t first_slot = worker.batch().size();
  JsonWriter rejected;
  rejected.BeginArray();
  for (size_t index = 0; index < events.size(); ++index) {
    EventInput& input = events[index];
    if (input.status.ok()) input.status = worker.CheckRetained(input.event.timestamp, now);
    if (!input.status.ok()) {
      rejected.BeginObject().Key("index").Uint(index).Key("error").String(input.status.message()).EndObject();
      worker.AddRejected(
          RejectedInput{now, std::string(source), input.status.message(), std::string(input.raw), ""});
      continue;
    }
    input.event.received_at = now;
    std::array<char, 37> made_id;
    if (input.event.event_id.empty()) input.event.event_id = NewUuidV7(now, worker.random(), &made_id);
    worker.batch().Add(input.event);
  }
  rejected.EndArray();
  worker.ReplyWithEventSummary(req, first_slot, rejected.Take(), leading);
}

// An SDK's body, parsed: its key checked first (nothing is written for a client without one), then its
// events taken in.
void IngestSdkBody(Worker& worker, h2o_req_t* req, Result<SdkBody>& parsed, std::string_view key_field,
                   std::string_view source, Millis now, Worker::LeadingField leading) {
  if (!worker.AuthorizeBodyKey(req, parsed.ok() ? parsed->key : std::string_view(), key_field,
                               parsed.ok() ? Status::Ok() : parsed.status())) {
    return;
  }
  if (!parsed.ok()) return RefuseBody(worker, req, parsed.status(), source, now);
  IngestEvents(worker, req, parsed->events, source, now, leading);
}

}  // namespace

void HandlePostEvents(Worker& worker, h2o_req_t* req, const RouteArgs& args) {
  const Millis now = WallClockMillis();
  const BodyFormat format = IsMediaType(HeaderOf(req, H2O_TOKEN_CONTENT_TYPE), "application/x-ndjson")
                                ? BodyFormat::kNdjson
                                : BodyFormat::kJson;
  auto events = worker.events_parser().Parse(BodyOf(req), format);
  if (!events.ok()) return RefuseBody(worker, req, events.status(), args.route, now);
  IngestEvents(worker, req, *events, args.route, now);
}

template <SegmentCall call>
void HandleSegmentCall(Worker& worker, h2o_req_t* req, const RouteArgs& args) {
  const Millis now = WallClockMillis();
  auto parsed = worker.sdk_parser().ParseSegment(BodyOf(req), call, now);
  IngestSdkBody(worker, req, parsed, "writeKey", args.route, now, {"success", "true"});
}
template void HandleSegmentCall<SegmentCall::kBatch>(Worker&, h2o_req_t*, const RouteArgs&);
template void HandleSegmentCall<SegmentCall::kTrack>(Worker&, h2o_req_t*, const RouteArgs&);
template void HandleSegmentCall<SegmentCall::kPage>(Worker&, h2o_req_t*, const RouteArgs&);
template void HandleSegmentCall<SegmentCall::kScreen>(Worker&, h2o_req_t*, const RouteArgs&);
template void HandleSegmentCall<SegmentCall::kIdentify>(Worker&, h2o_req_t*, const RouteArgs&);
template void HandleSegmentCall<SegmentCall::kGroup>(Worker&, h2o_req_t*, const RouteArgs&);
template void HandleSegmentCall<SegmentCall::kAlias>(Worker&, h2o_req_t*, const RouteArgs&);

void HandlePostHogCapture(Worker& worker, h2o_req_t* req, const RouteArgs& args) {
  const Millis now = WallClockMillis();
  // posthog-js says how its body is compressed in the query (with ip=, _= and ver=, which tally has no
  // use for); posthog-node sends Content-Encoding, which the edge has already undone.
  std::string_view compression;
  Status query = ForEachQueryParam(QueryOf(req), [&](std::string_view name, std::string_view value, bool) {
    if (name == "compression") compression = value;
    return Status::Ok();
  });
  if (!query.ok()) return ReplyJsonError(req, 400, "invalid_argument", query.message());
  if (!compression.empty() && compression != "gzip" && compression != "gzip-js") {
    return ReplyJsonError(req, 400, "invalid_argument",
                          "compression: '" + std::string(compression) + "' is not supported (gzip, gzip-js)");
  }
  if (!compression.empty() && HeaderOf(req, H2O_TOKEN_CONTENT_ENCODING).empty() && !worker.InflateBody(req)) {
    return;
  }
  auto parsed = worker.sdk_parser().ParsePostHog(BodyOf(req), now);
  IngestSdkBody(worker, req, parsed, "api_key", args.route, now, {"status", "1"});
}

}  // namespace tally

// Every route tallyd serves, as OpenAPI writes them, and all the edge knows of each: its handler, who may
// call it, where its key may come from, whether a strong read waits for the stream first, its metric label
// and how its errors are written. Dispatch, 404 and 405 (with Allow), keys, strong reads, metric labels
// and the OpenAPI test all read this table and nothing else; the OpenAPI test holds it to
// api/openapi.json.
#pragma once

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "http/handlers.h"
#include "http/request_head.h"

namespace tally {

// The `route` label of the HTTP metrics.
enum class RouteLabel : uint8_t {
  kAnalytics,
  kEvents,      // POST /v1/events
  kEvent,       // GET /v1/events/{id}
  kUserEvents,  // GET /v1/users/{id}/events
  kStats,
  kTop,
  kRejected,
  kSchemas,
  kAdmin,
  kHealth,
  kMetrics,
  kSegment,  // Segment's HTTP Tracking API
  kPostHog,  // PostHog's capture API
  kOther,
};
inline constexpr size_t kRouteLabels = static_cast<size_t>(RouteLabel::kOther) + 1;

enum class ErrorStyle : uint8_t {
  kText,  // one line of text (the take-home protocol, health checks, static pages)
  kJson,  // {"error":"<code>","message":"..."}
};

// With keys, where a route's key may come from besides `Authorization: Bearer <secret>`.
enum class KeyFrom : uint8_t {
  kHeader,
  // `?key=`, an ingest key only: browsers' beacons cannot send headers (a secret in a URL ends up in page
  // sources and access logs, so no other role is taken that way).
  kHeaderOrQuery,
  // An SDK's body (Segment's writeKey, PostHog's api_key), or Basic auth: the handler checks the body's
  // key before it writes anything.
  kHeaderOrBody,
};

// Cluster mode, consistency=strong: the request first waits (without holding its event loop) until this
// node has applied the stream's last message. Only reads of the views: never the health checks, metrics
// or static files, which must answer while a node lags.
inline constexpr bool kStrongRead = true;
inline constexpr bool kLocalRead = false;

struct RouteSpec {
  std::string_view method;  // HEAD is served wherever GET is
  std::string_view path;    // {name} marks a path parameter (one whole segment)
  RouteHandler handler;
  Access access;
  KeyFrom key_from;
  bool strong_read;
  RouteLabel label;
  ErrorStyle errors;
};

inline constexpr RouteSpec kRoutes[] = {
    // The take-home protocol.
    {"GET", "/analytics", HandleTakeHomeGet, Access::kRead, KeyFrom::kHeader, kStrongRead,
     RouteLabel::kAnalytics, ErrorStyle::kText},
    {"POST", "/analytics", HandleTakeHomePost, Access::kIngest, KeyFrom::kHeader, kLocalRead,
     RouteLabel::kAnalytics, ErrorStyle::kText},
    // The native API.
    {"POST", "/v1/events", HandlePostEvents, Access::kIngest, KeyFrom::kHeaderOrQuery, kLocalRead,
     RouteLabel::kEvents, ErrorStyle::kJson},
    {"GET", "/v1/events/{event_id}", HandleGetEvent, Access::kRead, KeyFrom::kHeader, kStrongRead,
     RouteLabel::kEvent, ErrorStyle::kJson},
    {"GET", "/v1/users/{user_id}/events", HandleUserEvents, Access::kRead, KeyFrom::kHeader, kStrongRead,
     RouteLabel::kUserEvents, ErrorStyle::kJson},
    {"GET", "/v1/stats", HandleStats, Access::kRead, KeyFrom::kHeader, kStrongRead, RouteLabel::kStats,
     ErrorStyle::kJson},
    {"GET", "/v1/top", HandleTop, Access::kRead, KeyFrom::kHeader, kStrongRead, RouteLabel::kTop,
     ErrorStyle::kJson},
    {"GET", "/v1/rejected", HandleRejected, Access::kRead, KeyFrom::kHeader, kStrongRead,
     RouteLabel::kRejected, ErrorStyle::kJson},
    {"GET", "/v1/schemas", HandleSchemaList, Access::kRead, KeyFrom::kHeader, kStrongRead,
     RouteLabel::kSchemas, ErrorStyle::kJson},
    {"GET", "/v1/schemas/{type}", HandleGetSchema, Access::kRead, KeyFrom::kHeader, kStrongRead,
     RouteLabel::kSchemas, ErrorStyle::kJson},
    {"PUT", "/v1/schemas/{type}", HandlePutSchema, Access::kAdmin, KeyFrom::kHeader, kLocalRead,
     RouteLabel::kSchemas, ErrorStyle::kJson},
    {"DELETE", "/v1/schemas/{type}", HandleDeleteSchema, Access::kAdmin, KeyFrom::kHeader, kLocalRead,
     RouteLabel::kSchemas, ErrorStyle::kJson},
    {"GET", "/v1/admin/digest", HandleDigest, Access::kAdmin, KeyFrom::kHeader, kStrongRead,
     RouteLabel::kAdmin, ErrorStyle::kJson},
    // Loaded by websites (the tracker) and by anyone (the API's description).
    {"GET", "/v1/openapi.json", HandleOpenApiJson, Access::kPublic, KeyFrom::kHeader, kLocalRead,
     RouteLabel::kOther, ErrorStyle::kJson},
    {"GET", "/v1/tracker.js", HandleTrackerJs, Access::kPublic, KeyFrom::kHeader, kLocalRead,
     RouteLabel::kOther, ErrorStyle::kJson},
    // Segment's HTTP Tracking API.
    {"POST", "/v1/batch", HandleSegmentCall<SegmentCall::kBatch>, Access::kIngest, KeyFrom::kHeaderOrBody,
     kLocalRead, RouteLabel::kSegment, ErrorStyle::kJson},
    {"POST", "/v1/track", HandleSegmentCall<SegmentCall::kTrack>, Access::kIngest, KeyFrom::kHeaderOrBody,
     kLocalRead, RouteLabel::kSegment, ErrorStyle::kJson},
    {"POST", "/v1/page", HandleSegmentCall<SegmentCall::kPage>, Access::kIngest, KeyFrom::kHeaderOrBody,
     kLocalRead, RouteLabel::kSegment, ErrorStyle::kJson},
    {"POST", "/v1/screen", HandleSegmentCall<SegmentCall::kScreen>, Access::kIngest, KeyFrom::kHeaderOrBody,
     kLocalRead, RouteLabel::kSegment, ErrorStyle::kJson},
    {"POST", "/v1/identify", HandleSegmentCall<SegmentCall::kIdentify>, Access::kIngest,
     KeyFrom::kHeaderOrBody, kLocalRead, RouteLabel::kSegment, ErrorStyle::kJson},
    {"POST", "/v1/group", HandleSegmentCall<SegmentCall::kGroup>, Access::kIngest, KeyFrom::kHeaderOrBody,
     kLocalRead, RouteLabel::kSegment, ErrorStyle::kJson},
    {"POST", "/v1/alias", HandleSegmentCall<SegmentCall::kAlias>, Access::kIngest, KeyFrom::kHeaderOrBody,
     kLocalRead, RouteLabel::kSegment, ErrorStyle::kJson},
    // PostHog's capture API.
    {"POST", "/batch/", HandlePostHogCapture, Access::kIngest, KeyFrom::kHeaderOrBody, kLocalRead,
     RouteLabel::kPostHog, ErrorStyle::kJson},
    {"POST", "/capture/", HandlePostHogCapture, Access::kIngest, KeyFrom::kHeaderOrBody, kLocalRead,
     RouteLabel::kPostHog, ErrorStyle::kJson},
    {"POST", "/e/", HandlePostHogCapture, Access::kIngest, KeyFrom::kHeaderOrBody, kLocalRead,
     RouteLabel::kPostHog, ErrorStyle::kJson},
    {"POST", "/i/v0/e/", HandlePostHogCapture, Access::kIngest, KeyFrom::kHeaderOrBody, kLocalRead,
     RouteLabel::kPostHog, ErrorStyle::kJson},
    // The dashboard (it asks for a key itself), health checks and metrics.
    {"GET", "/", HandleDashboard, Access::kPublic, KeyFrom::kHeader, kLocalRead, RouteLabel::kOther,
     ErrorStyle::kText},
    {"GET", "/healthz", HandleHealthz, Access::kPublic, KeyFrom::kHeader, kLocalRead, RouteLabel::kHealth,
     ErrorStyle::kText},
    {"GET", "/readyz", HandleReadyz, Access::kPublic, KeyFrom::kHeader, kLocalRead, RouteLabel::kHealth,
     ErrorStyle::kText},
    {"GET", "/metrics", HandleMetrics, Access::kRead, KeyFrom::kHeader, kLocalRead, RouteLabel::kMetrics,
     ErrorStyle::kText},
};
inline constexpr size_t kRouteCount = std::size(kRoutes);

// Whether a path split into segments (RouteSegments) fits the pattern: the same segments, a {name}
// standing for any one non-empty segment.
template <typename Segments>
constexpr bool PatternFits(std::string_view pattern, const Segments& segments) {
  pattern.remove_prefix(1);  // every pattern starts with '/'
  bool pattern_left = true;
  size_t count = 0;
  for (const auto& segment : segments) {
    if (!pattern_left) return false;  // more segments than the pattern has
    const size_t end = pattern.find('/');
    const std::string_view part = pattern.substr(0, end);
    const bool parameter = part.starts_with('{') && part.ends_with('}');
    if (parameter ? std::string_view(segment).empty() : part != std::string_view(segment)) return false;
    if (end == std::string_view::npos) {
      pattern_left = false;
    } else {
      pattern.remove_prefix(end + 1);
    }
    ++count;
  }
  return count > 0 && !pattern_left;
}

// The index in kRoutes of the route serving `method` (HEAD as GET) on these segments, or -1.
template <typename Segments>
constexpr int RouteIndex(std::string_view method, const Segments& segments) {
  if (method == "HEAD") method = "GET";
  for (size_t i = 0; i < kRouteCount; ++i) {
    if (kRoutes[i].method == method && PatternFits(kRoutes[i].path, segments)) return static_cast<int>(i);
  }
  return -1;
}

// What the router makes of a request: the route, or why there is none.
struct RouteMatch {
  int index = -1;  // in kRoutes; -1: none
  RouteArgs args;
  std::string allow;  // index < 0: the methods the path has ("GET, HEAD, POST"); empty: a 404
};
// A bad %-escape in a native API path is an error naming "path".
Result<RouteMatch> MatchRoute(std::string_view method, std::string_view route_path);

// The route of a request's path whatever its method (its label and error style hold for every method),
// or null: for what is answered before or beside routing (limits, CORS, metrics). The path is taken as
// sent, so a native API path written with %-escapes where none are needed finds no route here.
const RouteSpec* RouteOfPath(std::string_view route_path);

namespace route_table_checks {
constexpr std::string_view kEvent[] = {"v1", "events", "e1"};
constexpr std::string_view kUserEvents[] = {"v1", "users", "u", "events"};
constexpr std::string_view kNoUser[] = {"v1", "users", "", "events"};
constexpr std::string_view kRoot[] = {""};
constexpr std::string_view kPostHog[] = {"i", "v0", "e", ""};
constexpr std::string_view kMetrics[] = {"metrics"};
constexpr std::string_view kReadyz[] = {"readyz"};
constexpr std::string_view kTracker[] = {"v1", "tracker.js"};
constexpr std::string_view kOpenApi[] = {"v1", "openapi.json"};
static_assert(kRoutes[RouteIndex("GET", kEvent)].label == RouteLabel::kEvent);
static_assert(kRoutes[RouteIndex("HEAD", kUserEvents)].strong_read);
static_assert(RouteIndex("GET", kNoUser) < 0);
static_assert(RouteIndex("POST", kEvent) < 0);
static_assert(kRoutes[RouteIndex("POST", kPostHog)].label == RouteLabel::kPostHog);
static_assert(RouteIndex("GET", kRoot) >= 0);
// What must answer while a node lags: the health checks, metrics, the dashboard and static files.
static_assert(!kRoutes[RouteIndex("GET", kMetrics)].strong_read &&
              !kRoutes[RouteIndex("GET", kReadyz)].strong_read &&
              !kRoutes[RouteIndex("GET", kRoot)].strong_read &&
              !kRoutes[RouteIndex("GET", kTracker)].strong_read &&
              !kRoutes[RouteIndex("GET", kOpenApi)].strong_read);
// Only reads wait for the stream.
constexpr bool OnlyReadsAreStrong() {
  for (const RouteSpec& route : kRoutes) {
    if (route.strong_read && route.method != "GET") return false;
  }
  return true;
}
static_assert(OnlyReadsAreStrong());
}  // namespace route_table_checks

}  // namespace tally

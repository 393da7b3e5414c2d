// Every route tallyd serves, as OpenAPI writes them, with what the edge needs to know of each: its metric
// label, whether a strong read waits for the stream first, and how its errors are written. The routers
// (take_home_routes.cc, v1_routes.cc, ingest_routes.cc) and this list change together: the OpenAPI test
// checks that api/openapi.json documents exactly these, that each answers on the real server, and that
// every other method on these paths is a 405.
#pragma once

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <string_view>

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

struct RouteSpec {
  std::string_view method;  // HEAD is served wherever GET is
  std::string_view path;    // {name} marks a path parameter
  RouteLabel label;
  // Cluster mode: with consistency=strong, the request first waits until this node has applied the
  // stream's last message. Only reads of the views: never the health checks, metrics or static files, which
  // must answer while a node lags.
  bool strong_read;
  ErrorStyle errors;
};

inline constexpr RouteSpec kRoutes[] = {
    {"GET", "/analytics", RouteLabel::kAnalytics, true, ErrorStyle::kText},
    {"POST", "/analytics", RouteLabel::kAnalytics, false, ErrorStyle::kText},
    {"POST", "/v1/events", RouteLabel::kEvents, false, ErrorStyle::kJson},
    // Segment's HTTP Tracking API
    {"POST", "/v1/batch", RouteLabel::kSegment, false, ErrorStyle::kJson},
    {"POST", "/v1/track", RouteLabel::kSegment, false, ErrorStyle::kJson},
    {"POST", "/v1/page", RouteLabel::kSegment, false, ErrorStyle::kJson},
    {"POST", "/v1/screen", RouteLabel::kSegment, false, ErrorStyle::kJson},
    {"POST", "/v1/identify", RouteLabel::kSegment, false, ErrorStyle::kJson},
    {"POST", "/v1/group", RouteLabel::kSegment, false, ErrorStyle::kJson},
    {"POST", "/v1/alias", RouteLabel::kSegment, false, ErrorStyle::kJson},
    // PostHog's capture API
    {"POST", "/batch/", RouteLabel::kPostHog, false, ErrorStyle::kJson},
    {"POST", "/capture/", RouteLabel::kPostHog, false, ErrorStyle::kJson},
    {"POST", "/e/", RouteLabel::kPostHog, false, ErrorStyle::kJson},
    {"POST", "/i/v0/e/", RouteLabel::kPostHog, false, ErrorStyle::kJson},
    {"GET", "/v1/events/{event_id}", RouteLabel::kEvent, true, ErrorStyle::kJson},
    {"GET", "/v1/users/{user_id}/events", RouteLabel::kUserEvents, true, ErrorStyle::kJson},
    {"GET", "/v1/stats", RouteLabel::kStats, true, ErrorStyle::kJson},
    {"GET", "/v1/top", RouteLabel::kTop, true, ErrorStyle::kJson},
    {"GET", "/v1/rejected", RouteLabel::kRejected, true, ErrorStyle::kJson},
    {"GET", "/v1/schemas", RouteLabel::kSchemas, true, ErrorStyle::kJson},
    {"GET", "/v1/schemas/{type}", RouteLabel::kSchemas, true, ErrorStyle::kJson},
    {"PUT", "/v1/schemas/{type}", RouteLabel::kSchemas, false, ErrorStyle::kJson},
    {"DELETE", "/v1/schemas/{type}", RouteLabel::kSchemas, false, ErrorStyle::kJson},
    {"GET", "/v1/admin/digest", RouteLabel::kAdmin, true, ErrorStyle::kJson},
    {"GET", "/v1/openapi.json", RouteLabel::kOther, false, ErrorStyle::kJson},
    {"GET", "/v1/tracker.js", RouteLabel::kOther, false, ErrorStyle::kJson},
    {"GET", "/", RouteLabel::kOther, false, ErrorStyle::kText},
    {"GET", "/healthz", RouteLabel::kHealth, false, ErrorStyle::kText},
    {"GET", "/readyz", RouteLabel::kHealth, false, ErrorStyle::kText},
    {"GET", "/metrics", RouteLabel::kMetrics, false, ErrorStyle::kText},
};

// Whether `path` (a request's, normalized) fits the pattern: the same segments, a {name} standing for any
// one non-empty segment.
constexpr bool PathFits(std::string_view pattern, std::string_view path) {
  while (true) {
    const size_t pattern_end = pattern.find('/');
    const size_t path_end = path.find('/');
    const std::string_view pattern_segment = pattern.substr(0, pattern_end);
    const std::string_view path_segment = path.substr(0, path_end);
    const bool parameter = pattern_segment.starts_with('{') && pattern_segment.ends_with('}');
    if (parameter ? path_segment.empty() : pattern_segment != path_segment) return false;
    if (pattern_end == std::string_view::npos || path_end == std::string_view::npos)
      return pattern_end == path_end;
    pattern.remove_prefix(pattern_end + 1);
    path.remove_prefix(path_end + 1);
  }
}

// The index in kRoutes of the route serving `method` (HEAD as GET) on `path`, or -1.
constexpr int RouteIndex(std::string_view method, std::string_view path) {
  if (method == "HEAD") method = "GET";
  for (size_t i = 0; i < std::size(kRoutes); ++i) {
    if (kRoutes[i].method == method && PathFits(kRoutes[i].path, path)) return static_cast<int>(i);
  }
  return -1;
}

// The index of a route on `path` whatever the method (its label and error style hold for every method), or
// -1.
constexpr int RouteIndexOfPath(std::string_view path) {
  for (size_t i = 0; i < std::size(kRoutes); ++i) {
    if (PathFits(kRoutes[i].path, path)) return static_cast<int>(i);
  }
  return -1;
}

inline const RouteSpec* FindRoute(std::string_view method, std::string_view path) {
  const int index = RouteIndex(method, path);
  return index < 0 ? nullptr : &kRoutes[index];
}

inline const RouteSpec* FindRouteOfPath(std::string_view path) {
  const int index = RouteIndexOfPath(path);
  return index < 0 ? nullptr : &kRoutes[index];
}

static_assert(kRoutes[RouteIndex("GET", "/v1/events/e1")].label == RouteLabel::kEvent);
static_assert(kRoutes[RouteIndex("HEAD", "/v1/users/u/events")].strong_read);
static_assert(RouteIndex("GET", "/v1/users//events") < 0);
static_assert(RouteIndex("POST", "/v1/events/e1") < 0);
static_assert(kRoutes[RouteIndexOfPath("/i/v0/e/")].label == RouteLabel::kPostHog);
static_assert(RouteIndexOfPath("/") >= 0 && RouteIndexOfPath("/x") < 0);
// What must answer while a node lags: the health checks, metrics, the dashboard and static files.
static_assert(!kRoutes[RouteIndex("GET", "/metrics")].strong_read &&
              !kRoutes[RouteIndex("GET", "/readyz")].strong_read &&
              !kRoutes[RouteIndex("GET", "/")].strong_read &&
              !kRoutes[RouteIndex("GET", "/v1/tracker.js")].strong_read &&
              !kRoutes[RouteIndex("GET", "/v1/openapi.json")].strong_read);

}  // namespace tally

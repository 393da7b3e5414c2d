// Every route tallyd serves, as OpenAPI writes them. The routers (take_home_routes.cc, v1_routes.cc,
// ingest_routes.cc) and
// this list change together: the OpenAPI test checks that api/openapi.json documents exactly these, that
// each answers on the real server, and that every other method on these paths is a 405.
#pragma once

#include <string_view>

namespace tally {

struct RouteSpec {
  std::string_view method;  // HEAD is served wherever GET is
  std::string_view path;    // {name} marks a path parameter
};

inline constexpr RouteSpec kRoutes[] = {
    {"GET", "/analytics"},
    {"POST", "/analytics"},
    {"POST", "/v1/events"},
    // Segment's HTTP Tracking API
    {"POST", "/v1/batch"},
    {"POST", "/v1/track"},
    {"POST", "/v1/page"},
    {"POST", "/v1/screen"},
    {"POST", "/v1/identify"},
    {"POST", "/v1/group"},
    {"POST", "/v1/alias"},
    // PostHog's capture API
    {"POST", "/batch/"},
    {"POST", "/capture/"},
    {"POST", "/e/"},
    {"POST", "/i/v0/e/"},
    {"GET", "/v1/events/{event_id}"},
    {"GET", "/v1/users/{user_id}/events"},
    {"GET", "/v1/stats"},
    {"GET", "/v1/top"},
    {"GET", "/v1/rejected"},
    {"GET", "/v1/schemas"},
    {"GET", "/v1/schemas/{type}"},
    {"PUT", "/v1/schemas/{type}"},
    {"DELETE", "/v1/schemas/{type}"},
    {"GET", "/v1/admin/digest"},
    {"GET", "/v1/openapi.json"},
    {"GET", "/v1/tracker.js"},
    {"GET", "/"},
    {"GET", "/healthz"},
    {"GET", "/readyz"},
    {"GET", "/metrics"},
};

}  // namespace tally

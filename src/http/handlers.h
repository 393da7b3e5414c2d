// The route handlers the route table (route_table.h) names. Each is parse -> query -> format: it reads
// the request, asks the engine or src/query, and writes the answer. Internal to src/http.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "ingest/sdk_events.h"

typedef struct st_h2o_req_t h2o_req_t;

namespace tally {

class Worker;

// What the dispatcher found in the path besides the route: the {name} segments, percent-decoded, in the
// pattern's order, the path as matched, and the route's pattern (the source rejected input is kept with).
struct RouteArgs {
  std::string_view path;
  std::string_view route;
  std::vector<std::string> params;
};

using RouteHandler = void (*)(Worker&, h2o_req_t*, const RouteArgs&);

// The take-home protocol, health checks, metrics and static files (take_home_routes.cc).
void HandleTakeHomeGet(Worker& worker, h2o_req_t* req, const RouteArgs& args);
void HandleTakeHomePost(Worker& worker, h2o_req_t* req, const RouteArgs& args);
void HandleHealthz(Worker& worker, h2o_req_t* req, const RouteArgs& args);
void HandleReadyz(Worker& worker, h2o_req_t* req, const RouteArgs& args);
void HandleMetrics(Worker& worker, h2o_req_t* req, const RouteArgs& args);
void HandleDashboard(Worker& worker, h2o_req_t* req, const RouteArgs& args);
void HandleTrackerJs(Worker& worker, h2o_req_t* req, const RouteArgs& args);
void HandleOpenApiJson(Worker& worker, h2o_req_t* req, const RouteArgs& args);

// Ingest (ingest_routes.cc): the native API, Segment's calls and PostHog's capture paths.
void HandlePostEvents(Worker& worker, h2o_req_t* req, const RouteArgs& args);
template <SegmentCall call>
void HandleSegmentCall(Worker& worker, h2o_req_t* req, const RouteArgs& args);
void HandlePostHogCapture(Worker& worker, h2o_req_t* req, const RouteArgs& args);

// The native API's reads and schema changes (v1_routes.cc).
void HandleGetEvent(Worker& worker, h2o_req_t* req, const RouteArgs& args);
void HandleUserEvents(Worker& worker, h2o_req_t* req, const RouteArgs& args);
void HandleStats(Worker& worker, h2o_req_t* req, const RouteArgs& args);
void HandleTop(Worker& worker, h2o_req_t* req, const RouteArgs& args);
void HandleRejected(Worker& worker, h2o_req_t* req, const RouteArgs& args);
void HandleSchemaList(Worker& worker, h2o_req_t* req, const RouteArgs& args);
void HandleGetSchema(Worker& worker, h2o_req_t* req, const RouteArgs& args);
void HandlePutSchema(Worker& worker, h2o_req_t* req, const RouteArgs& args);
void HandleDeleteSchema(Worker& worker, h2o_req_t* req, const RouteArgs& args);
void HandleDigest(Worker& worker, h2o_req_t* req, const RouteArgs& args);

}  // namespace tally

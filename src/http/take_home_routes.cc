// The take-home protocol, health checks, metrics and the static files.
#include "common/clock.h"
#include "http/assets.h"
#include "http/handlers.h"
#include "http/worker.h"
#include "ingest/take_home.h"
#include "query/take_home_answer.h"

namespace tally {
namespace {
constexpr std::string_view kTextPlain = "text/plain; charset=utf-8";
}  // namespace

void HandleTakeHomePost(Worker& worker, h2o_req_t* req, const RouteArgs& args) {
  if (!worker.AdmitEvents(req, 1)) return;
  const Millis now = WallClockMillis();
  auto event = req->entity.len > 0
                   ? Result<Event>(Status::InvalidArgument("body", "the take-home protocol takes no body"))
                   : ParseTakeHomePost(QueryOf(req));
  if (event.ok()) {
    if (Status kept = worker.CheckRetained(event->timestamp, now); !kept.ok()) event = kept;
  }
  if (!event.ok()) {
    std::string reason = event.status().message();
    RejectedInput rejected{now, std::string(args.route), reason, "POST " + std::string(RawTargetOf(req)), ""};
    worker.RejectThenReply(req, std::move(rejected), 400, std::move(reason));
    return;
  }
  event->received_at = now;
  worker.IngestThenReply(req, std::move(*event));
}

void HandleTakeHomeGet(Worker& worker, h2o_req_t* req, const RouteArgs&) {
  auto timestamp = ParseTakeHomeGet(QueryOf(req));
  if (!timestamp.ok()) return ReplyTextError(req, 400, timestamp.status().message());
  const TakeHomeCounts counts = worker.engine().TakeHomeHour(HourOf(*timestamp));
  Reply(req, 200, kTextPlain, FormatTakeHomeAnswer(counts));
}

void HandleHealthz(Worker&, h2o_req_t* req, const RouteArgs&) { Reply(req, 200, kTextPlain, "ok\n"); }

// The log is recovered and the views rebuilt before the server listens; in a cluster, the node must also
// have applied everything the stream held when its last sequence was last fetched (at most about a second
// ago: readiness probes come again).
void HandleReadyz(Worker& worker, h2o_req_t* req, const RouteArgs& args) {
  if (ReadConsistency* consistency = worker.consistency()) {
    consistency->RequestStreamTip();
    const auto tip = consistency->StreamTip(0);
    const Status caught_up = !tip
                                 ? Status::Unavailable("cluster: the stream's last sequence is not known yet")
                             : tip->ok() ? consistency->AppliedUpTo(**tip)
                                         : tip->status();
    if (!caught_up.ok()) {
      h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_RETRY_AFTER, nullptr, "1", 1);
      return ReplyTextError(req, 503,
                            "cluster: not caught up with the stream yet (" + caught_up.message() + ")");
    }
  }
  // A server that cannot write its log cannot acknowledge events: not ready until it can again.
  if (Status writable = worker.engine().log().CheckWritable(); !writable.ok()) {
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_RETRY_AFTER, nullptr, "1", 1);
    return ReplyTextError(req, 503, writable.message());
  }
  HandleHealthz(worker, req, args);
}

void HandleMetrics(Worker& worker, h2o_req_t* req, const RouteArgs&) {
  Reply(req, 200, "text/plain; version=0.0.4; charset=utf-8",
        worker.metrics()->Render(worker.engine(), worker.consistency(), worker.day_counts()));
}

void HandleDashboard(Worker&, h2o_req_t* req, const RouteArgs&) {
  Reply(req, 200, "text/html; charset=utf-8", assets::DashboardHtml());
}

void HandleTrackerJs(Worker&, h2o_req_t* req, const RouteArgs&) {
  h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL, nullptr,
                 H2O_STRLIT("public, max-age=3600"));
  Reply(req, 200, "application/javascript; charset=utf-8", assets::TrackerJs());
}

void HandleOpenApiJson(Worker&, h2o_req_t* req, const RouteArgs&) {
  ReplyJson(req, 200, assets::OpenApiJson());
}

}  // namespace tally

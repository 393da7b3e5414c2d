#include "common/clock.h"
#include "http/assets.h"
#include "http/worker.h"
#include "ingest/take_home.h"
#include "query/take_home_answer.h"

namespace tally {
namespace {

constexpr std::string_view kTextPlain = "text/plain; charset=utf-8";

bool IsGetOrHead(std::string_view method) { return method == "GET" || method == "HEAD"; }

void HandleAnalytics(Worker& worker, h2o_req_t* req) {
  const std::string_view method = MethodOf(req);
  if (method == "POST") {
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
      RejectedInput rejected{now, "/analytics", reason, "POST " + std::string(RawTargetOf(req)), ""};
      worker.RejectThenReply(req, std::move(rejected), 400, std::move(reason));
      return;
    }
    event->received_at = now;
    worker.IngestThenReply(req, std::move(*event));
    return;
  }
  if (IsGetOrHead(method)) {
    auto timestamp = ParseTakeHomeGet(QueryOf(req));
    if (!timestamp.ok()) {
      ReplyTextError(req, 400, timestamp.status().message());
      return;
    }
    TakeHomeCounts counts = worker.engine().TakeHomeHour(HourOf(*timestamp));
    Reply(req, 200, kTextPlain, FormatTakeHomeAnswer(counts));
    return;
  }
  ReplyMethodNotAllowed(req, "GET, HEAD, POST");
}

void HandleHealth(h2o_req_t* req) {
  if (!IsGetOrHead(MethodOf(req))) {
    ReplyMethodNotAllowed(req, "GET, HEAD");
    return;
  }
  Reply(req, 200, kTextPlain, "ok\n");
}

}  // namespace

bool RouteTakeHome(Worker& worker, h2o_req_t* req, std::string_view path) {
  if (path == "/analytics") {
    HandleAnalytics(worker, req);
    return true;
  }
  if (path == "/") {
    if (!IsGetOrHead(MethodOf(req))) {
      ReplyMethodNotAllowed(req, "GET, HEAD");
    } else {
      Reply(req, 200, "text/html; charset=utf-8", assets::DashboardHtml());
    }
    return true;
  }
  if (path == "/healthz") {
    HandleHealth(req);
    return true;
  }
  if (path == "/metrics") {
    if (!IsGetOrHead(MethodOf(req))) {
      ReplyMethodNotAllowed(req, "GET, HEAD");
    } else {
      Reply(req, 200, "text/plain; version=0.0.4; charset=utf-8",
            worker.metrics()->Render(worker.engine(), worker.consistency()));
    }
    return true;
  }
  if (path == "/readyz") {
    // The log is recovered and the views rebuilt before the server listens; in a cluster, the node must
    // also have applied everything the stream holds.
    if (IsGetOrHead(MethodOf(req)) && worker.consistency() != nullptr && !worker.consistency()->CaughtUp()) {
      ReplyTextError(req, 503, "cluster: not caught up with the stream yet");
      return true;
    }
    // A server that cannot write its log cannot acknowledge events: not ready until it can again.
    if (Status writable = worker.engine().log().CheckWritable();
        IsGetOrHead(MethodOf(req)) && !writable.ok()) {
      h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_RETRY_AFTER, nullptr, "1", 1);
      ReplyTextError(req, 503, writable.message());
      return true;
    }
    HandleHealth(req);
    return true;
  }
  return false;
}

}  // namespace tally

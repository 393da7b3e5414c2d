// One event loop thread and what route handlers may ask of it. Internal to src/http.
#pragma once

#include <h2o.h>

#include <chrono>
#include <cstdint>
#include <deque>
#include <list>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "engine/engine.h"
#include "http/client_address.h"
#include "http/handlers.h"
#include "http/keys.h"
#include "http/metrics.h"
#include "http/rate_limiter.h"
#include "http/request_head.h"
#include "ingest/json_events.h"
#include "ingest/sdk_events.h"

namespace tally {

class DayCounts;

// A request's parts, as route handlers read them.
inline std::string_view MethodOf(const h2o_req_t* req) { return {req->method.base, req->method.len}; }
inline std::string_view QueryOf(const h2o_req_t* req) {
  if (req->query_at == SIZE_MAX) return {};
  return {req->path.base + req->query_at + 1, req->path.len - req->query_at - 1};
}
inline std::string_view RawTargetOf(const h2o_req_t* req) { return {req->path.base, req->path.len}; }
// The path routes are matched on (request_head.h's RoutePath): under /v1/ as sent, elsewhere normalized.
inline std::string_view RoutePathOf(const h2o_req_t* req) {
  const size_t path_end = req->query_at == SIZE_MAX ? req->path.len : req->query_at;
  return RoutePath(RawTargetOf(req).substr(0, path_end),
                   {req->path_normalized.base, req->path_normalized.len});
}
// The body, decompressed if it was sent compressed.
inline std::string_view BodyOf(const h2o_req_t* req) {
  return {req->entity.base == nullptr ? "" : req->entity.base, req->entity.len};
}

// Sends a complete response now. An empty content_type sends no Content-Type header.
void Reply(h2o_req_t* req, int status, std::string_view content_type, std::string_view body);
// A 4xx/5xx whose body is one line of text naming the field and the reason.
void ReplyTextError(h2o_req_t* req, int status, std::string_view line);
void ReplyMethodNotAllowed(h2o_req_t* req, std::string_view allow);
void ReplyJson(h2o_req_t* req, int status, std::string_view body);
// API.md: {"error":"<code>","message":"<sentence naming the field>"}.
void ReplyJsonError(h2o_req_t* req, int status, std::string_view code, std::string_view message);
// An error answered before or beside the routes (limits, keys, CORS, consistency): the JSON form under
// /v1/, the one-line text form elsewhere, as each API answers its own errors.
void ReplyError(h2o_req_t* req, int status, std::string_view code, std::string_view message);
std::string_view HeaderOf(const h2o_req_t* req, const h2o_token_t* token);

class Worker {
 public:
  Worker(Engine* engine, Committer* committer, bool wait_for_fsync, ReadConsistency* consistency)
      : engine_(engine), committer_(committer), wait_for_fsync_(wait_for_fsync), consistency_(consistency) {}

  Engine& engine() { return *engine_; }
  // Cluster mode only (else null).
  ReadConsistency* consistency() { return consistency_; }

  // The event is committed with the rest of this loop iteration's batch; the 204 goes out once it is in
  // the log as the durability mode promises, or a 503 if the log refused it.
  void IngestThenReply(h2o_req_t* req, Event event);

  // Records of one request go into the batch through batch(); then one of these says how to answer it
  // once they are committed (and durable). `first_slot` is batch().size() before the request added any.
  // The summary is {"accepted":A,"duplicates":D,"rejected":[...]}; an SDK's API answers with a field of
  // its own first (`leading` = {"success", "true"}).
  struct LeadingField {
    std::string_view key;
    std::string_view json;
  };
  void ReplyWithEventSummary(h2o_req_t* req, size_t first_slot, std::string rejected_json_array,
                             LeadingField leading = {});
  void ReplyAfterCommit(h2o_req_t* req, int status, std::string json_body);
  IngestBatch& batch() { return batch_; }
  // Rejected input goes into the batch with the name of the key the request came with.
  void AddRejected(RejectedInput rejected) {
    rejected.key_name = key_name_;
    if (metrics_ != nullptr) metrics_->CountRejected(rejected.reason);
    batch_.Add(std::move(rejected));
  }
  void set_metrics(Metrics* metrics, ThreadMetrics* thread_metrics) {
    metrics_ = metrics;
    thread_metrics_ = thread_metrics;
  }
  Metrics* metrics() { return metrics_; }
  // Whole days' sums kept between top lists (query/day_counts.h), shared by the loops.
  void set_day_counts(DayCounts* day_counts) { day_counts_ = day_counts; }
  DayCounts* day_counts() { return day_counts_; }
  ThreadMetrics* thread_metrics() { return thread_metrics_; }
  // The key of the request being handled (empty without keys).
  void set_key_name(std::string name) { key_name_ = std::move(name); }
  void set_limits(size_t max_body_bytes, const JsonLimits& json_limits, const SdkMapping& sdk_mapping,
                  RateLimiter* rate_limiter, std::chrono::milliseconds retention) {
    max_body_bytes_ = max_body_bytes;
    events_parser_ = std::make_unique<EventsParser>(json_limits);
    sdk_parser_ = std::make_unique<SdkParser>(json_limits, sdk_mapping);
    rate_limiter_ = rate_limiter;
    retention_ = retention;
  }
  // Bodies are parsed with this thread's parser state.
  EventsParser& events_parser() { return *events_parser_; }
  SdkParser& sdk_parser() { return *sdk_parser_; }
  // With keys, a request to a route that may carry its key in the body (an SDK's) and came without an
  // Authorization header is let through with its key pending: the handler checks the body's key with
  // AuthorizeBodyKey before it writes anything.
  void set_keys(const KeyStore* keys) { keys_ = keys; }
  void set_trusted_proxies(const std::vector<Cidr>* trusted) { trusted_proxies_ = trusted; }
  void set_key_pending(bool pending) { key_pending_ = pending; }
  // True when the request may ingest: no key was pending, or `secret` (the body's field `field`) is an
  // ingest or admin key. Otherwise answers 401 or 403 naming the field (and why the body could not be
  // read, if it could not), and returns false.
  bool AuthorizeBodyKey(h2o_req_t* req, std::string_view secret, std::string_view field,
                        const Status& unreadable = Status::Ok());
  // Replaces the request's body with what it inflates to (gzip), within the body limit: false when it
  // answered instead (413 past the limit, 400 for what is not gzip), having written nothing.
  bool InflateBody(h2o_req_t* req);
  // An error naming the timestamp if --retention no longer keeps its hour at `now`.
  Status CheckRetained(Millis timestamp, Millis now) const;
  // Takes `events` from the ingest rate of the request's key (or client address, client_address.h): false
  // when it answered 429
  // with Retry-After instead, having written nothing.
  bool AdmitEvents(h2o_req_t* req, uint64_t events);
  // For server-assigned event ids; one generator per loop thread, so nothing is shared.
  std::mt19937_64& random() { return random_; }
  // The refused input is kept in the log with its reason; the client gets `status` and `line` at once.
  void RejectThenReply(h2o_req_t* req, RejectedInput rejected, int status, std::string line);

  // Called by the loop after each round of events: commit the batch, answer what is durable.
  // Returns the LSN the log must reach before the waiting replies can go out (0: none waiting).
  uint64_t CommitBatch();
  void ReplyDurable(uint64_t durable_lsn, bool log_failed);
  bool has_waiting_replies() const {
    return !waiting_for_commit_.empty() || !waiting_for_fsync_.empty() || !parked_.empty();
  }

  // Cluster mode: a strong read waits here, its loop free for other requests, until this node has applied
  // the stream as far as a fetch of its last sequence begun after the request came found it; then its
  // route's handler serves it. At `deadline` it is answered 503 instead.
  void ParkStrongRead(h2o_req_t* req, int route_index, RouteArgs args,
                      std::chrono::steady_clock::time_point deadline);
  // Right after a start, a question by product or store (answered from the sealed indexes) waits here,
  // its loop free for other requests, until the sealed hour files the start found are installed
  // (Engine::SealedHourFilesPending: half a second at 100 M events); then `handler` serves it, or at the
  // server's sealed files wait it serves it from the rows (exact, far slower). True when it parked the
  // request; false when it is to be answered now: the files are in, or this is the parked call.
  bool ParkUntilSealedHourFiles(h2o_req_t* req, RouteHandler handler, const RouteArgs& args);
  void set_sealed_files_wait(std::chrono::milliseconds wait) { sealed_files_wait_ = wait; }
  // Serves or refuses the parked reads that can be now; the loop calls it every round.
  void ResumeParked();
  bool has_parked() const { return !parked_.empty(); }
  // True when replies went out since the last call. h2o finishes a write (and so resumes reading a
  // keep-alive connection) in a callback it runs only after its next poll: the loop must not block then.
  bool TakeRepliedOutsideLoop() { return std::exchange(replied_outside_loop_, false); }

 private:
  struct PendingReply {
    enum class Kind { kNoContent, kEventSummary, kJson };
    h2o_req_t* req;
    Kind kind = Kind::kNoContent;
    int status = 204;
    std::string body;      // kJson: the body; kEventSummary: the JSON array of rejected events
    LeadingField leading;  // kEventSummary: the summary's first field (static texts)
    size_t first_slot = 0;
    size_t slot_count = 0;
    uint64_t lsn = 0;  // the log must hold this many records before the reply
  };
  struct ParkedRead {
    enum class Awaiting { kStreamTip, kSealedHourFiles };
    h2o_req_t* req;  // null once h2o disposed of the request (its client went away)
    Awaiting awaiting;
    RouteHandler handler;
    RouteArgs args;
    uint64_t ticket;  // kStreamTip: of the stream tip fetch it waits for
    std::chrono::steady_clock::time_point deadline;
    ParkedRead** guard;  // in the request's memory pool: points here until the read is answered
  };
  void SendReply(PendingReply& reply);
  static void ResolveBody(PendingReply& reply, const std::vector<ApplyOutcome>& outcomes);

  Engine* const engine_;
  Committer* const committer_;
  const bool wait_for_fsync_;
  ReadConsistency* const consistency_;
  IngestBatch batch_;
  std::vector<PendingReply> waiting_for_commit_;
  std::deque<PendingReply> waiting_for_fsync_;
  std::list<ParkedRead> parked_;  // a list: each entry's address is held by its request's guard
  // Parks a request; its guard, in the request's memory pool, forgets the entry if h2o disposes of it.
  void Park(ParkedRead read);
  std::chrono::milliseconds sealed_files_wait_{0};  // ServerOptions::sealed_files_wait
  bool serving_after_files_wait_ = false;  // while ResumeParked calls a handler that waited for the files
  bool replied_outside_loop_ = false;
  std::string key_name_;
  DayCounts* day_counts_ = nullptr;
  Metrics* metrics_ = nullptr;
  ThreadMetrics* thread_metrics_ = nullptr;
  std::unique_ptr<EventsParser> events_parser_ = std::make_unique<EventsParser>();
  std::unique_ptr<SdkParser> sdk_parser_ = std::make_unique<SdkParser>(JsonLimits{}, SdkMapping{});
  const KeyStore* keys_ = nullptr;
  const std::vector<Cidr>* trusted_proxies_ = nullptr;
  bool key_pending_ = false;
  size_t max_body_bytes_ = 8u << 20;
  RateLimiter* rate_limiter_ = nullptr;
  std::chrono::milliseconds retention_{0};  // 0: every hour is kept
  std::mt19937_64 random_{std::random_device{}()};
};

}  // namespace tally

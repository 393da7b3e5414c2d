// One event loop thread and what route handlers may ask of it. Internal to src/http.
#pragma once

#include <h2o.h>

#include <cstdint>
#include <deque>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "engine/engine.h"

namespace tally {

// A request's parts, as route handlers read them.
inline std::string_view MethodOf(const h2o_req_t* req) { return {req->method.base, req->method.len}; }
inline std::string_view QueryOf(const h2o_req_t* req) {
  if (req->query_at == SIZE_MAX) return {};
  return {req->path.base + req->query_at + 1, req->path.len - req->query_at - 1};
}
inline std::string_view RawTargetOf(const h2o_req_t* req) { return {req->path.base, req->path.len}; }

// Sends a complete response now. An empty content_type sends no Content-Type header.
void Reply(h2o_req_t* req, int status, std::string_view content_type, std::string_view body);
// A 4xx/5xx whose body is one line of text naming the field and the reason.
void ReplyTextError(h2o_req_t* req, int status, std::string_view line);
void ReplyMethodNotAllowed(h2o_req_t* req, std::string_view allow);

class Worker {
 public:
  Worker(Engine* engine, bool wait_for_fsync) : engine_(engine), wait_for_fsync_(wait_for_fsync) {}

  Engine& engine() { return *engine_; }

  // The event is committed with the rest of this loop iteration's batch; the 204 goes out once it is in
  // the log as the durability mode promises, or a 503 if the log refused it.
  void IngestThenReply(h2o_req_t* req, Event event);
  // The refused input is kept in the log with its reason; the client gets `status` and `line` at once.
  void RejectThenReply(h2o_req_t* req, RejectedInput rejected, int status, std::string line);

  // Called by the loop after each round of events: commit the batch, answer what is durable.
  // Returns the LSN the log must reach before the waiting replies can go out (0: none waiting).
  uint64_t CommitBatch();
  void ReplyDurable(uint64_t durable_lsn, bool log_failed);
  bool has_waiting_replies() const { return !waiting_for_commit_.empty() || !waiting_for_fsync_.empty(); }
  // True when replies went out since the last call. h2o finishes a write (and so resumes reading a
  // keep-alive connection) in a callback it runs only after its next poll: the loop must not block then.
  bool TakeRepliedOutsideLoop() { return std::exchange(replied_outside_loop_, false); }

 private:
  struct PendingReply {
    h2o_req_t* req;
    int status;        // 204 for an accepted event
    std::string body;  // the error line otherwise
    uint64_t lsn = 0;  // the log must hold this many records before the reply
  };

  Engine* const engine_;
  const bool wait_for_fsync_;
  IngestBatch batch_;
  std::vector<PendingReply> waiting_for_commit_;
  std::deque<PendingReply> waiting_for_fsync_;
  bool replied_outside_loop_ = false;
};

// Routes of the take-home protocol and health checks; each returns false when the path is not its own.
bool RouteTakeHome(Worker& worker, h2o_req_t* req, std::string_view path);

}  // namespace tally

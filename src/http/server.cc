#include "http/server.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <climits>
#include <cstring>
#include <future>
#include <latch>
#include <thread>
#include <vector>

#include <spdlog/spdlog.h>

#include "common/json_writer.h"
#include "http/route_table.h"
#include "http/worker.h"
#include "ingest/gzip.h"
#include "ingest/query_string.h"
#include "query/day_counts.h"

namespace tally {
namespace {

constexpr int kListenBacklog = 4096;
constexpr int kMaxAcceptsPerWakeup = 64;

Result<int> BindListener(const std::string& host, uint16_t port) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV | AI_PASSIVE;
  addrinfo* found = nullptr;
  const std::string where = host + ":" + std::to_string(port);
  const std::string service = std::to_string(port);
  if (int rc = ::getaddrinfo(host.c_str(), service.c_str(), &hints, &found); rc != 0) {
    return Status::InvalidArgument("listen", where + ": " + gai_strerror(rc));
  }
  int fd = ::socket(found->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    ::freeaddrinfo(found);
    return Status::FromErrno("listen " + where, errno);
  }
  int on = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
  // No SO_REUSEPORT: a second server on the same port must fail here, not share the port silently.
  int rc = ::bind(fd, found->ai_addr, found->ai_addrlen);
  int saved = errno;
  ::freeaddrinfo(found);
  if (rc != 0 || ::listen(fd, kListenBacklog) != 0) {
    if (rc == 0) saved = errno;
    ::close(fd);
    return Status::FromErrno("listen " + where, saved);
  }
  return fd;
}

uint16_t BoundPort(int fd) {
  sockaddr_storage address{};
  socklen_t length = sizeof(address);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  if (address.ss_family == AF_INET6) return ntohs(reinterpret_cast<sockaddr_in6*>(&address)->sin6_port);
  return ntohs(reinterpret_cast<sockaddr_in*>(&address)->sin_port);
}

}  // namespace

// ---- replies ----

const char* ReasonPhrase(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 204:
      return "No Content";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 413:
      return "Payload Too Large";
    case 414:
      return "URI Too Long";
    case 415:
      return "Unsupported Media Type";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 503:
      return "Service Unavailable";
    default:
      return "Unknown";
  }
}

namespace {
void CountResponse(h2o_req_t* req, int status);
}  // namespace

void Reply(h2o_req_t* req, int status, std::string_view content_type, std::string_view body) {
  CountResponse(req, status);
  req->res.status = status;
  req->res.reason = ReasonPhrase(status);
  if (!content_type.empty()) {
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, nullptr, content_type.data(),
                   content_type.size());
  }
  if (status == 204) {
    // HTTP forbids a body and a Content-Length on 204; an empty final send emits neither.
    static h2o_generator_t no_body_generator = {nullptr, nullptr};
    h2o_start_response(req, &no_body_generator);
    h2o_send(req, nullptr, 0, H2O_SEND_STATE_FINAL);
    return;
  }
  req->res.content_length = body.size();
  h2o_send_inline(req, body.data(), body.size());
}

void ReplyTextError(h2o_req_t* req, int status, std::string_view line) {
  std::string body(line);
  body.push_back('\n');
  Reply(req, status, "text/plain; charset=utf-8", body);
}

void ReplyMethodNotAllowed(h2o_req_t* req, std::string_view allow) {
  h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_ALLOW, nullptr, allow.data(), allow.size());
  ReplyError(
      req, 405, "method_not_allowed",
      "method: " + std::string(MethodOf(req)) + " not allowed here (allowed: " + std::string(allow) + ")");
}

void ReplyJson(h2o_req_t* req, int status, std::string_view body) {
  Reply(req, status, "application/json", body);
}

void ReplyJsonError(h2o_req_t* req, int status, std::string_view code, std::string_view message) {
  JsonWriter json;
  json.BeginObject().Key("error").String(code).Key("message").String(message).EndObject();
  ReplyJson(req, status, json.str());
}

void ReplyError(h2o_req_t* req, int status, std::string_view code, std::string_view message) {
  const std::string_view path = RoutePathOf(req);
  const RouteSpec* route = RouteOfPath(path);
  if (route != nullptr ? route->errors == ErrorStyle::kJson : path.starts_with(kNativeApiPrefix)) {
    ReplyJsonError(req, status, code, message);
  } else {
    ReplyTextError(req, status, message);
  }
}

std::string_view HeaderOf(const h2o_req_t* req, const h2o_token_t* token) {
  ssize_t index = h2o_find_header(&req->headers, token, -1);
  if (index < 0) return {};
  const h2o_iovec_t& value = req->headers.entries[index].value;
  return {value.base, value.len};
}

// ---- the worker's batch ----

void Worker::IngestThenReply(h2o_req_t* req, Event event) {
  batch_.Add(std::move(event));
  waiting_for_commit_.push_back(PendingReply{req});
}

void Worker::ReplyWithEventSummary(h2o_req_t* req, size_t first_slot, std::string rejected_json_array,
                                   LeadingField leading) {
  PendingReply reply{req, PendingReply::Kind::kEventSummary, 200, std::move(rejected_json_array), leading};
  reply.first_slot = first_slot;
  reply.slot_count = batch_.size() - first_slot;
  waiting_for_commit_.push_back(std::move(reply));
}

void Worker::ReplyAfterCommit(h2o_req_t* req, int status, std::string json_body) {
  waiting_for_commit_.push_back(PendingReply{req, PendingReply::Kind::kJson, status, std::move(json_body)});
}

void Worker::ResolveBody(PendingReply& reply, const std::vector<ApplyOutcome>& outcomes) {
  if (reply.kind != PendingReply::Kind::kEventSummary) return;
  uint64_t accepted = 0, duplicates = 0;
  for (size_t i = reply.first_slot; i < reply.first_slot + reply.slot_count; ++i) {
    if (outcomes[i] == ApplyOutcome::kAccepted || outcomes[i] == ApplyOutcome::kCorrection) ++accepted;
    if (outcomes[i] == ApplyOutcome::kDuplicate) ++duplicates;
  }
  JsonWriter json;
  json.BeginObject();
  if (!reply.leading.key.empty()) json.Key(reply.leading.key).Raw(reply.leading.json);
  json.Key("accepted").Uint(accepted).Key("duplicates").Uint(duplicates).Key("rejected").Raw(reply.body);
  json.EndObject();
  reply.body = json.Take();
  reply.kind = PendingReply::Kind::kJson;
}

void Worker::SendReply(PendingReply& reply) {
  if (reply.kind == PendingReply::Kind::kNoContent) {
    Reply(reply.req, 204, {}, {});
  } else {
    ReplyJson(reply.req, reply.status, reply.body);
  }
}

void Worker::RejectThenReply(h2o_req_t* req, RejectedInput rejected, int status, std::string line) {
  rejected.key_name = key_name_;
  if (metrics_ != nullptr) metrics_->CountRejected(rejected.reason);
  batch_.Add(std::move(rejected));
  ReplyTextError(req, status, line);
}

Status Worker::CheckRetained(Millis timestamp, Millis now) const {
  if (retention_.count() == 0) return Status::Ok();
  const int64_t first_kept_hour = FirstKeptHour(now, retention_);
  if (HourOf(timestamp) >= first_kept_hour) return Status::Ok();
  const std::time_t kept_from = static_cast<std::time_t>(first_kept_hour * (kMillisPerHour / 1000));
  std::tm utc{};
  gmtime_r(&kept_from, &utc);
  char text[32];
  std::strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%SZ", &utc);
  return Status::InvalidArgument("timestamp", std::string("before the retention window: hours before ") +
                                                  text + " are no longer kept (--retention)");
}

bool Worker::AdmitEvents(h2o_req_t* req, uint64_t events) {
  if (rate_limiter_ == nullptr || !rate_limiter_->enabled()) return true;
  std::string client = key_name_;
  if (client.empty()) {
    sockaddr_storage address{};
    const socklen_t length =
        req->conn->callbacks->get_peername(req->conn, reinterpret_cast<sockaddr*>(&address));
    char host[NI_MAXHOST];
    const size_t host_length =
        length == 0 ? SIZE_MAX
                    : h2o_socket_getnumerichost(reinterpret_cast<sockaddr*>(&address), length, host);
    client = host_length == SIZE_MAX ? "unknown" : std::string(host, host_length);
    if (trusted_proxies_ != nullptr && !trusted_proxies_->empty())
      client = ClientAddress(client, HeaderOf(req, H2O_TOKEN_X_FORWARDED_FOR), *trusted_proxies_);
  }
  const auto wait = rate_limiter_->TryTake(client, events, RateLimiter::Clock::now());
  if (!wait) return true;
  if (thread_metrics_ != nullptr) thread_metrics_->CountRefused(Limit::kIngestRate);
  const std::string retry_after = std::to_string(std::max<int64_t>(1, (wait->count() + 999) / 1000));
  h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_RETRY_AFTER, nullptr, retry_after.data(),
                 retry_after.size());
  const std::string message =
      "rate: " + (key_name_.empty() ? "the address " + client : "the key '" + client + "'") +
      " sent more events than its limit of " + std::to_string(rate_limiter_->rate()) +
      " per second (--ingest-rate); nothing was written, retry after " + retry_after + " s";
  ReplyError(req, 429, "rate_limited", message);
  return false;
}

bool Worker::AuthorizeBodyKey(h2o_req_t* req, std::string_view secret, std::string_view field,
                              const Status& unreadable) {
  if (!std::exchange(key_pending_, false)) return true;
  auto refuse = [&](int status, const std::string& why) {
    if (status == 401) {
      h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_WWW_AUTHENTICATE, nullptr,
                     H2O_STRLIT("Bearer realm=\"tally\""));
    }
    ReplyJsonError(req, status, status == 401 ? "unauthenticated" : "forbidden",
                   std::string(field) + ": " + why);
    return false;
  };
  if (secret.empty() && !unreadable.ok()) {
    return refuse(401, "not found: the body could not be read (" + unreadable.message() +
                           "); send the key in the header Authorization (Basic or Bearer)");
  }
  if (secret.empty()) {
    return refuse(401, "missing; send an ingest key as " + std::string(field) +
                           ", or in the header Authorization (Basic or Bearer)");
  }
  auto key = keys_->Get()->Find(secret);
  if (!key) return refuse(401, "the key is not known");
  if (key->role != Role::kIngest && key->role != Role::kAdmin) {
    return refuse(403, "key '" + key->name + "' has the role " + std::string(RoleName(key->role)) +
                           "; sending events needs ingest or admin");
  }
  set_key_name(key->name);
  return true;
}

bool Worker::InflateBody(h2o_req_t* req) {
  auto inflated = Gunzip(BodyOf(req), max_body_bytes_);
  if (!inflated.ok()) {
    const bool too_large = inflated.status().code() == Status::Code::kTooLarge;
    ReplyError(req, too_large ? 413 : 400, too_large ? "too_large" : "invalid_argument",
               inflated.status().message() + (too_large ? " (--max-body-bytes)" : ""));
    return false;
  }
  auto* copy = static_cast<char*>(h2o_mem_alloc_pool(&req->pool, std::max<size_t>(inflated->size(), 1)));
  std::memcpy(copy, inflated->data(), inflated->size());
  req->entity = h2o_iovec_init(copy, inflated->size());
  return true;
}

uint64_t Worker::CommitBatch() {
  if (batch_.empty()) {
    // Requests that added no record (an empty array, a body of blank lines) have nothing to wait for:
    // answering them only with the next batch would hold their connections until other traffic came.
    if (waiting_for_commit_.empty()) return 0;
    std::vector<PendingReply> replies;
    replies.swap(waiting_for_commit_);
    replied_outside_loop_ = true;
    for (PendingReply& reply : replies) {
      ResolveBody(reply, {});
      SendReply(reply);
    }
    return 0;
  }
  auto committed = committer_->Commit(batch_);
  if (committed.ok() && thread_metrics_ != nullptr) {
    for (size_t i = 0; i < committed->outcomes.size(); ++i) {
      thread_metrics_->CountOutcome(committed->outcomes[i]);
      if (committed->outcomes[i] == ApplyOutcome::kAccepted && batch_.late_event(i)) {
        thread_metrics_->late_events.fetch_add(1, std::memory_order_relaxed);
      }
    }
  }
  batch_.Clear();
  std::vector<PendingReply> replies;
  replies.swap(waiting_for_commit_);  // replying may start the next pipelined request, which adds here
  if (!replies.empty()) replied_outside_loop_ = true;
  if (!committed.ok()) {
    spdlog::error("log append failed: {}", committed.status().message());
    for (PendingReply& reply : replies) {
      h2o_add_header(&reply.req->pool, &reply.req->res.headers, H2O_TOKEN_RETRY_AFTER, nullptr, "1", 1);
      if (reply.kind == PendingReply::Kind::kNoContent) {
        ReplyTextError(reply.req, 503, "log: the event could not be written; retry");
      } else {
        ReplyJsonError(reply.req, 503, "unavailable", "log: the events could not be written; retry");
      }
    }
    return 0;
  }
  for (PendingReply& reply : replies) ResolveBody(reply, committed->outcomes);
  if (!wait_for_fsync_) {
    for (PendingReply& reply : replies) SendReply(reply);
    return 0;
  }
  for (PendingReply& reply : replies) {
    reply.lsn = committed->end_lsn;
    waiting_for_fsync_.push_back(std::move(reply));
  }
  return committed->end_lsn;
}

void Worker::ReplyDurable(uint64_t durable_lsn, bool log_failed) {
  while (!waiting_for_fsync_.empty()) {
    PendingReply& reply = waiting_for_fsync_.front();
    if (reply.lsn <= durable_lsn) {
      SendReply(reply);
    } else if (log_failed) {
      if (reply.kind == PendingReply::Kind::kNoContent) {
        ReplyTextError(reply.req, 503, "log: the event could not be made durable; retry");
      } else {
        ReplyJsonError(reply.req, 503, "unavailable", "log: the events could not be made durable; retry");
      }
    } else {
      break;
    }
    replied_outside_loop_ = true;
    waiting_for_fsync_.pop_front();
  }
}

// ---- reads, parked ----

void Worker::Park(ParkedRead read) {
  // h2o frees a request's pool when it disposes of the request (an HTTP/2 stream reset, say): the guard
  // in that pool then marks the entry, so the loop never answers a request that is gone.
  auto* guard =
      static_cast<ParkedRead**>(h2o_mem_alloc_shared(&read.req->pool, sizeof(ParkedRead*), [](void* slot) {
        if (ParkedRead* parked = *static_cast<ParkedRead**>(slot)) parked->req = nullptr;
      }));
  read.guard = guard;
  *guard = &parked_.emplace_back(std::move(read));
}

void Worker::ParkStrongRead(h2o_req_t* req, int route_index, RouteArgs args,
                            std::chrono::steady_clock::time_point deadline) {
  Park(ParkedRead{req, ParkedRead::Awaiting::kStreamTip, kRoutes[route_index].handler, std::move(args),
                  consistency_->RequestStreamTip(), deadline, nullptr});
}

bool Worker::ParkUntilSealedHourFiles(h2o_req_t* req, RouteHandler handler, const RouteArgs& args) {
  if (serving_after_files_wait_ || !engine_->SealedHourFilesPending()) return false;
  Park(ParkedRead{req, ParkedRead::Awaiting::kSealedHourFiles, handler, args, 0,
                  std::chrono::steady_clock::now() + sealed_files_wait_, nullptr});
  return true;
}

void Worker::ResumeParked() {
  const auto now = std::chrono::steady_clock::now();
  for (auto it = parked_.begin(); it != parked_.end();) {
    if (it->req == nullptr) {
      it = parked_.erase(it);
      continue;
    }
    Status ready = Status::Ok();
    bool decided = false;
    if (it->awaiting == ParkedRead::Awaiting::kSealedHourFiles) {
      decided = !engine_->SealedHourFilesPending();
    } else {
      ready = Status::Unavailable(
          "consistency: the stream's last sequence could not be read in time (NATS does not answer); retry");
      if (auto tip = consistency_->StreamTip(it->ticket)) {
        ready = tip->ok()
                    ? consistency_->AppliedUpTo(**tip)
                    : Status::Unavailable("consistency: the stream's last sequence could not be read (" +
                                          tip->status().message() + "); retry");
        decided = ready.ok() || !tip->ok();
      }
    }
    if (!decided && now < it->deadline) {
      ++it;
      continue;
    }
    *it->guard = nullptr;
    h2o_req_t* req = it->req;
    const RouteHandler handler = it->handler;
    const ParkedRead::Awaiting awaited = it->awaiting;
    const RouteArgs args = std::move(it->args);
    it = parked_.erase(it);
    // Answering may start the connection's next pipelined request, which may park in turn (at the end of
    // the list, which this loop then also visits).
    replied_outside_loop_ = true;
    if (ready.ok()) {
      // Past the files' wait the question is answered from the rows rather than parked again.
      serving_after_files_wait_ = awaited == ParkedRead::Awaiting::kSealedHourFiles;
      handler(*this, req, args);
      serving_after_files_wait_ = false;
    } else {
      h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_RETRY_AFTER, nullptr, "1", 1);
      ReplyError(req, 503, "unavailable", ready.message());
    }
  }
}

// ---- the server ----

namespace {

struct LoopThread;

// h2o hands handlers the h2o_context_t; it is the first member, so the loop thread can be found from it.
struct LoopContext {
  h2o_context_t h2o;
  LoopThread* thread;
};
static_assert(std::is_standard_layout_v<LoopContext>);

struct LoopThread {
  Server::Impl* server = nullptr;
  std::unique_ptr<Worker> worker;
  h2o_evloop_t* loop = nullptr;
  LoopContext context{};
  h2o_accept_ctx_t accept_context{};
  h2o_socket_t* listener = nullptr;
  h2o_multithread_queue_t* wake_queue = nullptr;
  h2o_multithread_receiver_t wake_receiver{};
  std::thread thread;
};

struct RootHandler {
  h2o_handler_t super;
};

void CountResponse(h2o_req_t* req, int status) {
  auto* context = reinterpret_cast<LoopContext*>(req->conn->ctx);
  ThreadMetrics* metrics = context->thread->worker->thread_metrics();
  if (metrics == nullptr) return;
  timeval now{};
  ::gettimeofday(&now, nullptr);
  const timeval& begin = req->timestamps.request_begin_at;
  const int64_t micros = (now.tv_sec - begin.tv_sec) * 1'000'000 + (now.tv_usec - begin.tv_usec);
  metrics->CountResponse(RouteOf(RoutePathOf(req)), status, micros > 0 ? static_cast<uint64_t>(micros) : 0);
}

}  // namespace

class Server::Impl {
 public:
  Impl(Engine* engine, ServerOptions options, int listen_fd)
      : engine_(engine), options_(std::move(options)), listen_fd_(listen_fd), port_(BoundPort(listen_fd)) {}

  ~Impl() {
    Shutdown();
    if (listen_fd_ >= 0) ::close(listen_fd_);
  }

  void Start() {
    h2o_config_init(&config_);
    config_.server_name = h2o_iovec_init(H2O_STRLIT("tally"));
    config_.max_request_entity_size = options_.max_body_bytes;
    config_.http1.req_timeout = static_cast<uint64_t>(options_.idle_timeout.count());
    config_.http2.idle_timeout = static_cast<uint64_t>(options_.idle_timeout.count());
    h2o_hostconf_t* host = h2o_config_register_host(&config_, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    h2o_pathconf_t* path = h2o_config_register_path(host, "/", 0);
    auto* handler = reinterpret_cast<RootHandler*>(h2o_create_handler(path, sizeof(RootHandler)));
    handler->super.on_req = &Impl::OnRequest;

    // h2o keeps per-thread state (its socket buffer pools are thread-local), so each loop, its context,
    // wake-up queue and listener are created on the thread that runs them. Creating them here, on the
    // starting thread, made every loop allocate from this thread's pool at once: a data race that
    // corrupted h2o's free list under load.
    threads_.resize(static_cast<size_t>(options_.threads));
    loops_set_up_ = std::make_unique<std::latch>(options_.threads);
    std::shared_future<void> run = run_loops_.get_future().share();
    for (size_t index = 0; index < threads_.size(); ++index) {
      auto& slot = threads_[index];
      slot = std::make_unique<LoopThread>();
      LoopThread* loop_thread = slot.get();
      loop_thread->server = this;
      loop_thread->worker = std::make_unique<Worker>(
          engine_, options_.committer != nullptr ? options_.committer : engine_,
          // In cluster mode the stream's acknowledgement is the durability promise, not the local fsync.
          options_.committer == nullptr && options_.sync_mode == SyncMode::kAlways, options_.consistency);
      loop_thread->worker->set_metrics(&metrics_, metrics_.ForThread(static_cast<int>(index)));
      loop_thread->worker->set_limits(options_.max_body_bytes, options_.json_limits, options_.sdk_mapping,
                                      &rate_limiter_, options_.retention);
      loop_thread->worker->set_day_counts(&day_counts_);
      loop_thread->worker->set_keys(options_.keys);
      loop_thread->worker->set_trusted_proxies(&options_.trusted_proxies);
      loop_thread->worker->set_sealed_files_wait(options_.sealed_files_wait);
      loop_thread->thread = std::thread([this, loop_thread, run] {
        SetUpLoop(loop_thread);
        loops_set_up_->count_down();
        run.wait();
        RunLoop(loop_thread);
      });
    }
    loops_set_up_->wait();
    // The syncer wakes the loops after each fsync, so it starts once their queues exist; the loops ask it
    // for fsyncs, so they run once it exists.
    syncer_ = std::make_unique<LogSyncer>(&engine_->log(), options_.sync_mode, options_.sync_interval,
                                          [this](uint64_t) { WakeAll(); });
    metrics_.set_syncer(syncer_.get());
    run_loops_.set_value();
  }

  uint16_t port() const { return port_; }

  void Shutdown() {
    if (shut_down_) return;
    shut_down_ = true;
    stop_requested_.store(true, std::memory_order_release);
    WakeAll();
    for (auto& slot : threads_) {
      if (slot && slot->thread.joinable()) slot->thread.join();
    }
    syncer_.reset();  // a last fsync
    Status synced = engine_->log().Sync();
    if (!synced.ok()) spdlog::error("final fsync failed: {}", synced.message());
  }

 private:
  void SetUpLoop(LoopThread* loop_thread) {
    loop_thread->loop = h2o_evloop_create();
    h2o_context_init(&loop_thread->context.h2o, loop_thread->loop, &config_);
    loop_thread->context.thread = loop_thread;
    loop_thread->accept_context.ctx = &loop_thread->context.h2o;
    loop_thread->accept_context.hosts = config_.hosts;
    loop_thread->wake_queue = h2o_multithread_create_queue(loop_thread->loop);
    h2o_multithread_register_receiver(loop_thread->wake_queue, &loop_thread->wake_receiver,
                                      [](h2o_multithread_receiver_t*, h2o_linklist_t*) {});
    // Each loop owns a duplicate of the one listening socket, so closing its own leaves the others.
    loop_thread->listener =
        h2o_evloop_socket_create(loop_thread->loop, ::dup(listen_fd_), H2O_SOCKET_FLAG_DONT_READ);
    loop_thread->listener->data = loop_thread;
    h2o_socket_read_start(loop_thread->listener, &Impl::OnAccept);
  }

  static void OnAccept(h2o_socket_t* listener, const char* error) {
    if (error != nullptr) return;
    auto* loop_thread = static_cast<LoopThread*>(listener->data);
    Impl* server = loop_thread->server;
    for (int i = 0; i < kMaxAcceptsPerWakeup; ++i) {
      h2o_socket_t* connection = h2o_evloop_socket_accept(listener);
      if (connection == nullptr) return;
      if (server->open_connections_.fetch_add(1, std::memory_order_relaxed) >=
          server->options_.max_connections) {
        server->open_connections_.fetch_sub(1, std::memory_order_relaxed);
        if (ThreadMetrics* metrics = loop_thread->worker->thread_metrics())
          metrics->CountRefused(Limit::kConnections);
        RefuseConnection(connection, server->options_.max_connections);
        continue;
      }
      connection->on_close.cb = [](void* data) {
        static_cast<Impl*>(data)->open_connections_.fetch_sub(1, std::memory_order_relaxed);
      };
      connection->on_close.data = server;
      h2o_accept(&loop_thread->accept_context, connection);
    }
  }

  // Over --max-connections: the client is told why (a 503 it can retry) rather than left waiting, and the
  // connection is closed once that is written.
  static void RefuseConnection(h2o_socket_t* connection, size_t max_connections) {
    auto* response = new std::string(
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\nRetry-After: 1\r\n"
        "Connection: close\r\nContent-Length: ");
    const std::string body =
        "connections: " + std::to_string(max_connections) + " are open, the limit (--max-connections)\n";
    response->append(std::to_string(body.size())).append("\r\n\r\n").append(body);
    connection->data = response;
    h2o_iovec_t buffer = h2o_iovec_init(response->data(), response->size());
    h2o_socket_write(connection, &buffer, 1, [](h2o_socket_t* socket, const char*) {
      delete static_cast<std::string*>(socket->data);
      h2o_socket_close(socket);
    });
  }

  static int OnRequest(h2o_handler_t*, h2o_req_t* req) {
    auto* context = reinterpret_cast<LoopContext*>(req->conn->ctx);
    Worker& worker = *context->thread->worker;
    Impl& server = *context->thread->server;
    if (!server.WithinHeadLimits(req, worker)) return 0;
    if (!BodyLengthUnambiguous(req)) return 0;
    if (!server.HandleCors(req)) return 0;
    const std::string_view path = RoutePathOf(req);
    auto match = MatchRoute(MethodOf(req), path);
    const RouteSpec* route = match.ok() && match->index >= 0 ? &kRoutes[match->index] : nullptr;
    if (!server.Authorize(req, path, route, worker)) return 0;
    if (!match.ok()) {
      ReplyError(req, 400, "invalid_argument", match.status().message());
      return 0;
    }
    if (route == nullptr) {
      if (!match->allow.empty()) {
        ReplyMethodNotAllowed(req, match->allow);
      } else {
        ReplyError(req, 404, "not_found",
                   "path: " + std::string(path) +
                       (path.starts_with(kNativeApiPrefix) ? " is not part of the API" : " not found"));
      }
      return 0;
    }
    if (!DecodeBody(req, worker)) return 0;
    auto strong = server.IsStrongRead(req, *route);
    if (!strong.ok()) {
      ReplyError(req, 400, "invalid_argument", strong.status().message());
      return 0;
    }
    if (*strong) {
      worker.ParkStrongRead(req, match->index, std::move(match->args),
                            std::chrono::steady_clock::now() + server.options_.strong_read_wait);
      return 0;
    }
    route->handler(worker, req, match->args);
    return 0;
  }

  // A body sent with Content-Encoding: gzip is inflated before any route reads it; other codings are
  // refused (415). False when it answered.
  static bool DecodeBody(h2o_req_t* req, Worker& worker) {
    const std::string_view coding = HeaderOf(req, H2O_TOKEN_CONTENT_ENCODING);
    if (coding.empty() || EqualsIgnoringCase(coding, "identity")) return true;
    if (EqualsIgnoringCase(coding, "gzip") || EqualsIgnoringCase(coding, "x-gzip")) {
      return req->entity.base == nullptr || worker.InflateBody(req);
    }
    ReplyError(req, 415, "unsupported_media_type",
               "Content-Encoding: '" + std::string(coding) + "' is not supported (gzip, or none)");
    return false;
  }

  // Refuses a request whose body length is ambiguous (request_head.h) with a 400, and closes its
  // connection after the answer. False when it answered.
  //
  // h2o hands on neither Content-Length nor Transfer-Encoding among the headers, and reads a body by the
  // first Content-Length it finds: the head is read again as it was received. Over HTTP/1 it starts the
  // connection's input buffer (h2o drops each request's bytes from it once answered) and stays there,
  // body after it, until the response is sent. HTTP/2 frames its bodies and has no such ambiguity.
  static bool BodyLengthUnambiguous(h2o_req_t* req) {
    if (req->version >= 0x200 || req->conn->callbacks->get_socket == nullptr) return true;
    h2o_socket_t* socket = req->conn->callbacks->get_socket(req->conn);
    if (socket == nullptr || socket->input == nullptr) return true;
    std::string_view input(socket->input->bytes, socket->input->size);
    // Empty lines before a request line are allowed (and skipped by h2o's parser); they prove nothing.
    input.remove_prefix(std::min(input.find_first_not_of("\r\n"), input.size()));
    if (!input.starts_with(MethodOf(req))) return true;
    // The first blank line ends the head, whichever line ending the client used.
    const size_t head_end = std::min(input.find("\n\r\n"), input.find("\n\n"));
    const std::string_view head =
        input.substr(0, head_end == std::string_view::npos ? input.size() : head_end + 1);
    const auto ambiguous = AmbiguousBodyLength(head);
    if (!ambiguous) return true;
    req->http1_is_persistent = 0;
    ReplyError(req, 400, "invalid_argument", *ambiguous + "; the connection is closed");
    return false;
  }

  bool WithinHeadLimits(h2o_req_t* req, Worker& worker) {
    RequestHeadSize size;
    size.target_bytes = req->path.len;
    // h2o moves the Host field out of the headers into the authority; it was a field all the same.
    size.header_count = req->headers.size + (req->input.authority.len > 0 ? 1 : 0);
    for (size_t i = 0; i < req->headers.size; ++i)
      size.header_bytes += req->headers.entries[i].name->len + req->headers.entries[i].value.len;
    const auto exceeded = CheckRequestHead(options_.request_limits, size);
    if (!exceeded) return true;
    if (ThreadMetrics* metrics = worker.thread_metrics()) metrics->CountRefused(exceeded->limit);
    ReplyError(req, exceeded->status, "too_large", exceeded->message);
    return false;
  }

  // Browsers send Origin on cross-origin requests. An allowed origin (--cors-origins, or the server's own)
  // gets Access-Control-Allow-Origin on every answer and its preflights answered; any other origin is
  // refused with 403, also for the "simple" POSTs a browser sends without asking first (beacons), so
  // only configured sites can send events from their visitors' browsers. False when it answered.
  bool HandleCors(h2o_req_t* req) {
    const ssize_t origin_index = h2o_find_header_by_str(&req->headers, H2O_STRLIT("origin"), -1);
    if (origin_index < 0) return true;
    const std::string_view origin(req->headers.entries[origin_index].value.base,
                                  req->headers.entries[origin_index].value.len);
    if (!OriginAllowed(req, origin)) {
      ReplyError(
          req, 403, "forbidden",
          "origin: '" + std::string(origin) + "' may not call this server from a browser (--cors-origins)");
      return false;
    }
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_ACCESS_CONTROL_ALLOW_ORIGIN, nullptr,
                   origin.data(), origin.size());
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_VARY, nullptr, H2O_STRLIT("Origin"));
    if (MethodOf(req) != "OPTIONS") return true;
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("access-control-allow-methods"), 0,
                          nullptr, H2O_STRLIT("GET, HEAD, POST, PUT, DELETE"));
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("access-control-allow-headers"), 0,
                          nullptr, H2O_STRLIT("Authorization, Content-Type, Content-Encoding"));
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("access-control-max-age"), 0, nullptr,
                          H2O_STRLIT("600"));
    Reply(req, 204, {}, {});
    return false;
  }

  bool OriginAllowed(h2o_req_t* req, std::string_view origin) const {
    for (const std::string& allowed : options_.cors_origins) {
      if (allowed == "*" || allowed == origin) return true;
    }
    // The server's own origin, scheme included: the dashboard it serves.
    const std::string own_origin = std::string(req->scheme->name.base, req->scheme->name.len) + "://" +
                                   std::string(req->authority.base, req->authority.len);
    return origin == own_origin;
  }

  // With keys, every request to a route not public needs a key whose role allows it (route_table.h says
  // which, and where the key may come from): 401 without a known key, 403 for the wrong role. A path or
  // method no route has needs any known key. False when it answered.
  bool Authorize(h2o_req_t* req, std::string_view path, const RouteSpec* route, Worker& worker) {
    worker.set_key_name({});
    worker.set_key_pending(false);
    const Access access = route != nullptr ? route->access : Access::kAnyKey;
    if (options_.keys == nullptr || access == Access::kPublic) return true;
    auto refuse = [&](int status, const std::string& message) {
      if (status == 401) {
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_WWW_AUTHENTICATE, nullptr,
                       H2O_STRLIT("Bearer realm=\"tally\""));
      }
      ReplyError(req, status, status == 401 ? "unauthenticated" : "forbidden", message);
      return false;
    };
    const std::string header_secret = SecretOf(HeaderOf(req, H2O_TOKEN_AUTHORIZATION));
    std::string_view secret = header_secret;
    std::string key_param;
    const bool from_query = secret.empty() && route != nullptr && route->key_from == KeyFrom::kHeaderOrQuery;
    if (from_query) {
      (void)ForEachQueryParam(QueryOf(req), [&](std::string_view name, std::string_view value, bool) {
        if (name == "key") key_param = value;
        return Status::Ok();
      });
      secret = key_param;
    }
    if (secret.empty() && route != nullptr && route->key_from == KeyFrom::kHeaderOrBody) {
      worker.set_key_pending(true);
      return true;
    }
    if (secret.empty())
      return refuse(401, "authorization: missing; send the header Authorization: Bearer <key>");
    auto key = options_.keys->Get()->Find(secret);
    if (!key) return refuse(401, "authorization: the key is not known");
    if (from_query && key->role != Role::kIngest) {
      return refuse(403, "key: ?key= takes only an ingest key; key '" + key->name + "' has the role " +
                             std::string(RoleName(key->role)) + ", send it as Authorization: Bearer <key>");
    }
    std::string_view needed;
    if (access == Access::kAdmin) {
      needed = "admin";
    } else if (access == Access::kIngest) {
      needed = "ingest";
    } else if (access == Access::kRead) {
      needed = "read";
    }
    if (!needed.empty() && key->role != Role::kAdmin && RoleName(key->role) != needed) {
      return refuse(403, "authorization: key '" + key->name + "' has the role " +
                             std::string(RoleName(key->role)) + "; " + std::string(MethodOf(req)) + " " +
                             std::string(path) + " needs " + std::string(needed) +
                             (needed == "admin" ? "" : " or admin"));
    }
    worker.set_key_name(key->name);
    return true;
  }

  // Whether the request is a strong read: in cluster mode, of a route that may be one, consistency=strong
  // asked (or the default). An error for a consistency that is neither strong nor local, on those routes in
  // any mode: a typo is not silently a local read.
  Result<bool> IsStrongRead(h2o_req_t* req, const RouteSpec& route) const {
    if (!route.strong_read) return false;
    bool strong = options_.strong_reads_by_default;
    Status status = ForEachQueryParam(QueryOf(req), [&](std::string_view name, std::string_view value, bool) {
      if (name != kConsistencyParam) return Status::Ok();
      if (value != "strong" && value != "local")
        return Status::InvalidArgument(kConsistencyParam, "must be strong or local");
      strong = value == "strong";
      return Status::Ok();
    });
    if (!status.ok()) return status;
    return strong && options_.consistency != nullptr;
  }

  void WakeAll() {
    for (auto& slot : threads_) {
      if (slot && slot->wake_queue != nullptr) h2o_multithread_send_message(&slot->wake_receiver, nullptr);
    }
  }

  void RunLoop(LoopThread* loop_thread) {
    Worker& worker = *loop_thread->worker;
    bool stopping = false;
    std::chrono::steady_clock::time_point give_up_at;
    while (true) {
      // Parked reads are looked at every millisecond: a stream tip fetched, messages applied or the sealed
      // hour files installed do not wake the loop.
      const int32_t max_wait_ms = worker.TakeRepliedOutsideLoop() ? 0
                                  : worker.has_parked()           ? 1
                                  : stopping                      ? 20
                                                                  : INT32_MAX;
      h2o_evloop_run(loop_thread->loop, max_wait_ms);
      if (worker.has_parked()) worker.ResumeParked();
      if (worker.CommitBatch() != 0) syncer_->RequestSync();
      worker.ReplyDurable(engine_->log().durable_lsn(), engine_->log().failed());
      if (!stopping && stop_requested_.load(std::memory_order_acquire)) {
        stopping = true;
        give_up_at = std::chrono::steady_clock::now() + options_.shutdown_grace;
        h2o_socket_read_stop(loop_thread->listener);
        h2o_socket_close(loop_thread->listener);
        loop_thread->listener = nullptr;
        // Keep-alive connections close after their current response; idle ones close now.
        h2o_context_request_shutdown(&loop_thread->context.h2o);
      }
      if (stopping) {
        const bool drained =
            !worker.has_waiting_replies() && h2o_linklist_is_empty(&loop_thread->context.h2o.http1._conns);
        if (drained || std::chrono::steady_clock::now() >= give_up_at) break;
      }
    }
  }

  Engine* const engine_;
  const ServerOptions options_;
  Metrics metrics_{options_.threads};
  RateLimiter rate_limiter_{options_.ingest_rate,
                            options_.ingest_burst > 0 ? options_.ingest_burst : options_.ingest_rate};
  DayCounts day_counts_{options_.top_day_sums_bytes};  // shared by the loops' top lists
  std::atomic<size_t> open_connections_{0};
  int listen_fd_;
  const uint16_t port_;
  h2o_globalconf_t config_{};
  std::unique_ptr<LogSyncer> syncer_;
  std::vector<std::unique_ptr<LoopThread>> threads_;
  std::unique_ptr<std::latch> loops_set_up_;
  std::promise<void> run_loops_;
  std::atomic<bool> stop_requested_{false};
  bool shut_down_ = false;
};

Result<std::unique_ptr<Server>> Server::Start(Engine* engine, const ServerOptions& options) {
  if (options.threads < 1) return Status::InvalidArgument("threads", "must be at least 1");
  auto fd = BindListener(options.host, options.port);
  if (!fd.ok()) return fd.status();
  auto impl = std::make_unique<Impl>(engine, options, *fd);
  impl->Start();
  return std::unique_ptr<Server>(new Server(std::move(impl)));
}

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Server::~Server() = default;
uint16_t Server::port() const { return impl_->port(); }
void Server::Shutdown() { impl_->Shutdown(); }

}  // namespace tally

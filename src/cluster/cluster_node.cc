#include "cluster/cluster_node.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <functional>
#include <random>

namespace tally {
namespace {

constexpr int64_t kNanosPerSecond = 1'000'000'000;
// JetStream's largest message is 1 MiB with headers; batches are split at record boundaries below it.
constexpr size_t kMaxMessageBytes = 1'000'000;

std::string NatsError(std::string_view what, natsStatus status, jsErrCode code = static_cast<jsErrCode>(0)) {
  std::string text = std::string(what) + ": " + natsStatus_GetText(status);
  if (code != 0) text += " (JetStream error " + std::to_string(static_cast<int>(code)) + ")";
  if (const char* last = nats_GetLastError(nullptr); last != nullptr && *last != '\0') {
    text += ": ";
    text += last;
  }
  return text;
}

// Calls `attempt` until it succeeds, 300 ms apart, for up to 30 s: a cluster may still be electing its
// first leader, or a stream just created its replicas' leader. Each failure is said in the log (a start
// that waits here must show why); the last one is returned if none succeeded.
Status AskAgainFor30Seconds(const std::function<Status()>& attempt) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  Status status = attempt();
  while (!status.ok() && std::chrono::steady_clock::now() < deadline) {
    spdlog::warn("cluster: {}; asking again", status.message());
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    status = attempt();
  }
  return status;
}

std::string DefaultNodeName() {
  char host[256] = {};
  ::gethostname(host, sizeof(host) - 1);
  return std::string(host) + "." + std::to_string(::getpid());
}

}  // namespace

ClusterNode::ClusterNode(Engine* engine, ClusterOptions options)
    : engine_(engine),
      options_(std::move(options)),
      subject_(options_.stream + ".batches"),
      id_prefix_((options_.node.empty() ? DefaultNodeName() : options_.node) + "-" +
                 std::to_string(std::random_device{}()) + std::to_string(std::random_device{}()) + "-") {}

Result<std::unique_ptr<ClusterNode>> ClusterNode::Start(Engine* engine, ClusterOptions options) {
  if (options.urls.empty()) return Status::InvalidArgument("nats", "give at least one NATS server URL");
  if (options.stream.empty() || options.stream.find_first_of(" .*>\t") != std::string::npos)
    return Status::InvalidArgument("stream", "must be a name without spaces, '.', '*' or '>'");
  auto node = std::unique_ptr<ClusterNode>(new ClusterNode(engine, std::move(options)));
  TALLY_RETURN_IF_ERROR(node->Connect());
  TALLY_RETURN_IF_ERROR(AskAgainFor30Seconds([&] { return node->Subscribe(engine->stream_sequence()); }));
  node->follower_ = std::thread([raw = node.get()] { raw->Follow(); });
  // The first tip is fetched before the server listens, so /readyz can answer its first probe.
  node->tip_ = node->LastSequence();
  node->tip_started_ = node->tip_finished_ = 1;
  node->tip_fetcher_ = std::thread([raw = node.get()] { raw->FetchTips(); });
  return node;
}

ClusterNode::~ClusterNode() {
  stopping_ = true;
  applied_changed_.notify_all();
  {
    std::lock_guard lock(tip_mutex_);
    tip_asked_changed_.notify_all();
  }
  if (follower_.joinable()) follower_.join();
  if (tip_fetcher_.joinable()) tip_fetcher_.join();
  if (subscription_ != nullptr) natsSubscription_Destroy(subscription_);
  if (jetstream_ != nullptr) jsCtx_Destroy(jetstream_);
  if (connection_ != nullptr) natsConnection_Destroy(connection_);
  if (nats_options_ != nullptr) natsOptions_Destroy(nats_options_);
}

Status ClusterNode::Connect() {
  std::vector<const char*> urls;
  for (const std::string& url : options_.urls) urls.push_back(url.c_str());
  natsStatus status = natsOptions_Create(&nats_options_);
  if (status == NATS_OK)
    status = natsOptions_SetServers(nats_options_, urls.data(), static_cast<int>(urls.size()));
  if (status == NATS_OK) status = natsOptions_SetMaxReconnect(nats_options_, -1);
  if (status == NATS_OK) status = natsOptions_SetReconnectWait(nats_options_, 250);
  if (status == NATS_OK) status = natsOptions_SetRetryOnFailedConnect(nats_options_, true, nullptr, nullptr);
  if (status == NATS_OK) status = natsConnection_Connect(&connection_, nats_options_);
  if (status != NATS_OK) return Status::Unavailable(NatsError("nats: connect", status));
  jsOptions js_options;
  jsOptions_Init(&js_options);
  js_options.Wait = options_.publish_attempt_wait.count();
  status = natsConnection_JetStream(&jetstream_, connection_, &js_options);
  if (status != NATS_OK) return Status::Unavailable(NatsError("nats: JetStream context", status));

  return AskAgainFor30Seconds([&] { return FindOrCreateStream(); });
}

Status ClusterNode::FindOrCreateStream() {
  jsStreamInfo* info = nullptr;
  jsErrCode code = static_cast<jsErrCode>(0);
  natsStatus status = js_GetStreamInfo(&info, jetstream_, options_.stream.c_str(), nullptr, &code);
  if (status == NATS_OK) {
    jsStreamInfo_Destroy(info);
    return Status::Ok();
  }
  if (status == NATS_NOT_FOUND) {
    jsStreamConfig config;
    jsStreamConfig_Init(&config);
    config.Name = options_.stream.c_str();
    const char* subjects[] = {subject_.c_str()};
    config.Subjects = subjects;
    config.SubjectsLen = 1;
    config.Storage = js_FileStorage;
    config.Replicas = options_.replicas;
    config.Duplicates = 120 * kNanosPerSecond;  // re-sent batches are recognized for two minutes
    status = js_AddStream(&info, jetstream_, &config, nullptr, &code);
    if (status == NATS_OK) {
      spdlog::info("cluster: created stream {} ({} replicas) on subject {}", options_.stream,
                   options_.replicas, subject_);
      jsStreamInfo_Destroy(info);
      return Status::Ok();
    }
  }
  return Status::Unavailable(NatsError("nats: stream " + options_.stream, status, code));
}

Status ClusterNode::Subscribe(uint64_t after) {
  if (subscription_ != nullptr) {
    natsSubscription_Destroy(subscription_);
    subscription_ = nullptr;
  }
  jsSubOptions options;
  jsSubOptions_Init(&options);
  options.Stream = options_.stream.c_str();
  options.Ordered = true;
  if (after == 0) {
    options.Config.DeliverPolicy = js_DeliverAll;
  } else {
    options.Config.DeliverPolicy = js_DeliverByStartSequence;
    options.Config.OptStartSeq = after + 1;
  }
  jsErrCode code = static_cast<jsErrCode>(0);
  natsStatus status =
      js_SubscribeSync(&subscription_, jetstream_, subject_.c_str(), nullptr, &options, &code);
  if (status != NATS_OK)
    return Status::Unavailable(NatsError("nats: follow stream " + options_.stream, status, code));
  return Status::Ok();
}

void ClusterNode::Follow() {
  while (!stopping_) {
    if (subscription_ == nullptr) {
      if (Status subscribed = Subscribe(engine_->stream_sequence()); !subscribed.ok()) {
        spdlog::warn("cluster: {}; retrying", subscribed.message());
        std::this_thread::sleep_for(std::chrono::milliseconds(500));
        continue;
      }
    }
    natsMsg* message = nullptr;
    natsStatus status = natsSubscription_NextMsg(&message, subscription_, 200);
    if (status == NATS_TIMEOUT) continue;
    if (status != NATS_OK) {
      spdlog::warn("cluster: {}; following again from sequence {}", NatsError("nats: next message", status),
                   engine_->stream_sequence() + 1);
      natsSubscription_Destroy(subscription_);
      subscription_ = nullptr;
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      continue;
    }
    jsMsgMetaData* meta = nullptr;
    uint64_t sequence = 0;
    if (natsMsg_GetMetaData(&meta, message) == NATS_OK) {
      sequence = meta->Sequence.Stream;
      jsMsgMetaData_Destroy(meta);
    }
    if (sequence == 0 || sequence <= engine_->stream_sequence()) {  // not a stream message, or seen
      natsMsg_Destroy(message);
      continue;
    }
    const char* id = nullptr;
    if (natsMsgHeader_Get(message, "Nats-Msg-Id", &id) != NATS_OK) id = nullptr;
    const std::string_view frames(natsMsg_GetData(message),
                                  static_cast<size_t>(natsMsg_GetDataLength(message)));
    auto committed = engine_->CommitStreamBatch(sequence, frames);
    if (!committed.ok()) {
      // The local log could not take it (or the message is not tally's): stop here rather than skip it,
      // so that this node never answers from views that miss a message. /readyz says so.
      std::lock_guard lock(mutex_);
      follower_error_ = "sequence " + std::to_string(sequence) + ": " + committed.status().message();
      spdlog::error("cluster: cannot apply {}; this node stops following", follower_error_);
      natsMsg_Destroy(message);
      applied_changed_.notify_all();
      return;
    }
    {
      std::lock_guard lock(mutex_);
      if (id != nullptr) {
        if (auto waiter = waiters_.find(id); waiter != waiters_.end()) {
          waiter->second->applied = true;
          waiter->second->outcomes = std::move(committed->outcomes);
          waiter->second->end_lsn = committed->end_lsn;
        }
      }
    }
    natsMsg_Destroy(message);
    applied_changed_.notify_all();
  }
}

Result<Committed> ClusterNode::Commit(const IngestBatch& batch) {
  // Messages under JetStream's size limit, cut at record boundaries.
  std::vector<std::pair<size_t, size_t>> messages;  // [first record, end record)
  for (size_t first = 0; first < batch.size();) {
    const size_t start_byte = batch.frame_offsets()[first];
    size_t end = first;
    while (end < batch.size()) {
      const size_t record_end =
          end + 1 < batch.size() ? batch.frame_offsets()[end + 1] : batch.frames().size();
      if (record_end - start_byte > kMaxMessageBytes && end > first) break;  // one record always fits
      ++end;
    }
    messages.emplace_back(first, end);
    first = end;
  }
  std::vector<std::string> ids;
  std::vector<Waiter> waiters(messages.size());
  {
    std::lock_guard lock(mutex_);
    for (size_t i = 0; i < messages.size(); ++i) {
      ids.push_back(id_prefix_ + std::to_string(next_batch_++));
      waiters_[ids.back()] = &waiters[i];
    }
  }
  auto forget = [&] {
    std::lock_guard lock(mutex_);
    for (const std::string& id : ids) waiters_.erase(id);
  };
  const auto deadline = std::chrono::steady_clock::now() + options_.publish_deadline;
  for (size_t i = 0; i < messages.size(); ++i) {
    const auto [first, end] = messages[i];
    const size_t from = batch.frame_offsets()[first];
    const size_t to = end < batch.size() ? batch.frame_offsets()[end] : batch.frames().size();
    auto backoff = std::chrono::milliseconds(100);
    while (true) {
      jsPubOptions publish;
      jsPubOptions_Init(&publish);
      publish.MsgId = ids[i].c_str();
      publish.MaxWait = options_.publish_attempt_wait.count();
      jsPubAck* ack = nullptr;
      jsErrCode code = static_cast<jsErrCode>(0);
      natsStatus status = js_Publish(&ack, jetstream_, subject_.c_str(), batch.frames().data() + from,
                                     static_cast<int>(to - from), &publish, &code);
      if (status == NATS_OK) {
        jsPubAck_Destroy(ack);
        break;
      }
      if (std::chrono::steady_clock::now() + backoff >= deadline) {
        forget();
        return Status::Unavailable(
            NatsError("cluster: the stream did not acknowledge the batch", status, code));
      }
      std::this_thread::sleep_for(backoff);  // the same message id again: JetStream drops it if it arrived
      backoff = std::min(backoff * 2, std::chrono::milliseconds(1000));
    }
  }
  // Acknowledged by a quorum: now wait for this node to have applied it, so that the answer carries
  // this node's outcomes and the client reads its own writes here.
  Committed committed;
  std::unique_lock lock(mutex_);
  for (size_t i = 0; i < messages.size(); ++i) {
    const bool applied = applied_changed_.wait_for(lock, std::chrono::seconds(30), [&] {
      return waiters[i].applied || stopping_ || !follower_error_.empty();
    });
    if (!applied || !waiters[i].applied) {
      for (const std::string& id : ids) waiters_.erase(id);
      return Status::Unavailable("cluster: the batch is in the stream but this node has not applied it" +
                                 (follower_error_.empty() ? std::string() : " (" + follower_error_ + ")"));
    }
    committed.outcomes.insert(committed.outcomes.end(), waiters[i].outcomes.begin(),
                              waiters[i].outcomes.end());
    committed.end_lsn = waiters[i].end_lsn;
  }
  for (const std::string& id : ids) waiters_.erase(id);
  return committed;
}

Result<uint64_t> ClusterNode::LastSequence() {
  jsStreamInfo* info = nullptr;
  jsErrCode code = static_cast<jsErrCode>(0);
  natsStatus status = js_GetStreamInfo(&info, jetstream_, options_.stream.c_str(), nullptr, &code);
  if (status != NATS_OK) return Status::Unavailable(NatsError("nats: stream info", status, code));
  const uint64_t last = info->State.LastSeq;
  jsStreamInfo_Destroy(info);
  return last;
}

uint64_t ClusterNode::RequestStreamTip() {
  std::lock_guard lock(tip_mutex_);
  const uint64_t ticket = tip_started_ + 1;
  tip_asked_ = std::max(tip_asked_, ticket);
  tip_asked_changed_.notify_one();
  return ticket;
}

std::optional<Result<uint64_t>> ClusterNode::StreamTip(uint64_t ticket) {
  std::lock_guard lock(tip_mutex_);
  if (tip_finished_ == 0 || tip_finished_ < ticket) return std::nullopt;
  return tip_;
}

void ClusterNode::FetchTips() {
  std::unique_lock lock(tip_mutex_);
  while (!stopping_) {
    tip_asked_changed_.wait_for(lock, std::chrono::seconds(1),
                                [&] { return stopping_ || tip_asked_ > tip_started_; });
    if (stopping_) break;
    const uint64_t ticket = ++tip_started_;
    lock.unlock();
    Result<uint64_t> tip = LastSequence();
    lock.lock();
    tip_ = std::move(tip);
    tip_finished_ = ticket;
  }
}

Status ClusterNode::AppliedUpTo(uint64_t sequence) {
  std::lock_guard lock(mutex_);
  const uint64_t applied = engine_->stream_sequence();
  if (applied >= sequence && follower_error_.empty()) return Status::Ok();
  return Status::Unavailable("consistency: this node has applied stream sequence " + std::to_string(applied) +
                             " of " + std::to_string(sequence) +
                             (follower_error_.empty() ? "" : " (" + follower_error_ + ")") + "; retry");
}

}  // namespace tally

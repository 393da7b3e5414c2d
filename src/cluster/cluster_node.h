// Cluster mode: many tally servers on one NATS JetStream stream (../../docs/CLUSTER.md).
//
// The stream is the source of truth. Ingest on any node publishes its batch (the records' log frames,
// one JetStream message, Nats-Msg-Id = node, boot and batch number, so a re-sent batch is dropped by
// JetStream) and answers the client once JetStream acknowledged it and this node applied it. Every node
// follows the whole stream in order (an ordered consumer) and commits each message to its local log and
// views (Engine::CommitStreamBatch), so all nodes hold the same views at the same stream sequence; a
// restart resumes after the last sequence its local log holds.
#pragma once

#include <nats/nats.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "engine/engine.h"
#include "tally/status.h"

namespace tally {

struct ClusterOptions {
  std::vector<std::string> urls;
  std::string stream = "tally";
  int replicas = 3;
  std::string node;  // this server's name in message ids (default: host name and port)
  // How long ingest keeps re-sending a batch JetStream does not acknowledge (a leader election takes
  // 3-9 s here) before it answers 503.
  std::chrono::milliseconds publish_deadline{15'000};
  std::chrono::milliseconds publish_attempt_wait{2'000};
};

class ClusterNode : public Committer, public ReadConsistency {
 public:
  // Connects, creates the stream if it does not exist, and starts following it after the last sequence
  // the engine has applied.
  static Result<std::unique_ptr<ClusterNode>> Start(Engine* engine, ClusterOptions options);
  ~ClusterNode() override;
  ClusterNode(const ClusterNode&) = delete;
  ClusterNode& operator=(const ClusterNode&) = delete;

  // Publishes the batch and waits until this node has applied it; its outcomes are this node's.
  Result<Committed> Commit(const IngestBatch& batch) override;
  uint64_t RequestStreamTip() override;
  std::optional<Result<uint64_t>> StreamTip(uint64_t ticket) override;
  Status AppliedUpTo(uint64_t sequence) override;

  uint64_t applied_sequence() const { return engine_->stream_sequence(); }
  const std::string& subject() const { return subject_; }

 private:
  ClusterNode(Engine* engine, ClusterOptions options);
  // Connects and makes sure the stream exists (asking again while the cluster elects its leader).
  Status Connect();
  // One try: the stream's info, or the stream created if it does not exist.
  Status FindOrCreateStream();
  Result<uint64_t> LastSequence();
  void Follow();
  // The tip fetcher's thread: fetches the stream's last sequence when asked, and once a second.
  void FetchTips();
  Status Subscribe(uint64_t after);

  // Publishers waiting for their own message to be applied here, by message id.
  struct Waiter {
    bool applied = false;
    std::vector<ApplyOutcome> outcomes;
    uint64_t end_lsn = 0;
  };

  Engine* const engine_;
  const ClusterOptions options_;
  const std::string subject_;
  const std::string id_prefix_;  // node and boot: message ids never repeat across restarts
  std::atomic<uint64_t> next_batch_{1};
  natsOptions* nats_options_ = nullptr;
  natsConnection* connection_ = nullptr;
  jsCtx* jetstream_ = nullptr;
  natsSubscription* subscription_ = nullptr;  // the follower's only

  std::mutex mutex_;  // guards waiters_ and follower_error_
  std::condition_variable applied_changed_;
  std::unordered_map<std::string, Waiter*> waiters_;
  std::string follower_error_;
  std::atomic<bool> stopping_{false};
  std::thread follower_;

  // The stream's last sequence, fetched by tip_fetcher_ (a JetStream request is not made on a loop). Fetch
  // tickets count up: a caller asks for tip_started_ + 1, the first fetch to start after it asked.
  std::mutex tip_mutex_;
  std::condition_variable tip_asked_changed_;
  uint64_t tip_asked_ = 0;
  uint64_t tip_started_ = 0;
  uint64_t tip_finished_ = 0;
  Result<uint64_t> tip_ = Status::Unavailable("cluster: the stream's last sequence is not known yet");
  std::thread tip_fetcher_;
};

}  // namespace tally

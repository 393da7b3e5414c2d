// The HTTP edge: h2o event loops (one per thread) in front of one Engine.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engine/engine.h"
#include "http/client_address.h"
#include "http/keys.h"
#include "http/request_head.h"
#include "ingest/json_events.h"
#include "ingest/sdk_events.h"
#include "log/log_syncer.h"
#include "query/day_counts.h"
#include "tally/status.h"

namespace tally {

struct ServerOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 8080;  // 0: any free port (see Server::port())
  int threads = 1;
  SyncMode sync_mode = SyncMode::kInterval;
  std::chrono::milliseconds sync_interval{200};
  size_t max_body_bytes = 8u << 20;
  // A request (head and body) must arrive within this long, and a keep-alive connection silent this long
  // is closed: a client trickling bytes (slowloris) cannot hold a connection past it.
  std::chrono::milliseconds idle_timeout{10'000};
  RequestLimits request_limits;
  JsonLimits json_limits;
  SdkMapping sdk_mapping;            // which properties of an SDK's events are their product and store
  size_t max_connections = 10'000;   // beyond: the connection gets a 503 and is closed
  uint64_t ingest_rate = 1'000'000;  // events per second per key (or per address without keys); 0: none
  uint64_t ingest_burst = 0;         // 0: one second's worth
  // Reverse proxies whose X-Forwarded-For names the client for the per-address ingest rate.
  std::vector<Cidr> trusted_proxies;
  // Web origins ("https://shop.example") whose pages may call the API from a browser; "*": any.
  std::vector<std::string> cors_origins;
  std::chrono::milliseconds shutdown_grace{5'000};  // how long SIGTERM waits for open requests
  // Cluster mode: where ingest goes (null: the engine's local log) and how reads wait for the stream.
  Committer* committer = nullptr;
  // --retention: events in hours that ended longer ago are refused (0: none is).
  std::chrono::milliseconds retention{0};
  // API keys (null: no keys, the server is open).
  const KeyStore* keys = nullptr;
  ReadConsistency* consistency = nullptr;
  bool strong_reads_by_default = false;
  std::chrono::milliseconds strong_read_wait{5'000};
  // How long a question by product or store waits, right after a start, for the sealed hour files the
  // start found (Worker::ParkUntilSealedHourFiles) before it is answered from the rows instead.
  std::chrono::milliseconds sealed_files_wait{30'000};
  // What top lists keep of whole days' sums by key for the next list (query/day_counts.h); 0: none.
  size_t top_day_sums_bytes = DayCounts::kDefaultMaxBytes;
};

class Server {
 public:
  // Binds the listening socket (a port in use is an error here) and starts the event loops.
  static Result<std::unique_ptr<Server>> Start(Engine* engine, const ServerOptions& options);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  uint16_t port() const;
  // Stops accepting, answers every request already received (within the grace period), makes the log
  // durable, and returns when every loop has ended.
  void Shutdown();

  class Impl;

 private:
  explicit Server(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace tally

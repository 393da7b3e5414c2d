// tallyd: the tally server.
#include <signal.h>
#include <sys/resource.h>

#include <cstdio>
#include <string>
#include <thread>

#include <spdlog/pattern_formatter.h>
#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>

#include "cluster/cluster_node.h"
#include "common/host_port.h"
#include "engine/engine.h"
#include "http/server.h"

namespace {

using tally::Result;
using tally::Status;

// Log lines are `ts=... level=... msg="..."`: one line per record, the message quoted and escaped, so
// log shippers split them without guessing.
class QuotedMessage : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&, spdlog::memory_buf_t& out) override {
    out.push_back('"');
    for (const char c : std::string_view(msg.payload.data(), msg.payload.size())) {
      if (c == '"' || c == '\\') {
        out.push_back('\\');
        out.push_back(c);
      } else if (c == '\n') {
        out.append(std::string_view("\\n"));
      } else if (static_cast<unsigned char>(c) < 0x20) {
        out.push_back(' ');
      } else {
        out.push_back(c);
      }
    }
    out.push_back('"');
  }
  std::unique_ptr<custom_flag_formatter> clone() const override { return std::make_unique<QuotedMessage>(); }
};

void SetUpLogging(spdlog::level::level_enum level) {
  auto formatter = std::make_unique<spdlog::pattern_formatter>(spdlog::pattern_time_type::utc);
  formatter->add_flag<QuotedMessage>('*').set_pattern("ts=%Y-%m-%dT%H:%M:%S.%eZ level=%l msg=%*");
  spdlog::set_formatter(std::move(formatter));
  spdlog::set_level(level);
}

// Each connection is a file descriptor: the soft limit is raised toward --max-connections when it is
// lower, and a warning says so when the hard limit does not allow it.
void RaiseOpenFileLimit(size_t max_connections) {
  constexpr rlim_t kSpareFiles = 256;  // log segments, checkpoints, the listener, NATS
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) return;
  const rlim_t wanted = static_cast<rlim_t>(max_connections) + kSpareFiles;
  if (limit.rlim_cur >= wanted) return;
  limit.rlim_cur = std::min(wanted, limit.rlim_max);
  ::setrlimit(RLIMIT_NOFILE, &limit);
  if (limit.rlim_cur < wanted) {
    spdlog::warn("open files are limited to {} (ulimit -n): fewer than --max-connections {} can be served",
                 limit.rlim_cur, max_connections);
  }
}

// "30d", "720h" or "0" (keep everything).
Result<std::chrono::milliseconds> ParseRetention(const std::string& text) {
  const Status bad = Status::InvalidArgument(
      "--retention",
      "'" + text + "' is not a duration of whole hours or days (720h, 30d; 0 keeps everything)");
  if (text == "0") return std::chrono::milliseconds(0);
  if (text.size() < 2 || text.size() > 8) return bad;
  const char unit = text.back();
  if (unit != 'h' && unit != 'd') return bad;
  uint64_t count = 0;
  for (size_t i = 0; i + 1 < text.size(); ++i) {
    if (text[i] < '0' || text[i] > '9') return bad;
    count = count * 10 + static_cast<uint64_t>(text[i] - '0');
  }
  if (count == 0) return bad;
  return std::chrono::milliseconds(count * (unit == 'd' ? 24 : 1) * tally::kMillisPerHour);
}

int Fail(const std::string& message) {
  std::fprintf(stderr, "tallyd: %s\n", message.c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "tallyd: takes in user-interaction events, keeps every one in an append-only log, and answers "
      "exact analytics about them over HTTP."};
  std::string listen = "127.0.0.1:8080";
  std::string data_dir = "./tally-data";
  std::string sync = "interval";
  int threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  int idle_timeout_seconds = 10;
  size_t max_body_bytes = 8u << 20;
  uint64_t checkpoint_every = 1'000'000;
  uint32_t seal_after_seconds = 10;
  uint32_t seal_rows = 100'000;
  size_t top_day_sums_mib = tally::DayCounts::kDefaultMaxBytes >> 20;
  std::string retention_text = "0";
  int shards = 0;
  std::string nats_urls;
  tally::ClusterOptions cluster;
  std::string consistency = "local";
  std::string keys_path;
  std::string trusted_proxies;
  std::string log_level = "info";
  tally::ServerOptions options;
  app.add_option("--listen", listen,
                 "HOST:PORT to listen on ([::1]:PORT for IPv6, :PORT for every IPv4 interface; port 0: any "
                 "free port)")
      ->capture_default_str();
  app.add_option("--data", data_dir, "data directory (the event log lives in DIR/log)")
      ->capture_default_str();
  app.add_option("--sync", sync,
                 "interval: acked once written to the OS, fsync every 200 ms; always: acked after fsync "
                 "(group commit)")
      ->check(CLI::IsMember({"interval", "always"}))
      ->capture_default_str();
  app.add_option("--threads", threads, "HTTP event loops (default: one per core)")
      ->check(CLI::Range(1, 1024))
      ->capture_default_str();
  app.add_option("--shards", shards,
                 "parts the views are split into by a hash of the user id, applied in parallel (default: the "
                 "number of threads); answers are the same for any number")
      ->check(CLI::Range(1, static_cast<int>(tally::kMaxShards)));
  app.add_option("--idle-timeout", idle_timeout_seconds,
                 "seconds a request (head and body) may take to arrive, and a keep-alive connection may stay "
                 "silent; a client trickling bytes is cut off after it")
      ->check(CLI::Range(1, 3600))
      ->capture_default_str();
  app.add_option("--max-body-bytes", max_body_bytes, "largest request body accepted (larger: 413)")
      ->check(CLI::Range(size_t{1}, size_t{1} << 30))
      ->capture_default_str();
  app.add_option("--max-target-bytes", options.request_limits.max_target_bytes,
                 "longest request target (path and query) accepted (longer: 414)")
      ->check(CLI::Range(size_t{64}, size_t{64} << 10))
      ->capture_default_str();
  app.add_option("--max-header-count", options.request_limits.max_header_count,
                 "most header fields in a request (more: 431; h2o refuses more than 100 itself)")
      ->check(CLI::Range(size_t{8}, size_t{100}))
      ->capture_default_str();
  app.add_option("--max-header-bytes", options.request_limits.max_header_bytes,
                 "largest total of header names and values in a request (larger: 431)")
      ->check(CLI::Range(size_t{256}, size_t{256} << 10))
      ->capture_default_str();
  app.add_option("--max-json-depth", options.json_limits.max_depth,
                 "deepest nesting of objects and arrays in an event's properties (deeper: the event is "
                 "rejected)")
      ->check(CLI::Range(size_t{1}, size_t{512}))
      ->capture_default_str();
  app.add_option("--max-properties-bytes", options.json_limits.max_properties_bytes,
                 "largest properties object of an event (larger: the event is rejected)")
      ->check(CLI::Range(size_t{2}, size_t{1} << 20))
      ->capture_default_str();
  app.add_option("--max-events-per-request", options.json_limits.max_events,
                 "most events (valid or not) in one request body of any ingest API (more: 413, nothing "
                 "accepted)")
      ->check(CLI::Range(size_t{1}, size_t{1} << 20))
      ->capture_default_str();
  app.add_option("--max-connections", options.max_connections,
                 "most open client connections; one more is answered 503 and closed")
      ->check(CLI::Range(size_t{1}, size_t{1} << 20))
      ->capture_default_str();
  app.add_option("--ingest-rate", options.ingest_rate,
                 "events per second each API key (or each client address, without keys) may send; more: 429 "
                 "with Retry-After (0: no limit)")
      ->capture_default_str();
  app.add_option("--ingest-burst", options.ingest_burst,
                 "events a quiet client may send at once (default: one second of --ingest-rate)");
  app.add_option("--trusted-proxies", trusted_proxies,
                 "reverse proxies (CIDR,...) whose X-Forwarded-For names the client for the per-address "
                 "ingest rate; from any other peer the header is ignored");
  app.add_option("--product-property", options.sdk_mapping.product_property,
                 "the property of a Segment or PostHog event that is its product_id")
      ->capture_default_str();
  app.add_option("--store-property", options.sdk_mapping.store_property,
                 "the property of a Segment or PostHog event that is its store_id")
      ->capture_default_str();
  app.add_option("--cors-origins", options.cors_origins,
                 "web origins (https://shop.example) whose pages may call the API from a browser, e.g. with "
                 "the tracker; * for any. Other origins are refused with 403")
      ->delimiter(',');
  app.add_option("--log-level", log_level, "least severe log lines written")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "off"}))
      ->capture_default_str();
  app.set_config("--config", "",
                 "a TOML file whose keys are these flags' long names (listen = \"127.0.0.1:8080\", "
                 "max-connections = 100); flags on the command line win");
  tally::EngineOptions engine_options;
  app.add_option("--segment-bytes", engine_options.segment_bytes,
                 "size at which a log segment file is closed and the next one begun")
      ->check(CLI::Range(uint64_t{4096}, uint64_t{1} << 31))
      ->capture_default_str();
  bool skip_damaged_records = false;
  app.add_flag(
      "--skip-damaged-records", skip_damaged_records,
      "start even if a record in the middle of the newest log segment is damaged: its bytes are moved "
      "to a file beside the segment (SEGMENT.damaged-at-OFFSET) and every record after it is kept. "
      "Without it such damage stops the start, naming the file and byte");
  app.add_option("--checkpoint-every", checkpoint_every,
                 "write a checkpoint of the views after this many new log records, and at least a quarter of "
                 "what the last one covered (0: only at shutdown)")
      ->capture_default_str();
  app.add_option("--seal-after", seal_after_seconds,
                 "seconds an hour must go without a new or corrected event before it is sealed (its "
                 "per-product and per-store index built; a sealed hour with a few late or corrected "
                 "events, 60 times as long); 0: at the next pass, one a second")
      ->check(CLI::Range(0u, 86400u))
      ->capture_default_str();
  app.add_option("--seal-rows", seal_rows,
                 "an hour still receiving events is sealed once its rows not yet sealed reach this many and "
                 "at least as many as are sealed, so questions about a busy hour scan few rows (0: only "
                 "quiet hours are sealed)")
      ->capture_default_str();
  app.add_option("--top-day-sums-mib", top_day_sums_mib,
                 "memory top lists may keep of whole days' sums by product or store, summed once from the "
                 "day's sealed hours for the next list; past it the least recently used days go (0: none "
                 "kept)")
      ->check(CLI::Range(size_t{0}, size_t{1} << 20))
      ->capture_default_str();
  app.add_option(
         "--retention", retention_text,
         "keep the hours that ended less than this long ago (720h, 30d): older hours are dropped from "
         "the views, their sealed files and the log segments that hold nothing newer are deleted, and "
         "events for them are refused (0: keep everything)")
      ->capture_default_str();
  app.add_option(
      "--keys", keys_path,
      "API keys: a file of `name role secret` lines (role ingest, read or admin); every request but the "
      "health checks and public files then needs a key (Authorization: Bearer or Basic; Segment's and "
      "PostHog's ingest may carry it in the body). Reloaded on SIGHUP");
  app.add_option(
      "--nats", nats_urls,
      "cluster mode: NATS server URLs, comma-separated; the JetStream stream replaces the local log "
      "as the source of truth (docs/CLUSTER.md)");
  app.add_option("--stream", cluster.stream, "cluster mode: the JetStream stream's name")
      ->capture_default_str();
  app.add_option("--replicas", cluster.replicas,
                 "cluster mode: replicas of the stream when this node creates it")
      ->check(CLI::Range(1, 5))
      ->capture_default_str();
  app.add_option("--node", cluster.node, "cluster mode: this node's name in message ids (default: host.pid)");
  app.add_option(
         "--consistency", consistency,
         "cluster mode: reads without ?consistency= are local (answer from what this node applied) or "
         "strong (first wait until it applied the stream's last message)")
      ->check(CLI::IsMember({"local", "strong"}))
      ->capture_default_str();
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& help) {
    return app.exit(help);
  } catch (const CLI::ParseError& error) {
    return Fail(error.what());
  }
  SetUpLogging(spdlog::level::from_str(log_level));
  RaiseOpenFileLimit(options.max_connections);

  std::unique_ptr<tally::KeyStore> keys;
  if (!keys_path.empty()) {
    auto loaded = tally::KeyRing::LoadFile(keys_path);
    if (!loaded.ok()) return Fail(loaded.status().message());
    keys = std::make_unique<tally::KeyStore>(std::move(*loaded));
  }

  options.keys = keys.get();
  auto proxies = tally::ParseTrustedProxies(trusted_proxies);
  if (!proxies.ok()) return Fail(proxies.status().message());
  options.trusted_proxies = *proxies;
  auto listen_address = tally::ParseHostPort(listen, "--listen", tally::HostPortFor::kListening);
  if (!listen_address.ok()) return Fail(listen_address.status().message());
  options.host = listen_address->host;
  options.port = listen_address->port;
  options.threads = threads;
  options.sync_mode = sync == "always" ? tally::SyncMode::kAlways : tally::SyncMode::kInterval;
  options.idle_timeout = std::chrono::seconds(idle_timeout_seconds);
  options.max_body_bytes = max_body_bytes;
  auto retention = ParseRetention(retention_text);
  if (!retention.ok()) return Fail(retention.status().message());
  options.retention = *retention;
  options.top_day_sums_bytes = top_day_sums_mib << 20;

  // Signals are taken by this thread alone (sigwait below); every thread started later inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  ::signal(SIGPIPE, SIG_IGN);

  auto started_at = std::chrono::steady_clock::now();
  engine_options.data_dir = data_dir;
  engine_options.shards = static_cast<uint32_t>(shards > 0 ? shards : std::min(threads, 64));
  engine_options.skip_damaged_records = skip_damaged_records;
  auto engine = tally::Engine::Open(engine_options);
  if (!engine.ok()) return Fail(engine.status().message());
  const tally::StartReport& start = (*engine)->start_report();
  const tally::RecoveryReport& recovery = start.log;
  for (const std::string& skipped : start.checkpoints_skipped)
    spdlog::warn("checkpoint not used: {}", skipped);
  if (start.cold_chunk_bytes_adopted > 0) {
    spdlog::info("{} MiB of the checkpoint's chunks used where they are in the cold chunk file",
                 start.cold_chunk_bytes_adopted >> 20);
  }
  for (const std::string& saved_to : recovery.skipped_saved_to)
    spdlog::warn("log recovery skipped damaged bytes (--skip-damaged-records); they are kept in {}",
                 saved_to);
  if (recovery.cut_bytes > 0) {
    spdlog::warn("log recovery cut {} bytes ({}); they are kept in {}", recovery.cut_bytes,
                 recovery.cut_reason, recovery.cut_saved_to);
  }
  // A data directory holds either an embedded server's log or a cluster node's copy of the stream: mixing
  // them would put events in the views that the stream (and so every other node) does not have.
  const bool holds_stream = (*engine)->stream_sequence() > 0;
  if (holds_stream && nats_urls.empty())
    return Fail("data directory " + data_dir +
                " holds a cluster node's copy of a stream: start it with --nats");
  if (!holds_stream && (*engine)->log().next_lsn() > 0 && !nats_urls.empty())
    return Fail("data directory " + data_dir +
                " holds an embedded server's log: a cluster node needs its own");
  std::unique_ptr<tally::ClusterNode> cluster_node;
  if (!nats_urls.empty()) {
    for (size_t at = 0; at <= nats_urls.size();) {
      const size_t comma = std::min(nats_urls.find(',', at), nats_urls.size());
      if (comma > at) cluster.urls.push_back(nats_urls.substr(at, comma - at));
      at = comma + 1;
    }
    auto node = tally::ClusterNode::Start(engine->get(), cluster);
    if (!node.ok()) return Fail(node.status().message());
    cluster_node = std::move(*node);
    spdlog::info("cluster: following stream {} from sequence {}", cluster.stream,
                 (*engine)->stream_sequence() + 1);
    options.committer = cluster_node.get();
    options.consistency = cluster_node.get();
    options.strong_reads_by_default = consistency == "strong";
  }
  auto server = tally::Server::Start(engine->get(), options);
  if (!server.ok()) return Fail(server.status().message());
  auto ready_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started_at)
          .count();
  if (start.checkpoint_lsn > 0) {
    spdlog::info("loaded checkpoint {} (records 0..{}), replayed {} records after it; {} records in {} ms",
                 start.checkpoint_path, start.checkpoint_lsn, start.replayed, recovery.records, ready_ms);
  } else {
    spdlog::info("recovered {} records from {} segment(s) in {} ms", recovery.records, recovery.segments,
                 ready_ms);
  }
  const std::string listening_on = tally::FormatHostPort({options.host, (*server)->port()});
  spdlog::info("tallyd listening on {} (data {}, sync {}, {} thread(s), {} shard(s))", listening_on, data_dir,
               sync, threads, engine_options.shards);
  if (keys) {
    spdlog::info("{} API key(s) from {}; SIGHUP reloads the file", keys->Get()->size(), keys_path);
  } else {
    spdlog::warn("no API keys are configured: the server is open to anyone who can reach {}", listening_on);
  }

  auto checkpointer =
      checkpoint_every > 0 ? std::make_unique<tally::Checkpointer>(engine->get(), checkpoint_every) : nullptr;
  auto sealer = std::make_unique<tally::Sealer>(engine->get(), seal_after_seconds, seal_rows);
  auto retainer = options.retention.count() > 0
                      ? std::make_unique<tally::Retainer>(
                            engine->get(),
                            cluster_node ? static_cast<tally::Committer*>(cluster_node.get())
                                         : static_cast<tally::Committer*>(engine->get()),
                            options.retention)
                      : nullptr;

  int signal_number = 0;
  while (sigwait(&signals, &signal_number) == 0 && signal_number == SIGHUP) {
    if (!keys) {
      spdlog::info("SIGHUP: no --keys file to reload");
      continue;
    }
    // A file that does not parse changes nothing: the keys in force stay.
    auto reloaded = tally::KeyRing::LoadFile(keys_path);
    if (!reloaded.ok()) {
      spdlog::error("SIGHUP: {} not reloaded, the previous keys stay: {}", keys_path,
                    reloaded.status().message());
      continue;
    }
    spdlog::info("SIGHUP: {} API key(s) reloaded from {}", reloaded->size(), keys_path);
    keys->Replace(std::move(*reloaded));
  }
  spdlog::info("signal {} received: no new connections, finishing requests in flight", signal_number);
  (*server)->Shutdown();
  server->reset();
  retainer.reset();
  cluster_node.reset();
  checkpointer.reset();
  sealer.reset();
  // A checkpoint at a clean stop makes the next start load it instead of replaying the log.
  if (tally::Status written = (*engine)->Checkpoint(); !written.ok()) {
    spdlog::error("checkpoint at shutdown failed (the next start replays the log): {}", written.message());
  }
  engine->reset();
  spdlog::info("stopped cleanly; the log is durable");
  return 0;
}

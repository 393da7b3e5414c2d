// tally: the command line for people at a terminal. Subcommands:
//   tally replay --data DIR [--upto N]   rebuild all views from the log into a fresh state, print a digest
//   tally load [--batch N] [...]         send events to a server, report events/s and latency
//   tally generate --events N --out F    write a deterministic data set as NDJSON
//   tally stats | top | user | send      ask a running server, or send it events
//   tally export --data DIR              every event of a range, as NDJSON or CSV, for a warehouse
#include <cinttypes>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <string>
#include <tuple>

#include <CLI/CLI.hpp>

#include "common/clock.h"
#include "common/host_port.h"
#include "engine/engine.h"
#include "ingest/query_string.h"
#include "tools/tally/commands.h"
#include "tools/tally/export.h"
#include "tools/tally/load.h"

namespace {

void AddMixOptions(CLI::App* command, tally::EventMixOptions* mix) {
  command->add_option("--seed", mix->seed, "the data's seed: the same seed sends the same events")
      ->capture_default_str();
  command->add_option("--users", mix->users, "distinct users")->capture_default_str();
  command->add_option("--products", mix->products, "distinct products")->capture_default_str();
  command->add_option("--stores", mix->stores, "distinct stores")->capture_default_str();
  command->add_option("--impressions", mix->impression_share, "share of impressions (0..1)")
      ->capture_default_str();
  command->add_option("--late", mix->late_share, "share of late events, 1-24 hours old (0..1)")
      ->capture_default_str();
  command->add_option("--duplicates", mix->duplicate_share, "share of events repeating an earlier id (0..1)")
      ->capture_default_str();
  command->add_option("--spread-hours", mix->spread, "stamp events over this many hours before now (0: now)");
  command->add_option("--now", mix->now,
                      "the time events are stamped around, ms (default: the clock); with it the "
                      "same options give the same events");
}

void AddServerOption(CLI::App* command, std::string* server) {
  command->add_option("--server", *server, "HOST:PORT of the server (localhost:8080, [::1]:8080)")
      ->capture_default_str();
}

void AddRemoteOptions(CLI::App* command, tally::Remote* remote, std::string* server) {
  AddServerOption(command, server);
  command->add_option("--key", remote->key, "an API key's secret (when the server has keys); or TALLY_KEY")
      ->envname("TALLY_KEY");
  command->add_flag("--json", remote->json, "print the server's JSON answer as it is");
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"tally: the tally command line"};
  app.require_subcommand(1);

  CLI::App* replay = app.add_subcommand(
      "replay",
      "Rebuild every view from the event log, without changing it (safe while tallyd runs), and print a "
      "digest. Compare it with GET /v1/admin/digest: the same LSN must give the same digest.");
  std::string data_dir = "./tally-data";
  uint64_t upto = UINT64_MAX;
  replay->add_option("--data", data_dir, "data directory")->capture_default_str();
  replay->add_option("--upto", upto, "replay only the first N records (the lsn a server reported)");
  uint32_t replay_shards = 1;
  replay
      ->add_option("--shards", replay_shards,
                   "split the views into this many shards (the digest is the same)")
      ->check(CLI::Range(1u, tally::kMaxShards))
      ->capture_default_str();

  // One --server for the subcommands that talk to a server (one subcommand runs), so they share its default
  // and ParseHostPort reads it in one place, once the command line is parsed.
  std::string server = "127.0.0.1:8080";
  tally::LoadOptions load_options;
  CLI::App* load =
      app.add_subcommand("load", "Send events to a tally server and report events/s and latency");
  AddServerOption(load, &server);
  load->add_option("--connections", load_options.connections, "connections, each with one request in flight")
      ->capture_default_str();
  load->add_option("--batch", load_options.batch,
                   "events per POST /v1/events (NDJSON); 0: POST /analytics, one each")
      ->capture_default_str();
  load->add_option("--events", load_options.events,
                   "stop after this many events (default: run for --seconds)");
  load->add_option("--seconds", load_options.seconds, "how long to run")->capture_default_str();
  load->add_option("--rate", load_options.rate,
                   "events per second to aim for (default: as fast as possible)");
  AddMixOptions(load, &load_options.mix);

  tally::EventMixOptions generate_mix;
  uint64_t generate_events = 1'000'000;
  std::string generate_out;
  std::string generate_format = "ndjson";
  CLI::App* generate = app.add_subcommand("generate", "Write a deterministic data set of events as NDJSON");
  generate->add_option("--events", generate_events, "how many events")->capture_default_str();
  generate->add_option("--out", generate_out, "the file to write")->required();
  generate
      ->add_option("--format", generate_format,
                   "ndjson, or csv: event_id,type,user_id,timestamp,product_id,store_id")
      ->check(CLI::IsMember({"ndjson", "csv"}))
      ->capture_default_str();
  bool generate_in_time_order = false;
  generate->add_flag("--in-time-order", generate_in_time_order,
                     "stamp the events in the order they are written, evenly over --spread-hours, as a live "
                     "stream arrives (--late sets some back); without it each is stamped anywhere in the "
                     "spread, a shuffled backfill");
  AddMixOptions(generate, &generate_mix);

  tally::Remote remote;
  tally::StatsQuery stats_query;
  CLI::App* stats = app.add_subcommand("stats", "Events and exact unique users per hour (or day) of a range");
  stats->add_option("--from", stats_query.from, "start, inclusive: ms or RFC 3339 (2026-11-01T00:00:00Z)")
      ->required();
  stats->add_option("--to", stats_query.to, "end, exclusive: ms or RFC 3339")->required();
  stats->add_option("--bucket", stats_query.bucket, "hour, day or all")
      ->check(CLI::IsMember({"hour", "day", "all"}))
      ->capture_default_str();
  stats->add_option("--type", stats_query.type, "only this event type");
  stats->add_option("--product", stats_query.product_id, "only this product");
  stats->add_option("--store", stats_query.store_id, "only this store");
  AddRemoteOptions(stats, &remote, &server);

  tally::TopQuery top_query;
  CLI::App* top = app.add_subcommand("top", "The top products or stores by events, with exact unique users");
  top->add_option("--by", top_query.by, "product_id or store_id")
      ->check(CLI::IsMember({"product_id", "store_id"}))
      ->capture_default_str();
  top->add_option("--hours", top_query.hours, "the last N hours (default 24 unless --from/--to)");
  top->add_option("--from", top_query.from, "start, inclusive: ms or RFC 3339");
  top->add_option("--to", top_query.to, "end, exclusive: ms or RFC 3339");
  top->add_option("--type", top_query.type, "only this event type");
  top->add_option("--limit", top_query.limit, "how many (1-1000)")->capture_default_str();
  AddRemoteOptions(top, &remote, &server);

  std::string user_id;
  int user_limit = 50;
  CLI::App* user = app.add_subcommand("user", "A user's events, newest first");
  user->add_option("user_id", user_id, "the user's id")->required();
  user->add_option("--limit", user_limit, "how many (1-1000)")->capture_default_str();
  AddRemoteOptions(user, &remote, &server);

  std::string send_path = "-";
  int send_batch = 1000;
  CLI::App* send = app.add_subcommand(
      "send",
      "Send NDJSON events (a file, or standard input) to a server in batches, retrying when it is busy");
  send->add_option("file", send_path, "the NDJSON file; - for standard input")->capture_default_str();
  send->add_option("--batch", send_batch, "events per request")
      ->check(CLI::Range(1, 100000))
      ->capture_default_str();
  AddRemoteOptions(send, &remote, &server);

  std::string export_from, export_to, export_format = "ndjson", export_out;
  std::string export_data = "./tally-data";
  CLI::App* export_command = app.add_subcommand(
      "export",
      "Write every event of a time range (current versions: duplicates dropped, corrections applied) as "
      "NDJSON "
      "or CSV, read from the data directory's log without changing it (safe while tallyd runs); for loading "
      "into a warehouse such as BigQuery, Snowflake or ClickHouse");
  export_command->add_option("--data", export_data, "data directory")->capture_default_str();
  export_command->add_option("--from", export_from, "start, inclusive, by event time: ms or RFC 3339");
  export_command->add_option("--to", export_to, "end, exclusive: ms or RFC 3339");
  export_command->add_option("--format", export_format, "ndjson or csv")
      ->check(CLI::IsMember({"ndjson", "csv"}))
      ->capture_default_str();
  export_command->add_option("--out", export_out, "the file to write (default: standard output)");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    return app.exit(error);
  }

  for (CLI::App* talks_to_server : {load, stats, top, user, send}) {
    if (!talks_to_server->parsed()) continue;
    auto address = tally::ParseHostPort(server, "--server", tally::HostPortFor::kConnecting);
    if (!address.ok()) {
      std::fprintf(stderr, "tally %s: %s\n", talks_to_server->get_name().c_str(),
                   address.status().message().c_str());
      return 1;
    }
    remote.server = *address;
    load_options.host = address->host;
    load_options.port = address->port;
  }
  if (load->parsed() || generate->parsed()) {
    tally::EventMixOptions& mix = load->parsed() ? load_options.mix : generate_mix;
    if (mix.now == 0) mix.now = tally::WallClockMillis();
    mix.spread *= tally::kMillisPerHour;  // given in hours
  }
  if (generate->parsed() && generate_in_time_order) generate_mix.in_time_order = generate_events;
  if (load->parsed()) {
    tally::LoadReport report;
    tally::Status status = tally::RunLoad(load_options, &report);
    if (!status.ok()) {
      std::fprintf(stderr, "tally load: %s\n", status.message().c_str());
      return 1;
    }
    std::fputs(tally::FormatReport(load_options, report).c_str(), stdout);
    return report.failures.empty() ? 0 : 1;
  }
  if (generate->parsed()) {
    std::ofstream out(generate_out, std::ios::binary);
    tally::EventMix mix(generate_mix);
    std::string chunk;
    for (uint64_t i = 0; i < generate_events; ++i) {
      if (generate_format == "csv") {
        mix.AppendCsv(&chunk);
      } else {
        mix.AppendJson(&chunk);
      }
      chunk.push_back('\n');
      if (chunk.size() > (1u << 20)) {
        out << chunk;
        chunk.clear();
      }
    }
    out << chunk;
    if (!out) {
      std::fprintf(stderr, "tally generate: cannot write %s\n", generate_out.c_str());
      return 1;
    }
    std::printf("wrote %" PRIu64 " events to %s\n", generate_events, generate_out.c_str());
    return 0;
  }
  if (stats->parsed()) return tally::RunStats(remote, stats_query);
  if (top->parsed()) {
    if (top_query.hours == 0 && top_query.from.empty() && top_query.to.empty()) top_query.hours = 24;
    return tally::RunTop(remote, top_query);
  }
  if (user->parsed()) return tally::RunUser(remote, user_id, user_limit);
  if (send->parsed()) return tally::RunSend(remote, send_path, send_batch);
  if (export_command->parsed()) {
    tally::ExportOptions options;
    options.data_dir = export_data;
    options.format = export_format == "csv" ? tally::ExportFormat::kCsv : tally::ExportFormat::kNdjson;
    for (auto [text, field, out] :
         {std::tuple{&export_from, "--from", &options.from}, std::tuple{&export_to, "--to", &options.to}}) {
      if (text->empty()) continue;
      auto parsed = tally::ParseTimeParam(field, *text, tally::kMaxTimestampMillis);
      if (!parsed.ok()) {
        std::fprintf(stderr, "tally export: %s\n", parsed.status().message().c_str());
        return 1;
      }
      *out = *parsed;
    }
    std::ofstream file;
    if (!export_out.empty()) file.open(export_out, std::ios::binary);
    auto exported = tally::ExportEvents(options, export_out.empty() ? std::cout : file);
    if (!exported.ok()) {
      std::fprintf(stderr, "tally export: %s\n", exported.status().message().c_str());
      return 1;
    }
    std::fprintf(stderr, "tally export: %" PRIu64 " events\n", *exported);
    return 0;
  }
  if (replay->parsed()) {
    auto result = tally::ReplayLog(data_dir, upto, replay_shards);
    if (!result.ok()) {
      std::fprintf(stderr, "tally replay: %s\n", result.status().message().c_str());
      return 1;
    }
    if (upto != UINT64_MAX && result->records < upto) {
      std::fprintf(stderr, "tally replay: the log holds only %" PRIu64 " intact records, not %" PRIu64 "\n",
                   result->records, upto);
      return 1;
    }
    std::printf("lsn %" PRIu64 "\ndigest %016" PRIx64 "\n", result->records, result->digest);
    if (!result->stopped_at.empty())
      std::fprintf(stderr, "tally replay: stopped at %s\n", result->stopped_at.c_str());
  }
  return 0;
}

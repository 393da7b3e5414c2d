// The command line's commands that talk to a running server: stats, top, user, send.
#pragma once

#include <cstdint>
#include <string>

#include "common/host_port.h"

namespace tally {

struct Remote {
  HostPort server;
  std::string key;    // a bearer secret, when the server has keys
  bool json = false;  // print the server's JSON instead of a table
};

struct StatsQuery {
  std::string from, to, bucket = "hour", type, product_id, store_id;
};
struct TopQuery {
  std::string by = "product_id", from, to, type;
  int hours = 0;
  int limit = 10;
};

// Each returns the process's exit code, having printed the answer (stdout) or the error (stderr).
int RunStats(const Remote& remote, const StatsQuery& query);
int RunTop(const Remote& remote, const TopQuery& query);
int RunUser(const Remote& remote, const std::string& user_id, int limit);
// Sends NDJSON events from `path` ("-": standard input) in batches, with progress on standard error.
int RunSend(const Remote& remote, const std::string& path, int batch);

}  // namespace tally

// Runs the real build/tallyd as a child process for HTTP tests.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace tally::testing {

// A loopback TCP port free at the time of the call, outside the range outgoing connections take theirs
// from (for servers whose port must be known in advance).
uint16_t FreePort();

// A fresh directory under /tmp removed at destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

class TallydProcess {
 public:
  // Starts tallyd with `args` (plus "--listen 127.0.0.1:0" unless args choose one) and waits until it
  // listens. Returns null and fills `error` (with its log) if it exits or does not listen in time.
  static std::unique_ptr<TallydProcess> Start(const std::vector<std::string>& args,
                                              std::string* error = nullptr);
  ~TallydProcess();

  uint16_t port() const { return port_; }
  pid_t pid() const { return pid_; }
  // SIGTERM, then waits; returns the exit code (or 128 + signal).
  int Terminate(std::chrono::seconds timeout = std::chrono::seconds(20));
  void KillNine();
  std::string Log() const;

 private:
  TallydProcess() = default;
  pid_t pid_ = -1;
  uint16_t port_ = 0;
  std::string log_path_;
};

struct ExitResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr
};

// Runs tallyd to its end (for flag and start-up errors).
ExitResult RunTallydToExit(const std::vector<std::string>& args,
                           std::chrono::seconds timeout = std::chrono::seconds(20));

}  // namespace tally::testing

// Real nats-server processes (Debian's package) forming a JetStream cluster on loopback, for tests.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace tally::testing {

class NatsCluster {
 public:
  // Writes one config per node under `directory` (ports picked free); starts nothing yet.
  NatsCluster(std::string directory, int nodes);
  ~NatsCluster();
  NatsCluster(const NatsCluster&) = delete;
  NatsCluster& operator=(const NatsCluster&) = delete;

  // Starts every node and waits for a JetStream meta leader; false with `error` (and the logs) if not.
  bool Start(std::string* error);
  void StartNode(int node);
  void KillNine(int node);
  // SIGSTOP and SIGCONT: a server that takes connections' bytes and answers nothing, as a hung one does.
  void Pause(int node);
  void Resume(int node);
  int size() const { return static_cast<int>(nodes_.size()); }
  // "nats://127.0.0.1:p1,nats://127.0.0.1:p2,..."
  std::string Urls() const;
  // The node leading `stream`'s Raft group, or -1 (asked over each node's monitoring port).
  int StreamLeader(const std::string& stream) const;
  std::string Logs() const;

 private:
  struct Node {
    std::string name, config, log;
    uint16_t client_port = 0, cluster_port = 0, monitor_port = 0;
    pid_t pid = -1;
  };
  // Picks free ports and writes each node's config.
  void WriteConfigs();
  // Starts every node, and waits for a meta leader unless one exits.
  enum class Started { kReady, kNodeExited, kTimedOut };
  Started StartOnce(std::string* error);
  // Whether a node's process has exited (it is reaped).
  bool AnyNodeExited();

  std::string directory_;
  std::vector<Node> nodes_;
};

}  // namespace tally::testing

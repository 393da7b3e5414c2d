#include "nats_cluster.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <simdjson.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "http_client.h"
#include "tallyd_process.h"

namespace tally::testing {
namespace {

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream contents;
  contents << in.rdbuf();
  return contents.str();
}

}  // namespace

NatsCluster::NatsCluster(std::string directory, int nodes) : directory_(std::move(directory)) {
  nodes_.resize(nodes);
  WriteConfigs();
}

void NatsCluster::WriteConfigs() {
  for (int i = 0; i < size(); ++i) {
    Node& node = nodes_[i];
    node.name = std::string("n").append(std::to_string(i + 1));
    node.client_port = FreePort();
    node.cluster_port = FreePort();
    node.monitor_port = FreePort();
    node.config = directory_ + "/" + node.name + ".conf";
    node.log = directory_ + "/" + node.name + ".log";
  }
  for (const Node& node : nodes_) {
    std::string routes;
    for (const Node& other : nodes_)
      routes += (routes.empty() ? "" : ",") + std::string("\"nats-route://127.0.0.1:") +
                std::to_string(other.cluster_port) + "\"";
    std::ofstream config(node.config);
    config << "server_name: " << node.name << "\n"
           << "listen: 127.0.0.1:" << node.client_port << "\n"
           << "http: 127.0.0.1:" << node.monitor_port << "\n"
           << "jetstream { store_dir: \"" << directory_ << "/" << node.name
           << "\", max_memory_store: 64MB, max_file_store: 1GB }\n"
           << "cluster { name: C1, listen: 127.0.0.1:" << node.cluster_port << ", routes: [" << routes
           << "] }\n";
  }
}

NatsCluster::~NatsCluster() {
  for (int i = 0; i < static_cast<int>(nodes_.size()); ++i) KillNine(i);
}

void NatsCluster::StartNode(int index) {
  Node& node = nodes_[index];
  if (node.pid > 0) return;
  pid_t pid = ::fork();
  if (pid == 0) {
    ::execlp("nats-server", "nats-server", "-c", node.config.c_str(), "-l", node.log.c_str(), nullptr);
    ::_exit(127);
  }
  node.pid = pid;
}

void NatsCluster::KillNine(int index) {
  Node& node = nodes_[index];
  if (node.pid <= 0) return;
  ::kill(node.pid, SIGKILL);
  ::waitpid(node.pid, nullptr, 0);
  node.pid = -1;
}

void NatsCluster::Pause(int index) {
  if (nodes_[index].pid > 0) ::kill(nodes_[index].pid, SIGSTOP);
}

void NatsCluster::Resume(int index) {
  if (nodes_[index].pid > 0) ::kill(nodes_[index].pid, SIGCONT);
}

bool NatsCluster::Start(std::string* error) {
  // A port picked free may be taken before its server binds it (by another test's connection, whose local
  // port comes from the same range): a server that exits at once is started again, with new ports.
  constexpr int kAttempts = 3;
  for (int attempt = 1; attempt <= kAttempts; ++attempt) {
    const Started started = StartOnce(error);
    if (started != Started::kNodeExited) return started == Started::kReady;
    if (attempt < kAttempts) {
      for (int i = 0; i < size(); ++i) {
        KillNine(i);
        std::filesystem::remove_all(directory_ + "/" + nodes_[i].name);  // its store, from the old ports
      }
      WriteConfigs();
    }
  }
  return false;
}

bool NatsCluster::AnyNodeExited() {
  bool exited = false;
  for (Node& node : nodes_) {
    if (node.pid > 0 && ::waitpid(node.pid, nullptr, WNOHANG) == node.pid) {
      node.pid = -1;
      exited = true;
    }
  }
  return exited;
}

NatsCluster::Started NatsCluster::StartOnce(std::string* error) {
  for (int i = 0; i < static_cast<int>(nodes_.size()); ++i) StartNode(i);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < deadline) {
    if (AnyNodeExited()) {
      *error = "a nats-server exited at start\n" + Logs();
      return Started::kNodeExited;
    }
    // Every server must know the meta leader: a stream is created through whichever one a tallyd reaches.
    bool all_know_leader = true;
    for (const Node& node : nodes_) {
      auto jsz = Fetch(node.monitor_port, "GET", "/jsz");
      if (!jsz || jsz->status != 200 || jsz->body.find("\"leader\"") == std::string::npos) {
        all_know_leader = false;
        break;
      }
    }
    if (all_know_leader) return Started::kReady;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  *error =
      "not every server knows a JetStream meta leader within 30 s (is nats-server installed?)\n" + Logs();
  return Started::kTimedOut;
}

std::string NatsCluster::Urls() const {
  std::string urls;
  for (const Node& node : nodes_)
    urls += (urls.empty() ? "" : ",") + std::string("nats://127.0.0.1:") + std::to_string(node.client_port);
  return urls;
}

int NatsCluster::StreamLeader(const std::string& stream) const {
  for (const Node& node : nodes_) {
    if (node.pid <= 0) continue;
    auto jsz = Fetch(node.monitor_port, "GET", "/jsz?streams=true");
    if (!jsz || jsz->status != 200) continue;
    // {"account_details":[{"stream_detail":[{"name":..., "cluster":{"leader":...}}]}]}
    simdjson::dom::parser parser;
    simdjson::dom::element root;
    if (parser.parse(jsz->body).get(root) != simdjson::SUCCESS) continue;
    std::string name;
    simdjson::dom::array accounts;
    if (root["account_details"].get(accounts) != simdjson::SUCCESS) continue;
    for (simdjson::dom::element account : accounts) {
      simdjson::dom::array streams;
      if (account["stream_detail"].get(streams) != simdjson::SUCCESS) continue;
      for (simdjson::dom::element detail : streams) {
        std::string_view detail_name, leader;
        if (detail["name"].get(detail_name) == simdjson::SUCCESS && detail_name == stream &&
            detail["cluster"]["leader"].get(leader) == simdjson::SUCCESS) {
          name = std::string(leader);
        }
      }
    }
    for (int i = 0; i < static_cast<int>(nodes_.size()); ++i) {
      if (nodes_[i].name == name) return i;
    }
  }
  return -1;
}

std::string NatsCluster::Logs() const {
  std::string logs;
  for (const Node& node : nodes_) logs += "--- " + node.name + "\n" + ReadFile(node.log);
  return logs;
}

}  // namespace tally::testing

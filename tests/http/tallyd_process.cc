#include "tallyd_process.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>

#include "http_client.h"

namespace tally::testing {
namespace {

namespace fs = std::filesystem;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string UniqueName(const std::string& prefix) {
  static std::atomic<int> counter{0};
  return (fs::temp_directory_path() / (prefix + std::to_string(::getpid()) + "-" + std::to_string(counter++)))
      .string();
}

pid_t Spawn(const std::vector<std::string>& args, const std::string& output_path) {
  pid_t pid = ::fork();
  if (pid != 0) return pid;
  int fd = ::open(output_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  ::dup2(fd, STDOUT_FILENO);
  ::dup2(fd, STDERR_FILENO);
  std::vector<char*> argv;
  argv.push_back(const_cast<char*>(TALLYD_PATH));
  for (const std::string& arg : args) argv.push_back(const_cast<char*>(arg.c_str()));
  argv.push_back(nullptr);
  ::execv(TALLYD_PATH, argv.data());
  ::_exit(127);
}

// Waits for `pid` up to `timeout`; returns the exit code, 128 + signal, or -1 if it is still running.
int WaitFor(pid_t pid, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    int status = 0;
    pid_t done = ::waitpid(pid, &status, WNOHANG);
    if (done == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    if (std::chrono::steady_clock::now() >= deadline) return -1;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

}  // namespace

uint16_t FreePort() {
  // Below the kernel's ephemeral range (32768 on by default), which every outgoing connection takes its
  // port from: a port the kernel hands out (bind to 0) could be taken by another test's connection
  // before the server binds it. Random, so that tests running at once rarely try the same one.
  thread_local std::mt19937 random(std::random_device{}());
  for (int attempt = 0; attempt < 1000; ++attempt) {
    const auto port = static_cast<uint16_t>(20000 + random() % 12000);
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = htons(port);
    const bool bound = ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0;
    ::close(fd);
    if (bound) return port;
  }
  ADD_FAILURE() << "no free port below the ephemeral range";
  return 0;
}

TempDir::TempDir() : path_(UniqueName("tally-http-test-")) { fs::create_directories(path_); }
TempDir::~TempDir() { fs::remove_all(path_); }

std::unique_ptr<TallydProcess> TallydProcess::Start(const std::vector<std::string>& args,
                                                    std::string* error) {
  std::vector<std::string> full_args = args;
  bool has_listen = false;
  uint16_t fixed_port =
      0;  // with a --listen port, a connection that succeeds shows it listens (any log level)
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] != "--listen") continue;
    has_listen = true;
    if (i + 1 < args.size())
      fixed_port = static_cast<uint16_t>(std::stoi(args[i + 1].substr(args[i + 1].rfind(':') + 1)));
  }
  if (!has_listen) {
    full_args.push_back("--listen");
    full_args.push_back("127.0.0.1:0");
  }
  auto process = std::unique_ptr<TallydProcess>(new TallydProcess());
  process->log_path_ = UniqueName("tallyd-log-");
  process->pid_ = Spawn(full_args, process->log_path_);

  const std::string marker = "tallyd listening on ";
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < deadline) {
    std::string log = ReadFile(process->log_path_);
    size_t at = log.find(marker);
    if (at != std::string::npos) {
      size_t space = log.find(' ', at + marker.size());
      std::string address = log.substr(at + marker.size(), space - at - marker.size());
      process->port_ = static_cast<uint16_t>(std::stoi(address.substr(address.rfind(':') + 1)));
      return process;
    }
    if (fixed_port != 0 && HttpConnection::Connect(fixed_port) != nullptr) {
      process->port_ = fixed_port;
      return process;
    }
    int status = 0;
    if (::waitpid(process->pid_, &status, WNOHANG) == process->pid_) {
      process->pid_ = -1;
      if (error) *error = "tallyd exited before listening:\n" + log;
      return nullptr;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  if (error) *error = "tallyd did not listen in time:\n" + ReadFile(process->log_path_);
  return nullptr;
}

TallydProcess::~TallydProcess() {
  if (pid_ > 0) KillNine();
  if (log_path_.empty()) return;
  // A sanitizer build of tallyd reports into its log; any report fails the test that ran it.
  const std::string log = Log();
  for (const char* finding :
       {"ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "WARNING: ThreadSanitizer", "runtime error:"}) {
    if (log.find(finding) != std::string::npos)
      ADD_FAILURE() << "tallyd reported " << finding << ":\n" << log;
  }
  fs::remove(log_path_);
}

int TallydProcess::Terminate(std::chrono::seconds timeout) {
  if (pid_ <= 0) return -1;
  ::kill(pid_, SIGTERM);
  int code = WaitFor(pid_, timeout);
  if (code == -1) {
    KillNine();
    return -1;
  }
  pid_ = -1;
  return code;
}

void TallydProcess::KillNine() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  WaitFor(pid_, std::chrono::seconds(10));
  pid_ = -1;
}

std::string TallydProcess::Log() const { return ReadFile(log_path_); }

ExitResult RunTallydToExit(const std::vector<std::string>& args, std::chrono::seconds timeout) {
  std::string output_path = UniqueName("tallyd-run-");
  pid_t pid = Spawn(args, output_path);
  ExitResult result;
  result.exit_code = WaitFor(pid, timeout);
  if (result.exit_code == -1) {
    ::kill(pid, SIGKILL);
    WaitFor(pid, std::chrono::seconds(10));
  }
  result.output = ReadFile(output_path);
  fs::remove(output_path);
  return result;
}

}  // namespace tally::testing

// tallyd's flags and start-up failures: each ends the process with one clear line and a non-zero exit.
#include <gtest/gtest.h>

#include <fstream>

#include "http_client.h"
#include "tallyd_process.h"

namespace tally::testing {
namespace {

// The lines tallyd printed that start with "tallyd: " (its error format).
int ErrorLines(const std::string& output) {
  int lines = 0;
  for (size_t at = output.find("tallyd: "); at != std::string::npos; at = output.find("tallyd: ", at + 1)) {
    if (at == 0 || output[at - 1] == '\n') ++lines;
  }
  return lines;
}

TEST(ServerFlags, HelpListsEveryFlagAndExitsZero) {
  ExitResult result = RunTallydToExit({"--help"});
  EXPECT_EQ(result.exit_code, 0);
  for (const char* flag : {"--listen",
                           "--data",
                           "--sync",
                           "--threads",
                           "--shards",
                           "--idle-timeout",
                           "--max-body-bytes",
                           "--max-target-bytes",
                           "--max-header-count",
                           "--max-header-bytes",
                           "--max-json-depth",
                           "--max-properties-bytes",
                           "--max-connections",
                           "--ingest-rate",
                           "--ingest-burst",
                           "--log-level",
                           "--config",
                           "--checkpoint-every",
                           "--keys",
                           "--nats",
                           "--stream",
                           "--replicas",
                           "--node",
                           "--consistency",
                           "--help"}) {
    EXPECT_NE(result.output.find(flag), std::string::npos) << flag;
  }
}

TEST(ServerFlags, BadFlagsEndWithOneLineAndNonZeroExit) {
  TempDir dir;
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"--sync", "sometimes"}, "--sync"},           {{"--threads", "0"}, "--threads"},
      {{"--threads", "many"}, "--threads"},          {{"--listen", "nowhere"}, "--listen"},
      {{"--listen", "127.0.0.1:99999"}, "--listen"}, {{"--no-such-flag"}, "--no-such-flag"},
  };
  for (const auto& [args, mentioned] : cases) {
    std::vector<std::string> full = args;
    full.push_back("--data");
    full.push_back(dir.path());
    ExitResult result = RunTallydToExit(full);
    EXPECT_NE(result.exit_code, 0) << args[0];
    EXPECT_EQ(ErrorLines(result.output), 1) << result.output;
    EXPECT_NE(result.output.find(mentioned), std::string::npos) << result.output;
  }
}

TEST(ServerFlags, APortInUseIsAClearError) {
  TempDir first_dir, second_dir;
  std::string error;
  auto first = TallydProcess::Start({"--data", first_dir.path()}, &error);
  ASSERT_NE(first, nullptr) << error;
  ExitResult second = RunTallydToExit(
      {"--data", second_dir.path(), "--listen", "127.0.0.1:" + std::to_string(first->port())});
  EXPECT_NE(second.exit_code, 0);
  EXPECT_NE(second.output.find("Address already in use"), std::string::npos) << second.output;
  EXPECT_EQ(ErrorLines(second.output), 1) << second.output;
}

TEST(ServerFlags, AnUnwritableDataDirectoryIsAClearError) {
  TempDir dir;
  std::ofstream(dir.path() + "/not-a-directory") << "x";
  ExitResult result =
      RunTallydToExit({"--data", dir.path() + "/not-a-directory/data", "--listen", "127.0.0.1:0"});
  EXPECT_NE(result.exit_code, 0);
  EXPECT_NE(result.output.find("data directory"), std::string::npos) << result.output;
  EXPECT_EQ(ErrorLines(result.output), 1) << result.output;
}

TEST(ServerFlags, AnEmbeddedDataDirectoryCannotBecomeAClusterNode) {
  TempDir dir;
  std::string error;
  auto server = TallydProcess::Start({"--data", dir.path()}, &error);
  ASSERT_NE(server, nullptr) << error;
  auto response = Fetch(server->port(), "POST", "/analytics?timestamp=1793527200000&user=a&event=click");
  ASSERT_TRUE(response && response->status == 204);
  ASSERT_EQ(server->Terminate(), 0);
  // Refused before any connection is tried (nothing listens on port 1).
  ExitResult result =
      RunTallydToExit({"--data", dir.path(), "--listen", "127.0.0.1:0", "--nats", "nats://127.0.0.1:1"});
  EXPECT_NE(result.exit_code, 0);
  EXPECT_NE(result.output.find("embedded server's log"), std::string::npos) << result.output;
  EXPECT_EQ(ErrorLines(result.output), 1) << result.output;
}

TEST(ServerFlags, TwoServersCannotShareADataDirectory) {
  TempDir dir;
  std::string error;
  auto first = TallydProcess::Start({"--data", dir.path()}, &error);
  ASSERT_NE(first, nullptr) << error;
  ExitResult second = RunTallydToExit({"--data", dir.path(), "--listen", "127.0.0.1:0"});
  EXPECT_NE(second.exit_code, 0);
  EXPECT_NE(second.output.find("in use by another tallyd"), std::string::npos) << second.output;
}

TEST(ServerFlags, ListensOnTheGivenAddress) {
  TempDir dir;
  std::string error;
  auto server = TallydProcess::Start({"--data", dir.path(), "--threads", "3", "--sync", "always"}, &error);
  ASSERT_NE(server, nullptr) << error;
  auto response = Fetch(server->port(), "GET", "/healthz");
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->status, 200);
}

}  // namespace
}  // namespace tally::testing

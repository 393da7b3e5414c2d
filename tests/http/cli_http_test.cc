// The tally command line against the real tallyd: send (batches, duplicates, rejected), stats, top, user,
// and export, whose events must be exactly what the server counts, with corrections applied.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>

#include "http_client.h"
#include "tallyd_process.h"

namespace tally::testing {
namespace {

constexpr int64_t kHourStart = 1793527200000;  // 2026-11-01T10:00:00Z

struct CommandResult {
  int exit_code = -1;
  std::string output;  // one stream: standard output unless standard error was asked for
};

enum class Stream { kStandardOutput, kStandardError };

CommandResult RunTally(const std::string& arguments, Stream captured = Stream::kStandardOutput) {
  CommandResult result;
  const char* redirect = captured == Stream::kStandardOutput ? " 2>/dev/null" : " 2>&1 >/dev/null";
  FILE* pipe = ::popen((std::string(TALLY_PATH) + " " + arguments + redirect).c_str(), "r");
  if (pipe == nullptr) return result;
  char buffer[4096];
  size_t length;
  while ((length = std::fread(buffer, 1, sizeof(buffer), pipe)) > 0) result.output.append(buffer, length);
  const int status = ::pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

size_t CountLines(const std::string& text) {
  return static_cast<size_t>(std::count(text.begin(), text.end(), '\n'));
}

TEST(Cli, SendStatsTopUserAndExportAgreeWithTheServer) {
  TempDir dir;
  std::string error;
  auto server = TallydProcess::Start({"--data", dir.path() + "/data"}, &error);
  ASSERT_NE(server, nullptr) << error;
  const std::string remote = " --server 127.0.0.1:" + std::to_string(server->port());

  // 300 events over three hours, every tenth sent twice, one corrected to another hour, one bad line.
  const std::string events_path = dir.path() + "/events.ndjson";
  {
    std::ofstream out(events_path);
    for (int i = 0; i < 300; ++i) {
      const std::string line = R"({"event_id":"e)" + std::to_string(i) + R"(","type":")" +
                               (i % 3 == 0 ? "click" : "impression") + R"(","user_id":"u)" +
                               std::to_string(i % 40) + R"(","timestamp":)" +
                               std::to_string(kHourStart + i * 36'000) + R"(,"product_id":"p)" +
                               std::to_string(i % 7) + R"(","store_id":"s,1"})";
      out << line << "\n";
      if (i % 10 == 0) out << line << "\n";
    }
    out << R"({"event_id":"e5","version":2,"type":"click","user_id":"u5","timestamp":)"
        << kHourStart - 3'600'000 << R"(,"properties":{"note":"moved \"back\""}})"
        << "\n";
    out << R"({"type":"click"})"
        << "\n";
  }
  auto sent = RunTally("send " + events_path + " --batch 64" + remote);
  EXPECT_EQ(sent.exit_code, 2) << "a rejected event makes the exit code 2";
  EXPECT_EQ(sent.output, "sent 332: accepted 301, duplicates 30, rejected 1\n");

  const std::string range = " --from 2026-11-01T09:00:00Z --to 2026-11-01T13:00:00Z";
  auto stats = RunTally("stats --json --bucket all" + range + remote);
  ASSERT_EQ(stats.exit_code, 0);
  auto api =
      Fetch(server->port(), "GET", "/v1/stats?from=2026-11-01T09:00:00Z&to=2026-11-01T13:00:00Z&bucket=all");
  ASSERT_TRUE(api.has_value());
  EXPECT_EQ(stats.output, api->body + "\n");
  EXPECT_NE(stats.output.find(R"("total":{"events":300,"unique_users":40)"), std::string::npos)
      << stats.output;
  auto table = RunTally("stats" + range + remote);
  ASSERT_EQ(table.exit_code, 0);
  EXPECT_NE(table.output.find("2026-11-01 09:00"), std::string::npos) << table.output;
  EXPECT_NE(table.output.find("total (exact)"), std::string::npos) << table.output;

  auto top = RunTally("top --by store_id" + range + remote);
  ASSERT_EQ(top.exit_code, 0);
  EXPECT_NE(top.output.find("s,1"), std::string::npos) << top.output;
  auto user = RunTally("user u5 --limit 100" + remote);
  ASSERT_EQ(user.exit_code, 0);
  EXPECT_NE(user.output.find("e5"), std::string::npos) << user.output;
  auto refused = RunTally("stats --from nonsense --to 1" + remote);
  EXPECT_EQ(refused.exit_code, 1);

  // export reads the log while the server runs: exactly the events the server counts, corrections applied.
  auto exported = RunTally("export --data " + dir.path() + "/data" + range);
  ASSERT_EQ(exported.exit_code, 0);
  EXPECT_EQ(CountLines(exported.output), 300u);
  EXPECT_NE(exported.output.find(
                R"("event_id":"e5","type":"click","user_id":"u5","timestamp":1793523600000,"version":2)"),
            std::string::npos);
  auto later =
      RunTally("export --data " + dir.path() + "/data --from 2026-11-01T10:00:00Z --to 2026-11-01T13:00:00Z");
  EXPECT_EQ(CountLines(later.output), 299u) << "e5 moved an hour back";
  auto csv = RunTally("export --format csv --data " + dir.path() + "/data" + range);
  ASSERT_EQ(csv.exit_code, 0);
  EXPECT_EQ(
      csv.output.rfind("event_id,type,user_id,timestamp,received_at,version,session_id,product_id,store_id,"
                       "properties\r\n",
                       0),
      0u);
  EXPECT_EQ(CountLines(csv.output), 301u);
  EXPECT_NE(csv.output.find(R"(,"s,1",)"), std::string::npos) << "a comma is quoted";
  EXPECT_NE(csv.output.find(R"("{""note"":""moved \""back\""""}")"), std::string::npos)
      << "quotes are doubled";
}

// Export applies the materializer's own rule: events without an id (the take-home protocol's) are each
// an event of their own, duplicates count once and a correction replaces its event. Before, export kept
// one event per id, so 40 take-home posts of one hour exported as 1.
TEST(Cli, ExportCountsWhatTheServerCountsWithAndWithoutIds) {
  TempDir dir;
  std::string error;
  auto server = TallydProcess::Start({"--data", dir.path() + "/data"}, &error);
  ASSERT_NE(server, nullptr) << error;
  const uint16_t port = server->port();
  for (int i = 0; i < 40; ++i) {
    auto response = Fetch(port, "POST",
                          "/analytics?timestamp=" + std::to_string(kHourStart + i) + "&user=u" +
                              std::to_string(i % 3) + "&event=" + (i % 2 ? "click" : "impression"));
    ASSERT_TRUE(response && response->status == 204);
  }
  std::string batch;
  for (int i = 0; i < 25; ++i) {  // without ids: each gets one from the server
    batch +=
        R"({"type":"page_view","user_id":"v","timestamp":)" + std::to_string(kHourStart + 100 + i) + "}\n";
  }
  for (int i = 0; i < 10; ++i) {  // with ids, each sent twice, one corrected
    const std::string line = R"({"event_id":"k)" + std::to_string(i) +
                             R"(","type":"click","user_id":"w","timestamp":)" +
                             std::to_string(kHourStart + 200 + i) + "}\n";
    batch += line + line;
  }
  batch += R"({"event_id":"k3","version":2,"type":"click","user_id":"x","timestamp":)" +
           std::to_string(kHourStart + 300) + "}\n";
  auto connection = HttpConnection::Connect(port);
  ASSERT_TRUE(
      connection->SendRaw("POST /v1/events HTTP/1.1\r\nHost: t\r\nContent-Type: application/x-ndjson\r\n"
                          "Content-Length: " +
                          std::to_string(batch.size()) + "\r\n\r\n" + batch));
  auto answer = connection->ReadResponse();
  ASSERT_TRUE(answer.has_value());
  EXPECT_EQ(answer->body, R"({"accepted":36,"duplicates":10,"rejected":[]})");
  const std::string range =
      "&from=" + std::to_string(kHourStart) + "&to=" + std::to_string(kHourStart + 3'600'000);
  auto stats = Fetch(port, "GET", "/v1/stats?bucket=all" + range);
  ASSERT_TRUE(stats && stats->status == 200);
  EXPECT_NE(stats->body.find(R"("total":{"events":75,)"), std::string::npos) << stats->body;
  for (const char* format : {"ndjson", "csv"}) {
    auto exported =
        RunTally(std::string("export --format ") + format + " --data " + dir.path() + "/data --from " +
                 std::to_string(kHourStart) + " --to " + std::to_string(kHourStart + 3'600'000));
    ASSERT_EQ(exported.exit_code, 0);
    EXPECT_EQ(CountLines(exported.output), std::string(format) == "csv" ? 76u : 75u) << exported.output;
  }
  auto exported = RunTally("export --data " + dir.path() + "/data --from " + std::to_string(kHourStart) +
                           " --to " + std::to_string(kHourStart + 3'600'000));
  EXPECT_NE(exported.output.find(R"("event_id":"k3","type":"click","user_id":"x")"), std::string::npos);
  EXPECT_EQ(exported.output.find(R"("event_id":"k3","type":"click","user_id":"w")"), std::string::npos);
}

// `tally load` read --server with code of its own and connected to IPv4 addresses only: `--server
// localhost:8080` failed where `tally stats` worked. Every subcommand now reads it with ParseHostPort.
TEST(Cli, LoadAndStatsReachTheServerByNameAndByAddress) {
  TempDir dir;
  std::string error;
  auto server = TallydProcess::Start({"--data", dir.path() + "/data"}, &error);
  ASSERT_NE(server, nullptr) << error;
  const std::string port = std::to_string(server->port());
  const std::string load = "load --events 200 --batch 50 --connections 2 --late 0 --duplicates 0 --now " +
                           std::to_string(kHourStart + 1000);
  for (const std::string& seed_and_server :
       {" --seed 1 --server localhost:" + port, " --seed 2 --server 127.0.0.1:" + port}) {
    auto loaded = RunTally(load + seed_and_server);
    EXPECT_EQ(loaded.exit_code, 0) << seed_and_server << ":\n" << loaded.output;
    EXPECT_NE(loaded.output.find("events      200 in "), std::string::npos) << loaded.output;
    EXPECT_NE(loaded.output.find("errors      none"), std::string::npos) << loaded.output;
  }
  const std::string stats = "stats --json --bucket all --from " + std::to_string(kHourStart) + " --to " +
                            std::to_string(kHourStart + 3'600'000);
  for (const std::string& address : {"localhost:" + port, "127.0.0.1:" + port}) {
    auto answer = RunTally(stats + " --server " + address);
    EXPECT_EQ(answer.exit_code, 0) << address;
    EXPECT_NE(answer.output.find(R"("total":{"events":400,)"), std::string::npos)
        << address << ": " << answer.output;
  }
}

bool Ipv6LoopbackWorks() {
  const int fd = ::socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in6 address{};
  address.sin6_family = AF_INET6;
  address.sin6_addr = in6addr_loopback;
  const bool bound = ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0;
  ::close(fd);
  return bound;
}

TEST(Cli, LoadAndStatsReachAServerListeningOnIpv6Loopback) {
  if (!Ipv6LoopbackWorks()) GTEST_SKIP() << "this machine has no IPv6 loopback";
  TempDir dir;
  std::string error;
  auto server = TallydProcess::Start({"--data", dir.path() + "/data", "--listen", "[::1]:0"}, &error);
  ASSERT_NE(server, nullptr) << error;
  const std::string address = "'[::1]:" + std::to_string(server->port()) + "'";
  EXPECT_NE(server->Log().find("tallyd listening on [::1]:"), std::string::npos)
      << "the log names the address as --server takes it: " << server->Log();
  auto loaded = RunTally("load --events 100 --batch 50 --connections 2 --late 0 --duplicates 0 --now " +
                         std::to_string(kHourStart + 1000) + " --server " + address);
  EXPECT_EQ(loaded.exit_code, 0) << loaded.output;
  EXPECT_NE(loaded.output.find("events      100 in "), std::string::npos) << loaded.output;
  auto answer = RunTally("stats --json --bucket all --from " + std::to_string(kHourStart) + " --to " +
                         std::to_string(kHourStart + 3'600'000) + " --server " + address);
  EXPECT_EQ(answer.exit_code, 0);
  EXPECT_NE(answer.output.find(R"("total":{"events":100,)"), std::string::npos) << answer.output;
}

// Refused before anything is sent (send would otherwise retry a bad address for half a minute), in one
// line that names the subcommand, the flag and what is wrong.
TEST(Cli, ABadServerIsRefusedInOneLineNamingTheFlag) {
  struct Case {
    std::string command, server, reason;
  };
  const std::vector<Case> cases = {
      {"stats --from 0 --to 1", "localhost", "expected HOST:PORT"},
      {"stats --from 0 --to 1", "::1:8080", "an IPv6 address goes in brackets, as in [::1]:8080"},
      {"load --events 10", "localhost:http", "the port must be a number from 1 to 65535"},
      {"load --events 10", "localhost:99999", "the port must be a number from 1 to 65535"},
      {"send no-such-file.ndjson", "[::1:8080", "no ']' closes"},
      {"top", ":8080", "a host is needed"},
      {"user u1", "localhost:0", "the port must be a number from 1 to 65535"},
  };
  for (const Case& bad : cases) {
    auto refused = RunTally(bad.command + " --server '" + bad.server + "'", Stream::kStandardError);
    const std::string subcommand = bad.command.substr(0, bad.command.find(' '));
    EXPECT_EQ(refused.exit_code, 1) << bad.command << " --server " << bad.server;
    EXPECT_EQ(refused.output.rfind("tally " + subcommand + ": --server: ", 0), 0u) << refused.output;
    EXPECT_NE(refused.output.find(bad.reason), std::string::npos) << refused.output;
    EXPECT_EQ(CountLines(refused.output), 1u) << refused.output;
  }
}

}  // namespace
}  // namespace tally::testing

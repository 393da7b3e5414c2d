// Acked means kept: restarts, kill -9 during load, and SIGTERM under load, for both durability modes.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <thread>

#include "http_client.h"
#include "tallyd_process.h"

namespace tally::testing {
namespace {

constexpr int64_t kHour = 3'600'000;
constexpr int64_t kFirstHour = 1793527200000;

struct ClientTally {
  std::atomic<int> acked{0};
};

// Each client sends one event at a time into an hour of its own, every event from a new user, until told
// to stop or until the server goes away.
class LoadWhileFailing {
 public:
  LoadWhileFailing(uint16_t port, int clients) : tallies_(clients) {
    for (int c = 0; c < clients; ++c) {
      threads_.emplace_back([this, port, c] {
        auto connection = HttpConnection::Connect(port);
        struct MarkStopped {
          std::atomic<int>* stopped;
          ~MarkStopped() { ++*stopped; }
        } mark{&stopped_clients_};
        if (!connection) return;
        for (int i = 0; !stop_.load(); ++i) {
          std::string query = "timestamp=" + std::to_string(kFirstHour + c * kHour + i) + "&user=c" +
                              std::to_string(c) + "-" + std::to_string(i) + "&click";
          auto response = connection->Request("POST", "/analytics?" + query);
          if (!response && connection->half_answered()) ++half_answered_;
          if (!response || response->status != 204) return;
          ++tallies_[c].acked;
        }
      });
    }
  }
  ~LoadWhileFailing() { Join(); }
  void WaitForAcks(int total) {
    while (TotalAcked() < total && !AllStopped()) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  int TotalAcked() const {
    int total = 0;
    for (const auto& tally : tallies_) total += tally.acked.load();
    return total;
  }
  void Join() {
    stop_ = true;
    for (auto& thread : threads_) {
      if (thread.joinable()) thread.join();
    }
  }
  int acked(int client) const { return tallies_[client].acked.load(); }
  // Responses cut off in the middle by the connection closing.
  int half_answered() const { return half_answered_.load(); }

 private:
  bool AllStopped() const { return stopped_clients_.load() == static_cast<int>(threads_.size()); }
  std::atomic<int> stopped_clients_{0};
  std::atomic<int> half_answered_{0};
  std::vector<ClientTally> tallies_;
  std::atomic<bool> stop_{false};
  std::vector<std::thread> threads_;
};

int ClicksInHour(uint16_t port, int64_t timestamp) {
  auto response = Fetch(port, "GET", "/analytics?timestamp=" + std::to_string(timestamp));
  EXPECT_TRUE(response.has_value());
  if (!response) return -1;
  // "unique_users,N\nclicks,N\nimpressions,N\n"; every event has its own user, so both must agree.
  int users = -1, clicks = -2, impressions = -3;
  std::sscanf(response->body.c_str(), "unique_users,%d\nclicks,%d\nimpressions,%d", &users, &clicks,
              &impressions);
  EXPECT_EQ(users, clicks);
  EXPECT_EQ(impressions, 0);
  return clicks;
}

class DurabilityTest : public ::testing::TestWithParam<std::string> {
 protected:
  // Periodic checkpoints every 200 records, so a restart starts from a checkpoint and replays a tail.
  std::vector<std::string> Args() {
    return {"--data", dir_.path() + "/data", "--sync", GetParam(), "--threads",
            "2",      "--checkpoint-every",  "200"};
  }

  // The log is append-only and recovery keeps a prefix, so a client that had at most one request in
  // flight finds exactly its acked events, plus perhaps that one.
  void ExpectEveryAckedEventKept(uint16_t port, const LoadWhileFailing& load, int clients) {
    for (int c = 0; c < clients; ++c) {
      int kept = ClicksInHour(port, kFirstHour + c * kHour);
      EXPECT_GE(kept, load.acked(c)) << "client " << c << " lost acknowledged events";
      EXPECT_LE(kept, load.acked(c) + 1) << "client " << c;
    }
  }

  TempDir dir_;
};

TEST_P(DurabilityTest, RestartAfterSigtermKeepsEveryEvent) {
  std::string error;
  auto server = TallydProcess::Start(Args(), &error);
  ASSERT_NE(server, nullptr) << error;
  for (int i = 0; i < 50; ++i) {
    auto response = Fetch(server->port(), "POST",
                          "/analytics?timestamp=" + std::to_string(kFirstHour + i) + "&user=u" +
                              std::to_string(i % 7) + (i % 2 ? "&click" : "&impression"));
    ASSERT_TRUE(response && response->status == 204);
  }
  auto before = Fetch(server->port(), "GET", "/analytics?timestamp=" + std::to_string(kFirstHour));
  EXPECT_EQ(server->Terminate(), 0) << server->Log();
  EXPECT_NE(server->Log().find("stopped cleanly"), std::string::npos) << server->Log();

  auto restarted = TallydProcess::Start(Args(), &error);
  ASSERT_NE(restarted, nullptr) << error;
  auto after = Fetch(restarted->port(), "GET", "/analytics?timestamp=" + std::to_string(kFirstHour));
  ASSERT_TRUE(before && after);
  // The clean stop wrote a checkpoint covering everything; the restart loaded it.
  EXPECT_NE(restarted->Log().find("loaded checkpoint"), std::string::npos) << restarted->Log();
  EXPECT_NE(restarted->Log().find("replayed 0 records"), std::string::npos) << restarted->Log();
  EXPECT_EQ(after->body, before->body);
  EXPECT_EQ(after->body, "unique_users,7\nclicks,25\nimpressions,25\n");
}

TEST_P(DurabilityTest, KillNineDuringLoadLosesNoAcknowledgedEvent) {
  constexpr int kClients = 6;
  for (int round = 0; round < 3; ++round) {
    std::string error;
    auto server = TallydProcess::Start(Args(), &error);
    ASSERT_NE(server, nullptr) << error;
    // Earlier rounds' events are in the log too; each round writes to hours of its own.
    LoadWhileFailing load(server->port(), kClients);
    load.WaitForAcks(300 + round * 200);
    // Long enough under load for the once-a-second checkpointer to write one: the restart then loads it
    // and replays the tail written after it.
    if (round == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    server->KillNine();
    load.Join();
    ASSERT_GT(load.TotalAcked(), 0);

    auto restarted = TallydProcess::Start(Args(), &error);
    ASSERT_NE(restarted, nullptr) << error;
    ExpectEveryAckedEventKept(restarted->port(), load, kClients);
    restarted->KillNine();
    // Move this round's hours out of the next round's way by clearing the data: each round stands alone.
    std::filesystem::remove_all(dir_.path() + "/data");
  }
}

TEST_P(DurabilityTest, SigtermUnderLoadExitsCleanlyAndKeepsEveryAcknowledgedEvent) {
  constexpr int kClients = 6;
  std::string error;
  auto server = TallydProcess::Start(Args(), &error);
  ASSERT_NE(server, nullptr) << error;
  LoadWhileFailing load(server->port(), kClients);
  load.WaitForAcks(500);
  EXPECT_EQ(server->Terminate(), 0) << server->Log();
  load.Join();
  EXPECT_EQ(load.half_answered(), 0) << "a response was cut off by the shutdown";

  auto restarted = TallydProcess::Start(Args(), &error);
  ASSERT_NE(restarted, nullptr) << error;
  ExpectEveryAckedEventKept(restarted->port(), load, kClients);
}

TEST_P(DurabilityTest, ClientsHangingUpBeforeTheirAnswerLeaveTheServerServing) {
  std::string error;
  auto server = TallydProcess::Start(Args(), &error);
  ASSERT_NE(server, nullptr) << error;
  constexpr int kHangUps = 200;
  for (int i = 0; i < kHangUps; ++i) {
    auto connection = HttpConnection::Connect(server->port());
    ASSERT_NE(connection, nullptr);
    // A request and then the connection is gone while its answer waits for the log.
    connection->SendRaw("POST /analytics?timestamp=" + std::to_string(kFirstHour) + "&user=gone-" +
                        std::to_string(i) + "&click HTTP/1.1\r\nHost: t\r\n\r\n");
  }
  auto response = Fetch(server->port(), "POST",
                        "/analytics?timestamp=" + std::to_string(kFirstHour) + "&user=stays&click");
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->status, 204);
  int kept = ClicksInHour(server->port(), kFirstHour);
  EXPECT_GE(kept, 1);
  EXPECT_LE(kept, kHangUps + 1);
  EXPECT_EQ(server->Terminate(), 0) << server->Log();
}

// Native events with products and stores into three past hours, with corrections, while the sealer seals
// every second (--seal-after 0), then kill -9 at whatever point the sealing and file writing had reached.
// After the restart the sealed hour files that still fit are installed (the log line says so); every answer
// from them must equal the answer rebuilt from the rows alone (the same data without DATA/segments).
TEST_P(DurabilityTest, KillNineWhileSealingLeavesNoFileThatChangesAnAnswer) {
  std::vector<std::string> args = Args();
  args.insert(args.end(), {"--seal-after", "0"});
  std::string error;
  auto server = TallydProcess::Start(args, &error);
  ASSERT_NE(server, nullptr) << error;
  std::atomic<bool> stop{false};
  std::atomic<int> batches{0};
  std::thread writer([&] {
    auto connection = HttpConnection::Connect(server->port());
    if (!connection) return;
    for (int batch = 0; !stop.load(); ++batch) {
      std::string body = "[";
      for (int i = 0; i < 100; ++i) {
        const int n = batch * 100 + i;
        // Every fifth event re-sends an earlier id of the first hour with a higher version, into the first
        // hour: a correction, often of an event sealed meanwhile. Its file no longer fits after it; the
        // other two hours only grow, so theirs still fit after the restart.
        const bool correction = n % 5 == 4;
        const int id = correction ? n / 2 - (n / 2) % 3 : n;
        const int64_t timestamp = kFirstHour + (correction ? 0 : (n % 3) * kHour) + n;
        body += R"({"event_id":"k)" + std::to_string(id) + R"(","version":)" +
                std::to_string(correction ? 1 + batch : 1) + R"(,"type":")" + (n % 3 ? "click" : "view") +
                R"(","user_id":"u)" + std::to_string(n % 97) + R"(","timestamp":)" +
                std::to_string(timestamp) + R"(,"product_id":"p)" + std::to_string(n % 41) +
                R"(","store_id":"s)" + std::to_string(n % 7) + R"("})" + (i < 99 ? "," : "]");
      }
      auto response = connection->Request("POST", "/v1/events", body);
      if (!response || response->status != 200) return;
      EXPECT_NE(response->body.find(R"("rejected":[])"), std::string::npos) << response->body;
      ++batches;
    }
  });
  // A few sealing passes (one a second) while the writes go on.
  for (int waited = 0; waited < 100 && batches.load() < 20; ++waited)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  std::this_thread::sleep_for(std::chrono::milliseconds(2300));
  server->KillNine();
  stop = true;
  writer.join();
  ASSERT_GT(batches.load(), 0);

  const std::vector<std::string> questions = {
      "/v1/top?by=product_id&limit=50&from=" + std::to_string(kFirstHour) +
          "&to=" + std::to_string(kFirstHour + 3 * kHour),
      "/v1/top?by=store_id&limit=10&type=click&from=" + std::to_string(kFirstHour) +
          "&to=" + std::to_string(kFirstHour + 3 * kHour),
      "/v1/stats?product_id=p3&bucket=hour&from=" + std::to_string(kFirstHour) +
          "&to=" + std::to_string(kFirstHour + 3 * kHour),
      "/v1/stats?store_id=s2&type=view&bucket=all&from=" + std::to_string(kFirstHour) +
          "&to=" + std::to_string(kFirstHour + 3 * kHour)};
  auto ask = [&](uint16_t port) {
    std::string answers;
    for (const std::string& question : questions) {
      auto response = Fetch(port, "GET", question);
      EXPECT_TRUE(response && response->status == 200) << question;
      if (response) answers += response->body + "\n";
    }
    return answers;
  };
  // Nothing is sealed anew after the restart: what is sealed comes from the files.
  std::vector<std::string> no_sealing = Args();
  no_sealing.insert(no_sealing.end(), {"--seal-after", "86400"});
  auto restarted = TallydProcess::Start(no_sealing, &error);
  ASSERT_NE(restarted, nullptr) << error;
  // The sealer installs them once the server runs (the start does not wait for them).
  for (int waited = 0;
       waited < 200 && restarted->Log().find("sealed hour file(s) mapped") == std::string::npos; ++waited) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_NE(restarted->Log().find("sealed hour file(s) mapped"), std::string::npos) << restarted->Log();
  const std::string from_files = ask(restarted->port());
  restarted->KillNine();

  // Files of a former format (an upgrade) are refused and deleted, each named in the log up to ten and
  // the rest counted; their hours answer the same from their rows until they are sealed again.
  size_t files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir_.path() + "/data/segments")) {
    std::fstream file(entry.path(), std::ios::in | std::ios::out | std::ios::binary);
    file.seekp(8);
    const uint32_t former_version = 5;
    file.write(reinterpret_cast<const char*>(&former_version), sizeof(former_version));
    ++files;
  }
  ASSERT_GT(files, 0u);
  // More of them than are named: copies named for hours long after.
  const std::filesystem::path example =
      std::filesystem::directory_iterator(dir_.path() + "/data/segments")->path();
  const std::string name = example.filename().string();  // s<shard>of<shards>-h<hour>[-r<row>].seg
  const size_t hour_at = name.find("-h") + 2;
  const int64_t hour = std::stoll(name.substr(hour_at));
  for (int64_t later = 100; later < 112; ++later) {
    std::filesystem::copy_file(
        example, example.parent_path() / (name.substr(0, hour_at) + std::to_string(hour + later) + ".seg"));
    ++files;
  }
  auto upgraded = TallydProcess::Start(no_sealing, &error);
  ASSERT_NE(upgraded, nullptr) << error;
  for (int waited = 0;
       waited < 200 && upgraded->Log().find("0 sealed hour file(s) mapped") == std::string::npos; ++waited) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  const std::string log = upgraded->Log();
  ASSERT_NE(log.find("0 sealed hour file(s) mapped"), std::string::npos) << log;
  size_t named = 0;
  for (size_t at = log.find("format version 5 not read"); at != std::string::npos;
       at = log.find("format version 5 not read", at + 1)) {
    ++named;
  }
  EXPECT_EQ(named, std::min<size_t>(files, 10)) << log;
  if (files > 10) {
    EXPECT_NE(log.find(std::to_string(files - 10) + " more sealed hour files deleted"), std::string::npos)
        << log;
  }
  EXPECT_EQ(ask(upgraded->port()), from_files);
  EXPECT_TRUE(std::filesystem::is_empty(dir_.path() + "/data/segments"));
  upgraded->KillNine();

  std::filesystem::remove_all(dir_.path() + "/data/segments");
  auto from_rows_server = TallydProcess::Start(no_sealing, &error);
  ASSERT_NE(from_rows_server, nullptr) << error;
  EXPECT_EQ(ask(from_rows_server->port()), from_files);
  EXPECT_EQ(from_rows_server->Log().find("sealed hour file(s) mapped"), std::string::npos);
}

INSTANTIATE_TEST_SUITE_P(SyncModes, DurabilityTest, ::testing::Values("interval", "always"));

}  // namespace
}  // namespace tally::testing

// Acked means kept: restarts, kill -9 during load, and SIGTERM under load, for both durability modes.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
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

INSTANTIATE_TEST_SUITE_P(SyncModes, DurabilityTest, ::testing::Values("interval", "always"));

}  // namespace
}  // namespace tally::testing

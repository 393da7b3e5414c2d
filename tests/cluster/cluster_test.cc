// Cluster mode against real servers: 3 nats-server (JetStream, R3) and 3 tallyd on loopback. Writes go to
// every node in turn (both APIs, duplicates, corrections); every node then answers identically and
// exactly (checked against the reference model). Then the faults: kill -9 of a tallyd (it resumes from
// its local log), a fourth tallyd started late (it catches up from the stream), kill -9 of a NATS
// follower and of the stream's leader while writing (every acknowledged event is there exactly once).
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <simdjson.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <optional>
#include <thread>

#include "../support/event_json.h"
#include "../support/reference_model.h"
#include "http_client.h"
#include "nats_cluster.h"
#include "tallyd_process.h"

namespace tally::testing {
namespace {

constexpr Millis kBase = 1793527200000;  // an hour boundary
constexpr int kHours = 4;

class ClusterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    nats_ = std::make_unique<NatsCluster>(dir_.path(), 3);
    std::string error;
    ASSERT_TRUE(nats_->Start(&error)) << error;
    for (int i = 0; i < 3; ++i) StartTallyd(i);
  }

  std::vector<std::string> ArgsOf(int node) {
    return {"--data", dir_.path() + "/tally" + std::to_string(node), "--nats", nats_->Urls(), "--stream",
            "events", "--replicas", "3", "--node", "t" + std::to_string(node), "--threads", "2",
            // A restarted node loads a checkpoint and replays only the tail.
            "--checkpoint-every", "20"};
  }
  void StartTallyd(int node, const std::vector<std::string>& more_args = {}) {
    if (static_cast<int>(tallyd_.size()) <= node) tallyd_.resize(node + 1);
    std::string error;
    std::vector<std::string> args = ArgsOf(node);
    args.insert(args.end(), more_args.begin(), more_args.end());
    tallyd_[node] = TallydProcess::Start(args, &error);
    ASSERT_NE(tallyd_[node], nullptr) << error;
  }

  // Sends a batch of events to `node` until it is acknowledged (a 503 during a NATS fault is retried with
  // the same body: every event here has an id, so a batch that did reach the stream counts once).
  void SendUntilAcknowledged(int node, const std::vector<Event>& events) {
    std::string body = "[";
    for (const Event& event : events) body += (body.size() > 1 ? "," : "") + EventJson(event);
    body += "]";
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(90);
    while (true) {
      auto response = Fetch(tallyd_[node]->port(), "POST", "/v1/events", body);
      if (response && response->status == 200) break;
      ASSERT_TRUE(!response || response->status == 503) << response->status << " " << response->body;
      ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "no acknowledgement for 90 s";
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    for (const Event& event : events) model_.Apply(event);
  }

  // `count` random events in batches, to the nodes in turn.
  void SendRandom(RandomEvents& random, int count, const std::vector<int>& nodes) {
    for (int sent = 0, turn = 0; sent < count; ++turn) {
      std::vector<Event> batch;
      const int size = 1 + static_cast<int>(random.Below(25));
      for (int i = 0; i < size; ++i) {
        Event event = random.Make(kBase, kHours);
        if (event.event_id.empty()) event.event_id = "auto-" + std::to_string(next_id_++);
        batch.push_back(std::move(event));
      }
      SendUntilAcknowledged(nodes[turn % nodes.size()], batch);
      sent += size;
    }
  }

  // One click of one user in the first hour: its hour then answers "unique_users,1\nclicks,1\n...".
  static Event OneClick() {
    Event event;
    event.event_id = "e-1";
    event.type = "click";
    event.user_id = "alice";
    event.timestamp = kBase;
    return event;
  }

  std::string StrongGet(int node, const std::string& target) {
    const std::string separator = target.find('?') == std::string::npos ? "?" : "&";
    auto response = Fetch(tallyd_[node]->port(), "GET", target + separator + "consistency=strong");
    EXPECT_TRUE(response.has_value()) << target;
    if (!response) return "";
    EXPECT_EQ(response->status, 200) << target << ": " << response->body;
    return response->body;
  }

  // Every live node: the same digest, and stats equal to the model's.
  void ExpectEveryNodeAgreesWithTheModel(const std::vector<int>& nodes) {
    const std::string range =
        "from=" + std::to_string(kBase) + "&to=" + std::to_string(kBase + kHours * kMillisPerHour);
    std::string first_digest;
    for (int node : nodes) {
      const std::string digest = StrongGet(node, "/v1/admin/digest");
      if (first_digest.empty()) first_digest = digest;
      EXPECT_EQ(digest, first_digest) << "node " << node;
      simdjson::dom::parser parser;
      const std::string stats = StrongGet(node, "/v1/stats?" + range + "&bucket=hour");
      simdjson::dom::element root;
      ASSERT_EQ(parser.parse(stats).get(root), simdjson::SUCCESS) << stats;
      size_t hour = 0;
      for (simdjson::dom::element bucket : simdjson::dom::array(root["buckets"])) {
        const Millis start = kBase + static_cast<Millis>(hour++) * kMillisPerHour;
        const ModelAggregate expected = model_.Aggregate(start, start + kMillisPerHour, {});
        EXPECT_EQ(uint64_t(bucket["events"]), expected.events) << "node " << node << " hour " << hour;
        EXPECT_EQ(uint64_t(bucket["unique_users"]), expected.users.size())
            << "node " << node << " hour " << hour;
      }
      const ModelAggregate total = model_.Aggregate(kBase, kBase + kHours * kMillisPerHour, {});
      EXPECT_EQ(uint64_t(root["total"]["events"]), total.events) << "node " << node;
      EXPECT_EQ(uint64_t(root["total"]["unique_users"]), total.users.size()) << "node " << node;
    }
  }

  TempDir dir_;
  std::unique_ptr<NatsCluster> nats_;
  std::vector<std::unique_ptr<TallydProcess>> tallyd_;
  ReferenceModel model_;
  uint64_t next_id_ = 0;
};

TEST_F(ClusterTest, EveryNodeAnswersTheSameAndExactlyThroughRestartsLateJoinsAndNatsFaults) {
  RandomEvents random(5, 300);
  // Writes spread over all nodes; the take-home API too (its events have no id: not re-sent below).
  SendRandom(random, 1200, {0, 1, 2});
  for (int i = 0; i < 30; ++i) {
    Event event;
    event.type = i % 3 ? "impression" : "click";
    event.user_id = "user-" + std::to_string(i);
    event.timestamp = kBase + i * 1000;
    auto response = Fetch(tallyd_[i % 3]->port(), "POST",
                          "/analytics?timestamp=" + std::to_string(event.timestamp) +
                              "&user=" + event.user_id + "&event=" + event.type);
    ASSERT_TRUE(response && response->status == 204);
    model_.Apply(event);
  }
  ExpectEveryNodeAgreesWithTheModel({0, 1, 2});

  // kill -9 a tallyd; the others take writes; it restarts from its local log and catches up.
  // Once node 1 has finished a checkpoint (a .snap file: one being written is a .snap.tmp), kill it.
  const std::string checkpoints = dir_.path() + "/tally1/checkpoints";
  auto has_checkpoint = [&] {
    std::error_code error;
    for (const auto& entry : std::filesystem::directory_iterator(checkpoints, error)) {
      if (entry.path().extension() == ".snap") return true;
    }
    return false;
  };
  for (int i = 0; i < 300 && !has_checkpoint(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  ASSERT_TRUE(has_checkpoint()) << "node 1 wrote no checkpoint in 30 s: " << tallyd_[1]->Log();
  tallyd_[1]->KillNine();
  SendRandom(random, 300, {0, 2});
  StartTallyd(1);
  EXPECT_NE(tallyd_[1]->Log().find("loaded checkpoint"), std::string::npos) << tallyd_[1]->Log();
  ExpectEveryNodeAgreesWithTheModel({0, 1, 2});

  // A fourth tallyd, started late on an empty directory, replays the whole stream.
  StartTallyd(3);
  ExpectEveryNodeAgreesWithTheModel({0, 1, 2, 3});

  // kill -9 a NATS follower while writing, then the stream's leader.
  const int leader = nats_->StreamLeader("events");
  ASSERT_GE(leader, 0) << nats_->Logs();
  const int follower = (leader + 1) % 3;
  nats_->KillNine(follower);
  SendRandom(random, 200, {0, 1, 2, 3});
  nats_->StartNode(follower);
  std::this_thread::sleep_for(std::chrono::seconds(2));
  nats_->KillNine(leader);
  SendRandom(random, 200, {0, 1, 2, 3});  // re-sent until a new leader acknowledges them
  nats_->StartNode(leader);
  ExpectEveryNodeAgreesWithTheModel({0, 1, 2, 3});

  // A cluster node's directory cannot be started as an embedded server (its events would leave the stream).
  tallyd_[3]->KillNine();
  ExitResult embedded = RunTallydToExit({"--data", dir_.path() + "/tally3", "--listen", "127.0.0.1:0"});
  EXPECT_NE(embedded.exit_code, 0);
  EXPECT_NE(embedded.output.find("start it with --nats"), std::string::npos) << embedded.output;
  StartTallyd(3);

  // Every node's /readyz says it is caught up.
  for (int node = 0; node < 4; ++node) {
    auto ready = Fetch(tallyd_[node]->port(), "GET", "/readyz");
    ASSERT_TRUE(ready.has_value());
    EXPECT_EQ(ready->status, 200) << "node " << node << ": " << ready->body;
  }
}

TEST_F(ClusterTest, ARetentionCutGoesThroughTheStreamSoEveryNodeDropsTheSameHours) {
  // The hours from kBase on are a month old; a few events of the current hour besides.
  RandomEvents random(9, 100);
  SendRandom(random, 300, {0, 1});
  const Millis now = std::chrono::duration_cast<std::chrono::milliseconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
  std::vector<Event> recent;
  for (int i = 0; i < 20; ++i) {
    Event event;
    event.event_id = "recent-" + std::to_string(i);
    event.type = i % 4 ? "click" : "impression";
    event.user_id = "user-" + std::to_string(i % 7);
    event.timestamp = now - i;
    recent.push_back(event);
  }
  SendUntilAcknowledged(1, recent);
  const std::string recent_target = "/analytics?timestamp=" + std::to_string(now);
  const std::string recent_answer = StrongGet(0, recent_target);
  ASSERT_EQ(recent_answer, "unique_users,7\nclicks,15\nimpressions,5\n");

  // Only node 2 is given --retention: its cut is a stream message, so nodes 0 and 1 drop the hours too.
  tallyd_[2]->KillNine();
  StartTallyd(2, {"--retention", "48h"});
  const std::string old_target = "/analytics?timestamp=" + std::to_string(kBase);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (StrongGet(0, old_target) != "unique_users,0\nclicks,0\nimpressions,0\n") {
    ASSERT_LT(std::chrono::steady_clock::now(), deadline) << tallyd_[2]->Log();
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  model_.DropHoursBefore(HourOf(now - 48 * kMillisPerHour));
  ExpectEveryNodeAgreesWithTheModel({0, 1, 2});
  for (int node = 0; node < 3; ++node) EXPECT_EQ(StrongGet(node, recent_target), recent_answer) << node;
  // Node 2 refuses events for the dropped hours.
  auto refused =
      Fetch(tallyd_[2]->port(), "POST", "/analytics?timestamp=" + std::to_string(kBase) + "&user=u&click");
  ASSERT_TRUE(refused.has_value());
  EXPECT_EQ(refused->status, 400) << refused->body;
}

TEST_F(ClusterTest, AStrongReadWaitsForTheStreamAndABadConsistencyIsRefused) {
  auto bad = Fetch(tallyd_[0]->port(), "GET", "/v1/admin/digest?consistency=eventual");
  ASSERT_TRUE(bad.has_value());
  EXPECT_EQ(bad->status, 400);
  EXPECT_NE(bad->body.find("consistency"), std::string::npos) << bad->body;
  // Written on node 0, read strongly on node 2 at once: the answer already holds it.
  SendUntilAcknowledged(0, {OneClick()});
  const std::string answer = StrongGet(2, "/analytics?timestamp=" + std::to_string(kBase));
  EXPECT_EQ(answer, "unique_users,1\nclicks,1\nimpressions,0\n");
}

TEST_F(ClusterTest, AStrongReadWaitsWithoutHoldingItsEventLoop) {
  SendUntilAcknowledged(0, {OneClick()});
  // Node 2 again with one event loop: every connection to it is served by the same thread.
  tallyd_[2]->KillNine();
  std::vector<std::string> args = ArgsOf(2);
  *(std::find(args.begin(), args.end(), "--threads") + 1) = "1";
  std::string error;
  tallyd_[2] = TallydProcess::Start(args, &error);
  ASSERT_NE(tallyd_[2], nullptr) << error;
  const uint16_t port = tallyd_[2]->port();

  // NATS hangs: the stream's last sequence cannot be fetched, so a strong read cannot be answered yet.
  for (int node = 0; node < nats_->size(); ++node) nats_->Pause(node);
  std::optional<HttpResponse> strong;
  std::chrono::steady_clock::duration strong_took{};
  std::thread reader([&] {
    const auto start = std::chrono::steady_clock::now();
    strong = Fetch(port, "GET",
                   "/v1/stats?from=" + std::to_string(kBase) +
                       "&to=" + std::to_string(kBase + kMillisPerHour) + "&consistency=strong");
    strong_took = std::chrono::steady_clock::now() - start;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  // Meanwhile the same loop answers everything else at once: health, metrics, a local read. (Holding the
  // loop, the strong read would keep them waiting until its request to JetStream timed out, 2 s.)
  for (const std::string target : {"/healthz", "/metrics", "/readyz", "/analytics?timestamp=1793527200000"}) {
    const auto start = std::chrono::steady_clock::now();
    auto response = Fetch(port, "GET", target);
    const auto took = std::chrono::steady_clock::now() - start;
    ASSERT_TRUE(response.has_value()) << target;
    EXPECT_NE(response->status, 0) << target;
    EXPECT_LT(took, std::chrono::seconds(1)) << target << " waited behind the strong read";
  }
  reader.join();
  ASSERT_TRUE(strong.has_value());
  EXPECT_EQ(strong->status, 503) << strong->body;
  EXPECT_NE(strong->body.find("consistency"), std::string::npos) << strong->body;
  EXPECT_EQ(strong->headers["retry-after"], "1");
  EXPECT_GE(strong_took, std::chrono::seconds(1)) << "it should have waited for the stream";

  for (int node = 0; node < nats_->size(); ++node) nats_->Resume(node);
  // Once NATS answers again, so do strong reads, with what was acknowledged.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  std::optional<HttpResponse> answer;
  do {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    answer = Fetch(port, "GET", "/analytics?timestamp=" + std::to_string(kBase) + "&consistency=strong");
  } while ((!answer || answer->status != 200) && std::chrono::steady_clock::now() < deadline);
  ASSERT_TRUE(answer.has_value());
  EXPECT_EQ(answer->status, 200) << answer->body;
  EXPECT_EQ(answer->body, "unique_users,1\nclicks,1\nimpressions,0\n");
}

// A port picked free can be taken before nats-server binds it (another test's connection takes its local
// port from the same range): the cluster starts again on other ports instead of failing the test.
TEST(NatsClusterTest, AServerWhosePortIsTakenMakesTheClusterStartOnOtherPorts) {
  TempDir dir;
  NatsCluster nats(dir.path(), 3);
  const std::string urls = nats.Urls();
  const int taken = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(static_cast<uint16_t>(std::stoi(urls.substr(urls.find("127.0.0.1:") + 10))));
  ASSERT_EQ(::bind(taken, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
  ASSERT_EQ(::listen(taken, 1), 0);
  std::string error;
  EXPECT_TRUE(nats.Start(&error)) << error;
  EXPECT_NE(nats.Urls(), urls);
  ::close(taken);
}

}  // namespace
}  // namespace tally::testing

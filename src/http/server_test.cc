// The HTTP edge in process, in front of a real Engine, for what needs the engine held in a state a tallyd
// process passes through too quickly to test: right after a start, its sealed hour files not installed.
#include "http/server.h"

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include "../../tests/support/event_json.h"
#include "../../tests/support/temp_dir.h"
#include "http_client.h"

namespace tally {
namespace {

using testing::HttpConnection;

constexpr Millis kHour = 1793491200000;  // 2026-11-01T00:00:00Z
const std::string kRange = "from=" + std::to_string(kHour) + "&to=" + std::to_string(kHour + kMillisPerHour);

std::unique_ptr<Engine> OpenEngine(const std::string& dir) {
  auto engine = Engine::Open(EngineOptions{dir, 128ull << 20, 2});
  EXPECT_TRUE(engine.ok()) << engine.status().message();
  return engine.ok() ? std::move(*engine) : nullptr;
}

std::unique_ptr<Server> StartServer(Engine* engine, std::chrono::milliseconds sealed_files_wait) {
  ServerOptions options;
  options.port = 0;
  options.threads = 1;  // one loop: a question that held it would hold every other request
  options.sealed_files_wait = sealed_files_wait;
  auto server = Server::Start(engine, options);
  EXPECT_TRUE(server.ok()) << server.status().message();
  return server.ok() ? std::move(*server) : nullptr;
}

std::string Get(uint16_t port, const std::string& target) {
  auto response = testing::Fetch(port, "GET", target);
  EXPECT_TRUE(response.has_value()) << target;
  if (!response) return {};
  EXPECT_EQ(response->status, 200) << target << ": " << response->body;
  return response->body;
}

class ServerTest : public ::testing::Test {
 protected:
  // 600 events of one hour, 20 products, sealed into files, and a checkpoint that notes them.
  void SetUp() override {
    auto engine = OpenEngine(dir_.path());
    ASSERT_NE(engine, nullptr);
    auto server = StartServer(engine.get(), std::chrono::seconds(30));
    ASSERT_NE(server, nullptr);
    std::string body;
    for (int i = 0; i < 600; ++i) {
      Event event;
      event.event_id = "e" + std::to_string(i);
      event.type = i % 3 == 0 ? "click" : "impression";
      event.user_id = "u" + std::to_string(i % 97);
      event.timestamp = kHour + i * 1000;
      event.product_id = "p" + std::to_string(i * 7 % 20);
      event.store_id = "s" + std::to_string(i % 5);
      body += (body.empty() ? "[" : ",") + testing::EventJson(event);
    }
    body += "]";
    auto posted = testing::Fetch(server->port(), "POST", "/v1/events", body);
    ASSERT_TRUE(posted.has_value());
    ASSERT_EQ(posted->status, 200) << posted->body;
    top_ = Get(server->port(), "/v1/top?by=product_id&limit=5&" + kRange);
    stats_ = Get(server->port(), "/v1/stats?product_id=p3&" + kRange);
    server->Shutdown();
    engine->SealHours(0);
    ASSERT_TRUE(engine->Checkpoint().ok());
  }

  testing::ScratchDirectory dir_;
  std::string top_;    // the hour's top 5 products
  std::string stats_;  // the hour's counts of one product
};

// A question by product or store right after a start waits for the sealed hour files without holding its
// event loop: an event sent meanwhile on another connection to the same loop is acknowledged, and other
// questions answered, while it waits; once the files are in, it is answered from them.
TEST_F(ServerTest, AQuestionWaitingForTheSealedHourFilesLeavesItsLoopToOtherRequests) {
  auto engine = OpenEngine(dir_.path());
  ASSERT_NE(engine, nullptr);
  ASSERT_TRUE(engine->SealedHourFilesPending());
  auto server = StartServer(engine.get(), std::chrono::seconds(60));
  ASSERT_NE(server, nullptr);

  auto waiting = HttpConnection::Connect(server->port());
  ASSERT_NE(waiting, nullptr);
  ASSERT_TRUE(waiting->SendRaw("GET /v1/top?by=product_id&limit=5&" + kRange +
                               " HTTP/1.1\r\nHost: t\r\n\r\nGET /v1/stats?product_id=p3&" + kRange +
                               " HTTP/1.1\r\nHost: t\r\n\r\n"));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // both parked (pipelined: one at a time)

  auto other = HttpConnection::Connect(server->port());
  ASSERT_NE(other, nullptr);
  other->SetReadTimeout(10'000);  // well before the files' wait (60 s) would end
  Event event;
  event.event_id = "while-waiting";
  event.type = "click";
  event.user_id = "u1";
  event.timestamp = kHour + 5;
  event.product_id = "p3";
  auto posted = other->Request("POST", "/v1/events", testing::EventJson(event));
  ASSERT_TRUE(posted.has_value()) << "the loop was held by the waiting question";
  EXPECT_EQ(posted->status, 200) << posted->body;
  EXPECT_EQ(posted->body, R"({"accepted":1,"duplicates":0,"rejected":[]})");
  auto unfiltered = other->Request("GET", "/v1/stats?" + kRange);
  ASSERT_TRUE(unfiltered.has_value());
  EXPECT_EQ(unfiltered->status, 200);
  ASSERT_TRUE(engine->SealedHourFilesPending());

  EXPECT_EQ(engine->InstallSealedHourFiles().installed, 2u);  // the hour, in each of 2 shards
  auto top = waiting->ReadResponse();
  ASSERT_TRUE(top.has_value());
  EXPECT_EQ(top->status, 200);
  auto stats = waiting->ReadResponse();
  ASSERT_TRUE(stats.has_value());
  EXPECT_EQ(stats->status, 200);
  // The late click on p3 counts in both, as in the same questions asked now.
  EXPECT_NE(stats->body, stats_);
  EXPECT_EQ(stats->body, Get(server->port(), "/v1/stats?product_id=p3&" + kRange));
  EXPECT_EQ(top->body, Get(server->port(), "/v1/top?by=product_id&limit=5&" + kRange));
  waiting.reset();
  other.reset();
  server->Shutdown();
}

// When the files are not in by the end of the wait, the question is answered from the rows: the same
// answer, later.
TEST_F(ServerTest, AQuestionWhoseWaitForTheFilesRunsOutIsAnsweredFromTheRows) {
  auto engine = OpenEngine(dir_.path());
  ASSERT_NE(engine, nullptr);
  ASSERT_TRUE(engine->SealedHourFilesPending());
  const auto wait = std::chrono::milliseconds(300);
  auto server = StartServer(engine.get(), wait);
  ASSERT_NE(server, nullptr);
  const auto asked = std::chrono::steady_clock::now();
  EXPECT_EQ(Get(server->port(), "/v1/top?by=product_id&limit=5&" + kRange), top_);
  EXPECT_GE(std::chrono::steady_clock::now() - asked, wait);
  EXPECT_EQ(Get(server->port(), "/v1/stats?product_id=p3&" + kRange), stats_);
  EXPECT_TRUE(engine->SealedHourFilesPending());
  server->Shutdown();
}

}  // namespace
}  // namespace tally

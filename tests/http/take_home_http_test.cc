// The take-home protocol (API.md §1) against the real tallyd.
#include <gtest/gtest.h>

#include <random>
#include <thread>

#include "http_client.h"
#include "tallyd_process.h"

namespace tally::testing {
namespace {

constexpr int64_t kHour = 3'600'000;
constexpr int64_t kHourStart = 1793527200000;  // 2026-11-01T10:00:00Z

std::string Counts(uint64_t users, uint64_t clicks, uint64_t impressions) {
  return "unique_users," + std::to_string(users) + "\nclicks," + std::to_string(clicks) + "\nimpressions," +
         std::to_string(impressions) + "\n";
}

class TakeHomeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string error;
    server_ = TallydProcess::Start({"--data", data_.path() + "/data", "--threads", "2"}, &error);
    ASSERT_NE(server_, nullptr) << error;
  }

  void Post(const std::string& query, int expected_status = 204) {
    auto response = Fetch(server_->port(), "POST", "/analytics?" + query);
    ASSERT_TRUE(response.has_value()) << query;
    EXPECT_EQ(response->status, expected_status) << query << " -> " << response->body;
  }

  std::string Hour(int64_t timestamp) {
    auto response = Fetch(server_->port(), "GET", "/analytics?timestamp=" + std::to_string(timestamp));
    EXPECT_TRUE(response.has_value());
    if (!response) return "";
    EXPECT_EQ(response->status, 200);
    EXPECT_EQ(response->headers["content-type"], "text/plain; charset=utf-8");
    return response->body;
  }

  TempDir data_;
  std::unique_ptr<TallydProcess> server_;
};

TEST_F(TakeHomeTest, PostAnswers204WithNoBodyAndNoContentLength) {
  auto response = Fetch(server_->port(), "POST", "/analytics?timestamp=1793527200000&user=alice&event=click");
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->status, 204);
  EXPECT_EQ(response->body, "");
  EXPECT_FALSE(response->has_header("content-length"));
}

TEST_F(TakeHomeTest, AnHourWithNoEventsAnswersZeros) {
  EXPECT_EQ(Hour(kHourStart), Counts(0, 0, 0));
  EXPECT_EQ(Hour(0), Counts(0, 0, 0));
  EXPECT_EQ(Hour(253402300799999), Counts(0, 0, 0));
}

TEST_F(TakeHomeTest, HourBoundariesBelongToTheirOwnHour) {
  Post("timestamp=" + std::to_string(kHourStart - 1) + "&user=before&event=click");
  Post("timestamp=" + std::to_string(kHourStart) + "&user=first&event=click");
  Post("timestamp=" + std::to_string(kHourStart + kHour - 1) + "&user=last&event=impression");
  Post("timestamp=" + std::to_string(kHourStart + kHour) + "&user=after&event=impression");
  EXPECT_EQ(Hour(kHourStart), Counts(2, 1, 1));
  EXPECT_EQ(Hour(kHourStart + kHour - 1), Counts(2, 1, 1));
  EXPECT_EQ(Hour(kHourStart - 1), Counts(1, 1, 0));
  EXPECT_EQ(Hour(kHourStart + kHour), Counts(1, 0, 1));
}

TEST_F(TakeHomeTest, OneUserClickingAndViewingIsOneUniqueUser) {
  for (int i = 0; i < 3; ++i) Post("timestamp=" + std::to_string(kHourStart + i) + "&user=alice&event=click");
  for (int i = 0; i < 4; ++i)
    Post("timestamp=" + std::to_string(kHourStart + 10 + i) + "&user=alice&impression");
  EXPECT_EQ(Hour(kHourStart + 30 * 60 * 1000), Counts(1, 3, 4));
}

TEST_F(TakeHomeTest, PercentEncodedUsersAreTheSameUser) {
  Post("timestamp=1793527200000&user=u%41&event=click");
  Post("timestamp=1793527200000&user=uA&event=click");
  Post("timestamp=1793527200000&user=a+b&event=click");
  Post("timestamp=1793527200000&user=a%20b&event=click");
  Post("timestamp=1793527200000&user=%E2%82%AC&event=click");
  EXPECT_EQ(Hour(kHourStart), Counts(3, 5, 0));
}

TEST_F(TakeHomeTest, FlagFormMeansTheSameAsEventForm) {
  Post("timestamp=1793527200000&user=a&click");
  Post("click&timestamp=1793527200000&user=b");
  Post("timestamp=1793527200000&user=c&impression");
  EXPECT_EQ(Hour(kHourStart), Counts(3, 2, 1));
}

TEST_F(TakeHomeTest, PastAndFutureHoursAreAnsweredAlike) {
  Post("timestamp=0&user=epoch&event=click");
  Post("timestamp=253402300799999&user=last&event=impression");
  EXPECT_EQ(Hour(1), Counts(1, 1, 0));
  EXPECT_EQ(Hour(253402300799999 - kHour + 1), Counts(1, 0, 1));
}

TEST_F(TakeHomeTest, EveryBadInputIs400NamingTheParameterAndChangesNothing) {
  Post("timestamp=1793527200000&user=kept&event=click");
  const std::string before = Hour(kHourStart);
  const std::vector<std::pair<std::string, std::string>> bad_posts = {
      {"user=a&event=click", "timestamp: missing\n"},
      {"timestamp=&user=a&event=click", "timestamp: empty\n"},
      {"timestamp=12x&user=a&event=click", "timestamp: not an integer\n"},
      {"timestamp=-1&user=a&event=click", "timestamp: out of range (0 to 253402300799999)\n"},
      {"timestamp=253402300800000&user=a&event=click", "timestamp: out of range (0 to 253402300799999)\n"},
      {"timestamp=1793527200000&timestamp=1793527200000&user=a&event=click", "timestamp: repeated\n"},
      {"timestamp=1793527200000&event=click", "user: missing\n"},
      {"timestamp=1793527200000&user=&event=click", "user: empty\n"},
      {"timestamp=1793527200000&user=a&user=a&event=click", "user: repeated\n"},
      {"timestamp=1793527200000&user=" + std::string(257, 'x') + "&event=click",
       "user: longer than 256 bytes\n"},
      {"timestamp=1793527200000&user=%G0&event=click", "user: invalid percent-encoding\n"},
      {"timestamp=1793527200000&user=a&event=purchase", "event: must be click or impression\n"},
      {"timestamp=1793527200000&user=a",
       "event: missing (event=click|impression or a click/impression flag)\n"},
      {"timestamp=1793527200000&user=a&event=click&impression",
       "event: given both as event= and as a flag\n"},
      {"timestamp=1793527200000&user=a&click&impression", "event: both click and impression given\n"},
      {"timestamp=1793527200000&user=a&click&extra=1", "extra: unknown parameter\n"},
  };
  for (const auto& [query, reason] : bad_posts) {
    auto response = Fetch(server_->port(), "POST", "/analytics?" + query);
    ASSERT_TRUE(response.has_value()) << query;
    EXPECT_EQ(response->status, 400) << query;
    EXPECT_EQ(response->body, reason) << query;
  }
  auto with_body = Fetch(server_->port(), "POST", "/analytics?timestamp=1793527200000&user=b&click", "data");
  ASSERT_TRUE(with_body.has_value());
  EXPECT_EQ(with_body->status, 400);
  EXPECT_EQ(with_body->body, "body: the take-home protocol takes no body\n");

  for (const auto& [query, reason] : std::vector<std::pair<std::string, std::string>>{
           {"", "timestamp: missing\n"},
           {"timestamp=soon", "timestamp: not an integer\n"},
           {"timestamp=1&timestamp=2", "timestamp: repeated\n"},
           {"timestamp=1&user=a", "user: unknown parameter\n"}}) {
    auto response = Fetch(server_->port(), "GET", "/analytics?" + query);
    ASSERT_TRUE(response.has_value());
    EXPECT_EQ(response->status, 400) << query;
    EXPECT_EQ(response->body, reason) << query;
  }
  EXPECT_EQ(Hour(kHourStart), before);
  EXPECT_EQ(before, Counts(1, 1, 0));
}

TEST_F(TakeHomeTest, UnknownPathIs404AndWrongMethodIs405WithAllow) {
  auto missing = Fetch(server_->port(), "GET", "/analytic?timestamp=1");
  ASSERT_TRUE(missing.has_value());
  EXPECT_EQ(missing->status, 404);
  for (const char* method : {"PUT", "DELETE", "PATCH"}) {
    auto wrong = Fetch(server_->port(), method, "/analytics?timestamp=1");
    ASSERT_TRUE(wrong.has_value());
    EXPECT_EQ(wrong->status, 405) << method;
    EXPECT_EQ(wrong->headers["allow"], "GET, HEAD, POST");
  }
  auto health_post = Fetch(server_->port(), "POST", "/healthz");
  ASSERT_TRUE(health_post.has_value());
  EXPECT_EQ(health_post->status, 405);
  EXPECT_EQ(health_post->headers["allow"], "GET, HEAD");
}

TEST_F(TakeHomeTest, HealthzAndReadyzAnswerOk) {
  for (const char* path : {"/healthz", "/readyz"}) {
    auto response = Fetch(server_->port(), "GET", path);
    ASSERT_TRUE(response.has_value());
    EXPECT_EQ(response->status, 200) << path;
    EXPECT_EQ(response->body, "ok\n") << path;
  }
}

TEST_F(TakeHomeTest, KeepAliveAndPipelinedRequestsAreAnsweredInOrder) {
  auto connection = HttpConnection::Connect(server_->port());
  ASSERT_NE(connection, nullptr);
  std::string pipelined;
  for (int i = 0; i < 20; ++i) {
    pipelined += "POST /analytics?timestamp=1793527200000&user=p" + std::to_string(i) +
                 "&click HTTP/1.1\r\nHost: t\r\n\r\n";
  }
  pipelined += "GET /analytics?timestamp=1793527200000 HTTP/1.1\r\nHost: t\r\n\r\n";
  pipelined += "POST /analytics?timestamp=bad&user=x&click HTTP/1.1\r\nHost: t\r\n\r\n";
  ASSERT_TRUE(connection->SendRaw(pipelined));
  for (int i = 0; i < 20; ++i) {
    auto response = connection->ReadResponse();
    ASSERT_TRUE(response.has_value()) << i;
    EXPECT_EQ(response->status, 204) << i;
  }
  auto counts = connection->ReadResponse();
  ASSERT_TRUE(counts.has_value());
  EXPECT_EQ(counts->body, Counts(20, 20, 0));
  auto rejected = connection->ReadResponse();
  ASSERT_TRUE(rejected.has_value());
  EXPECT_EQ(rejected->status, 400);
  // The same connection still serves.
  auto again = connection->Request("GET", "/analytics?timestamp=1793527200000");
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(again->body, Counts(20, 20, 0));
}

TEST_F(TakeHomeTest, GarbageOnTheSocketGetsA400OrACloseAndTheServerKeepsServing) {
  std::mt19937 random(7);
  std::vector<std::string> garbage = {
      "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",  // a TLS ClientHello
      "GET\r\n\r\n",
      "POST /analytics?timestamp=1&user=a&click HTTP/9.9\r\n\r\n",
      "GET /analytics HTTP/1.1\r\nContent-Length: -5\r\n\r\n",
      "GET /analytics HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
      "GET / HTTP/1.1\r\n" + std::string(20000, 'h') + "\r\n\r\n",
      std::string(100, '\0'),
  };
  for (int i = 0; i < 20; ++i) {
    std::string bytes;
    for (int j = 0; j < 300; ++j) bytes.push_back(static_cast<char>(random()));
    garbage.push_back(bytes);
  }
  for (const std::string& bytes : garbage) {
    auto connection = HttpConnection::Connect(server_->port());
    ASSERT_NE(connection, nullptr);
    connection->SendRaw(bytes);
    auto response = connection->ReadResponse();
    if (response.has_value()) {
      EXPECT_GE(response->status, 400);
    }
  }
  auto oversized_headers = HttpConnection::Connect(server_->port());
  std::string many_headers = "GET /healthz HTTP/1.1\r\nHost: t\r\n";
  for (int i = 0; i < 200; ++i) many_headers += "X-Header-" + std::to_string(i) + ": value\r\n";
  oversized_headers->SendRaw(many_headers + "\r\n");
  auto refused = oversized_headers->ReadResponse();
  if (refused.has_value()) {
    EXPECT_GE(refused->status, 400);
  }

  Post("timestamp=1793527200000&user=still-here&click");
  EXPECT_EQ(Hour(kHourStart), Counts(1, 1, 0));
}

TEST_F(TakeHomeTest, ABodyOverTheLimitIs413) {
  std::string error;
  TempDir dir;
  auto small = TallydProcess::Start({"--data", dir.path(), "--max-body-bytes", "1024"}, &error);
  ASSERT_NE(small, nullptr) << error;
  auto response = Fetch(small->port(), "POST", "/analytics?timestamp=1&user=a&click", std::string(4096, 'x'));
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->status, 413);
}

TEST_F(TakeHomeTest, EightConcurrentClientsGetExactTotals) {
  constexpr int kClients = 8;
  constexpr int kEventsPerClient = 400;
  std::vector<std::thread> clients;
  std::atomic<int> acked{0};
  for (int c = 0; c < kClients; ++c) {
    clients.emplace_back([&, c] {
      auto connection = HttpConnection::Connect(server_->port());
      ASSERT_NE(connection, nullptr);
      for (int i = 0; i < kEventsPerClient; ++i) {
        // 100 users per client, shared by nobody else; every 4th event an impression.
        std::string query = "timestamp=" + std::to_string(kHourStart + i) + "&user=c" + std::to_string(c) +
                            "-u" + std::to_string(i % 100) + (i % 4 == 0 ? "&impression" : "&click");
        auto response = connection->Request("POST", "/analytics?" + query);
        ASSERT_TRUE(response.has_value());
        ASSERT_EQ(response->status, 204);
        ++acked;
      }
    });
  }
  for (auto& client : clients) client.join();
  ASSERT_EQ(acked.load(), kClients * kEventsPerClient);
  EXPECT_EQ(Hour(kHourStart), Counts(kClients * 100, kClients * 300, kClients * 100));
}

TEST_F(TakeHomeTest, ASilentConnectionIsClosedAfterTheIdleTimeout) {
  std::string error;
  TempDir dir;
  auto strict = TallydProcess::Start({"--data", dir.path(), "--idle-timeout", "1"}, &error);
  ASSERT_NE(strict, nullptr) << error;
  auto idle = HttpConnection::Connect(strict->port());
  ASSERT_NE(idle, nullptr);
  EXPECT_TRUE(idle->WaitForClose(5000));
  auto slow = HttpConnection::Connect(strict->port());
  slow->SendRaw("GET /healthz HTTP/1.1\r\n");  // and never finishes the request
  EXPECT_TRUE(slow->WaitForClose(5000));
}

}  // namespace
}  // namespace tally::testing

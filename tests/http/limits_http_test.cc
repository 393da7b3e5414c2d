// Every limit on what a client controls, against the real server: each answers with the status and a
// message naming the field and the flag, changes nothing, and leaves the server serving others.
#include <gtest/gtest.h>

#include <fstream>
#include <thread>

#include "http_client.h"
#include "tallyd_process.h"

namespace tally::testing {
namespace {

constexpr const char* kHour = "/analytics?timestamp=1793527200000";
constexpr const char* kClick = "/analytics?timestamp=1793527200000&user=a&event=click";
constexpr const char* kNoEvents = "unique_users,0\nclicks,0\nimpressions,0\n";

std::unique_ptr<TallydProcess> StartServer(const TempDir& dir, std::vector<std::string> flags) {
  flags.insert(flags.begin(), {"--data", dir.path() + "/data"});
  std::string error;
  auto server = TallydProcess::Start(flags, &error);
  EXPECT_NE(server, nullptr) << error;
  return server;
}

std::string RequestWithHeaders(std::string_view method, std::string_view target, int extra_headers,
                               size_t header_value_bytes = 1) {
  std::string request = std::string(method) + " " + std::string(target) + " HTTP/1.1\r\nHost: t\r\n";
  for (int i = 0; i < extra_headers; ++i)
    request += "X-Extra-" + std::to_string(i) + ": " + std::string(header_value_bytes, 'v') + "\r\n";
  return request + "Content-Length: 0\r\n\r\n";
}

std::optional<HttpResponse> SendRaw(uint16_t port, const std::string& request) {
  auto connection = HttpConnection::Connect(port);
  if (!connection || !connection->SendRaw(request)) return std::nullopt;
  return connection->ReadResponse();
}

TEST(Limits, ALongTargetIs414AndTooManyOrTooLargeHeadersAre431) {
  TempDir dir;
  auto server = StartServer(
      dir, {"--max-target-bytes", "200", "--max-header-count", "10", "--max-header-bytes", "1000"});
  ASSERT_NE(server, nullptr);
  const uint16_t port = server->port();
  const std::string long_click = std::string(kClick) + "&pad=" + std::string(200, 'x');
  auto response = Fetch(port, "POST", long_click);
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->status, 414);
  EXPECT_NE(response->body.find("target: "), std::string::npos) << response->body;
  EXPECT_NE(response->body.find("--max-target-bytes"), std::string::npos) << response->body;
  response = Fetch(port, "GET", "/v1/stats?pad=" + std::string(200, 'x'));
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->status, 414);
  EXPECT_NE(response->body.find(R"("error":"too_large")"), std::string::npos) << response->body;

  response = SendRaw(port, RequestWithHeaders("POST", kClick, 12));
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->status, 431);
  EXPECT_NE(response->body.find("--max-header-count"), std::string::npos) << response->body;
  response = SendRaw(port, RequestWithHeaders("POST", kClick, 3, 400));
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->status, 431);
  EXPECT_NE(response->body.find("--max-header-bytes"), std::string::npos) << response->body;
  // Within the limits the same requests pass; none of the refused ones was counted.
  response = Fetch(port, "GET", kHour);
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->body, kNoEvents);
  response = SendRaw(port, RequestWithHeaders("POST", kClick, 5, 100));
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->status, 204);
  response = Fetch(port, "GET", "/metrics");
  ASSERT_TRUE(response.has_value());
  for (const char* line :
       {"tally_refused_total{limit=\"target_bytes\"} 2\n", "tally_refused_total{limit=\"header_count\"} 1\n",
        "tally_refused_total{limit=\"header_bytes\"} 1\n"}) {
    EXPECT_NE(response->body.find(line), std::string::npos) << line << response->body;
  }
}

TEST(Limits, PropertiesTooDeepOrTooLargeRejectTheEventWithItsReason) {
  TempDir dir;
  auto server = StartServer(dir, {"--max-json-depth", "4", "--max-properties-bytes", "100"});
  ASSERT_NE(server, nullptr);
  const std::string head = R"({"type":"click","user_id":"u","timestamp":1793527200000,"properties":)";
  const std::string body = "[" + head + R"({"a":[[[1]]]}},)" + head + R"({"a":[[[[1]]]]}},)" + head +
                           R"({"a":")" + std::string(100, 'x') + R"("}}])";
  auto response = Fetch(server->port(), "POST", "/v1/events", body);
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->status, 200);
  EXPECT_NE(response->body.find(R"("accepted":1)"), std::string::npos) << response->body;
  EXPECT_NE(response->body.find("properties: nested deeper than 4 levels"), std::string::npos)
      << response->body;
  EXPECT_NE(response->body.find("properties: larger than 100 bytes"), std::string::npos) << response->body;
  response = Fetch(server->port(), "GET", "/v1/rejected");
  ASSERT_TRUE(response.has_value());
  EXPECT_NE(response->body.find("nested deeper than 4 levels"), std::string::npos) << response->body;
}

TEST(Limits, AConnectionOverTheLimitGetsA503AndClosedConnectionsFreeTheirPlace) {
  TempDir dir;
  auto server = StartServer(dir, {"--max-connections", "3", "--threads", "2"});
  ASSERT_NE(server, nullptr);
  std::vector<std::unique_ptr<HttpConnection>> held;
  for (int i = 0; i < 3; ++i) {
    held.push_back(HttpConnection::Connect(server->port()));
    ASSERT_NE(held.back(), nullptr);
    auto response = held.back()->Request("GET", "/healthz");  // so the server has accepted it
    ASSERT_TRUE(response.has_value());
    EXPECT_EQ(response->status, 200);
  }
  auto extra = HttpConnection::Connect(server->port());
  ASSERT_NE(extra, nullptr);
  auto refused = extra->ReadResponse();
  ASSERT_TRUE(refused.has_value());
  EXPECT_EQ(refused->status, 503);
  EXPECT_EQ(refused->headers["retry-after"], "1");
  EXPECT_NE(refused->body.find("connections: 3 are open, the limit (--max-connections)"), std::string::npos);
  EXPECT_TRUE(extra->WaitForClose(5000));
  auto metrics = held.front()->Request("GET", "/metrics");
  ASSERT_TRUE(metrics.has_value());
  EXPECT_NE(metrics->body.find("tally_refused_total{limit=\"connections\"} 1\n"), std::string::npos)
      << metrics->body;
  // Connections that close give their place back, again and again.
  held.pop_back();
  for (int i = 0; i < 10; ++i) {
    std::optional<HttpResponse> response;
    for (int attempt = 0; attempt < 50; ++attempt) {  // the server sees the close a moment later
      response = Fetch(server->port(), "GET", "/healthz");
      if (response && response->status == 200) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    ASSERT_TRUE(response.has_value());
    EXPECT_EQ(response->status, 200) << response->body;
  }
}

TEST(Limits, AClientTricklingItsRequestIsCutOffAndOthersAreServed) {
  TempDir dir;
  auto server = StartServer(dir, {"--idle-timeout", "2"});
  ASSERT_NE(server, nullptr);
  auto trickle = [&](const std::string& request) {
    auto slow = HttpConnection::Connect(server->port());
    const auto start = std::chrono::steady_clock::now();
    for (const char c : request) {
      if (!slow->SendRaw(std::string(1, c))) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      if (std::chrono::steady_clock::now() - start > std::chrono::seconds(10)) break;
    }
    EXPECT_TRUE(slow->WaitForClose(5000));
    return std::chrono::steady_clock::now() - start;
  };
  // Slow headers, then a slow body: each byte comes well within the timeout, the request never does.
  EXPECT_LT(trickle(RequestWithHeaders("GET", kHour, 20)), std::chrono::seconds(6));
  EXPECT_LT(
      trickle("POST /v1/events HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\n" + std::string(100, ' ')),
      std::chrono::seconds(6));
  auto response = Fetch(server->port(), "GET", kHour);
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->status, 200);
}

// A batch over the burst passes on a full bucket and leaves 20 s of debt: the refusals below cannot turn
// into passes however slow the machine is (the refill itself is unit-tested with a clock).
std::string ThirtyEvents() {
  std::string events = "[";
  for (int i = 0; i < 30; ++i) {
    events += std::string(i > 0 ? "," : "") + R"({"type":"click","user_id":"u)" + std::to_string(i) +
              R"(","timestamp":1793527200000})";
  }
  return events + "]";
}

TEST(Limits, IngestOverTheRateIs429WithRetryAfterAndWritesNothing) {
  TempDir dir;
  auto server = StartServer(dir, {"--ingest-rate", "1", "--ingest-burst", "10"});
  ASSERT_NE(server, nullptr);
  auto response = Fetch(server->port(), "POST", "/v1/events", ThirtyEvents());
  ASSERT_TRUE(response.has_value());
  EXPECT_NE(response->body.find(R"("accepted":30)"), std::string::npos) << response->body;
  response = Fetch(server->port(), "POST", "/v1/events", ThirtyEvents());
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->status, 429);
  EXPECT_GE(std::stoi(response->headers["retry-after"]), 15);
  EXPECT_NE(response->body.find(R"("error":"rate_limited")"), std::string::npos) << response->body;
  EXPECT_NE(response->body.find("--ingest-rate"), std::string::npos) << response->body;
  response = Fetch(server->port(), "POST", kClick);
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->status, 429);
  EXPECT_NE(response->body.find("rate: the address 127.0.0.1"), std::string::npos) << response->body;
  // Reads are not limited, and nothing refused was written.
  response = Fetch(server->port(), "GET", kHour);
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->body, "unique_users,30\nclicks,30\nimpressions,0\n");
}

TEST(Limits, EachKeyHasItsOwnRate) {
  TempDir dir;
  const std::string keys = dir.path() + "/keys";
  std::ofstream(keys) << "a ingest key-a-000000000000\nb ingest key-b-000000000000\n";
  auto server = StartServer(dir, {"--keys", keys, "--ingest-rate", "1", "--ingest-burst", "10"});
  ASSERT_NE(server, nullptr);
  auto post = [&](const char* secret, std::string_view target, const std::string& body) {
    auto connection = HttpConnection::Connect(server->port());
    connection->SendRaw("POST " + std::string(target) + " HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer " +
                        secret + "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body);
    return connection->ReadResponse();
  };
  EXPECT_EQ(post("key-a-000000000000", "/v1/events", ThirtyEvents())->status, 200);
  auto refused = post("key-a-000000000000", kClick, "");
  EXPECT_EQ(refused->status, 429);
  EXPECT_NE(refused->body.find("rate: the key 'a'"), std::string::npos) << refused->body;
  EXPECT_EQ(post("key-b-000000000000", kClick, "")->status, 204);
}

TEST(Limits, BehindATrustedProxyEachForwardedClientHasItsOwnRate) {
  auto post_from = [](uint16_t port, std::string_view forwarded_for) {
    auto connection = HttpConnection::Connect(port);
    connection->SendRaw("POST " + std::string(kClick) + " HTTP/1.1\r\nHost: t\r\nX-Forwarded-For: " +
                        std::string(forwarded_for) + "\r\nContent-Length: 0\r\n\r\n");
    return connection->ReadResponse();
  };
  TempDir dir;
  auto server =
      StartServer(dir, {"--ingest-rate", "1", "--ingest-burst", "1", "--trusted-proxies", "127.0.0.0/8"});
  ASSERT_NE(server, nullptr);
  EXPECT_EQ(post_from(server->port(), "198.51.100.1")->status, 204);
  auto refused = post_from(server->port(), "203.0.113.9, 198.51.100.1");  // the client wrote the first
  EXPECT_EQ(refused->status, 429);
  EXPECT_NE(refused->body.find("rate: the address 198.51.100.1"), std::string::npos) << refused->body;
  EXPECT_EQ(post_from(server->port(), "198.51.100.2")->status, 204);

  // From a peer not named as a proxy, the header is anyone's to write: every client shares its address.
  TempDir other;
  auto untrusting = StartServer(other, {"--ingest-rate", "1", "--ingest-burst", "1"});
  ASSERT_NE(untrusting, nullptr);
  EXPECT_EQ(post_from(untrusting->port(), "198.51.100.1")->status, 204);
  refused = post_from(untrusting->port(), "198.51.100.2");
  EXPECT_EQ(refused->status, 429);
  EXPECT_NE(refused->body.find("rate: the address 127.0.0.1"), std::string::npos) << refused->body;
}

TEST(Cors, ConfiguredOriginsGetCorsHeadersAndPreflightsOthersAre403AndChangeNothing) {
  TempDir dir;
  auto server = StartServer(dir, {"--cors-origins", "https://shop.example,https://blog.example"});
  ASSERT_NE(server, nullptr);
  auto send = [&](std::string_view method, std::string_view target, std::string_view origin) {
    return SendRaw(server->port(), std::string(method) + " " + std::string(target) +
                                       " HTTP/1.1\r\nHost: t\r\nOrigin: " + std::string(origin) +
                                       "\r\nContent-Length: 0\r\n\r\n");
  };
  auto preflight = send("OPTIONS", "/v1/events", "https://blog.example");
  ASSERT_TRUE(preflight.has_value());
  EXPECT_EQ(preflight->status, 204);
  EXPECT_EQ(preflight->headers["access-control-allow-origin"], "https://blog.example");
  EXPECT_NE(preflight->headers["access-control-allow-methods"].find("POST"), std::string::npos);
  EXPECT_NE(preflight->headers["access-control-allow-headers"].find("Authorization"), std::string::npos);
  auto allowed = send("POST", kClick, "https://shop.example");
  ASSERT_TRUE(allowed.has_value());
  EXPECT_EQ(allowed->status, 204);
  EXPECT_EQ(allowed->headers["access-control-allow-origin"], "https://shop.example");
  EXPECT_EQ(allowed->headers["vary"], "Origin");
  auto refused = send("POST", kClick, "https://evil.example");
  ASSERT_TRUE(refused.has_value());
  EXPECT_EQ(refused->status, 403);
  EXPECT_NE(refused->body.find("origin: 'https://evil.example'"), std::string::npos) << refused->body;
  EXPECT_EQ(send("OPTIONS", "/v1/events", "https://evil.example")->status, 403);
  // Requests without Origin (servers, curl) are not browsers: no CORS rules.
  auto response = Fetch(server->port(), "GET", kHour);
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->body, "unique_users,1\nclicks,1\nimpressions,0\n");
  EXPECT_FALSE(response->has_header("access-control-allow-origin"));
}

TEST(Config, ATomlFileSetsFlagsAndTheCommandLineWins) {
  TempDir dir;
  const std::string config = dir.path() + "/tally.toml";
  std::ofstream(config) << "# tallyd settings\nmax-target-bytes = 100\nmax-header-count = 8\n"
                        << "log-level = \"warn\"\n";
  const std::string listen = "127.0.0.1:" + std::to_string(FreePort());
  auto server = StartServer(dir, {"--config", config, "--max-header-count", "50", "--listen", listen});
  ASSERT_NE(server, nullptr);
  auto response = Fetch(server->port(), "GET", std::string(kHour) + "&pad=" + std::string(100, 'x'));
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->status, 414) << "max-target-bytes from the file";
  response = SendRaw(server->port(), RequestWithHeaders("GET", kHour, 20));
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->status, 200) << "--max-header-count on the command line wins: " << response->body;
  EXPECT_EQ(server->Terminate(), 0);
  // log-level warn from the file: info lines are not written, warnings are.
  EXPECT_EQ(server->Log().find("level=info"), std::string::npos) << server->Log();
  EXPECT_NE(server->Log().find("level=warning msg=\"no API keys"), std::string::npos) << server->Log();

  auto bad = RunTallydToExit({"--data", dir.path() + "/data2", "--config", dir.path() + "/missing.toml"});
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.output.find("missing.toml"), std::string::npos) << bad.output;
}

TEST(Logging, LinesCarryTimeLevelAndAQuotedMessage) {
  TempDir dir;
  auto server = StartServer(dir, {});
  ASSERT_NE(server, nullptr);
  EXPECT_EQ(server->Terminate(), 0);
  const std::string log = server->Log();
  EXPECT_NE(log.find(" level=info msg=\"tallyd listening on 127.0.0.1:"), std::string::npos) << log;
  EXPECT_EQ(log.rfind("ts=20", 0), 0u) << log;
}

}  // namespace
}  // namespace tally::testing

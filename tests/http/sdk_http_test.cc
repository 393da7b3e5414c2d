// The wire formats other tools' SDKs speak, against the real server: gzip bodies on every POST (the limit
// on what they inflate to), Segment's HTTP Tracking API with its write key, PostHog's capture API with its
// api_key and compression, and type names as those SDKs send them. A re-sent message counts once, and a
// request without a key writes nothing.
#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <thread>

#include "../support/gzip.h"
#include "http_client.h"
#include "tallyd_process.h"

namespace tally::testing {
namespace {

constexpr const char* kIngest = "ingest-secret-000001";
constexpr const char* kRead = "read-secret-00000001";
constexpr const char* kAllTime = "/v1/stats?from=0&to=253402300800000&bucket=all";

std::string Base64(std::string_view text) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  for (size_t i = 0; i < text.size(); i += 3) {
    uint32_t group = static_cast<uint8_t>(text[i]) << 16;
    if (i + 1 < text.size()) group |= static_cast<uint8_t>(text[i + 1]) << 8;
    if (i + 2 < text.size()) group |= static_cast<uint8_t>(text[i + 2]);
    for (size_t j = 0; j < 4; ++j)
      out.push_back(i + j <= text.size() ? kAlphabet[(group >> (18 - 6 * j)) & 63] : '=');
  }
  return out;
}

class SdkApisTest : public ::testing::Test {
 protected:
  void Start(std::vector<std::string> args) {
    args.insert(args.end(), {"--data", dir_.path() + "/data"});
    std::string error;
    server_ = TallydProcess::Start(args, &error);
    ASSERT_NE(server_, nullptr) << error;
  }
  void StartWithKeys(std::vector<std::string> args = {}) {
    std::ofstream(dir_.path() + "/keys") << "web ingest " << kIngest << "\nanalyst read " << kRead << "\n";
    args.insert(args.end(), {"--keys", dir_.path() + "/keys"});
    Start(std::move(args));
  }
  // One request with these header lines ("Name: value\r\n" each).
  HttpResponse Send(std::string_view method, std::string_view target, std::string_view headers,
                    std::string_view body = {}) {
    auto connection = HttpConnection::Connect(server_->port());
    EXPECT_NE(connection, nullptr);
    std::string request = std::string(method) + " " + std::string(target) + " HTTP/1.1\r\nHost: t\r\n" +
                          std::string(headers) + "Content-Length: " + std::to_string(body.size()) +
                          "\r\n\r\n" + std::string(body);
    EXPECT_TRUE(connection->SendRaw(request));
    auto response = connection->ReadResponse();
    EXPECT_TRUE(response.has_value()) << target;
    return response.value_or(HttpResponse{});
  }
  std::string Read(std::string_view target, std::string_view key = {}) {
    return Send("GET", target, key.empty() ? "" : "Authorization: Bearer " + std::string(key) + "\r\n").body;
  }

  TempDir dir_;
  std::unique_ptr<TallydProcess> server_;
};

TEST_F(SdkApisTest, AGzipBodyIsTakenAndItsLimitIsOnWhatItInflatesTo) {
  Start({"--max-body-bytes", "65536"});
  std::string ndjson;
  for (int i = 0; i < 1000; ++i) {
    ndjson += R"({"type":"Order Completed","user_id":"u)" + std::to_string(i % 50) +
              R"(","timestamp":1793527200000,"event_id":"e)" + std::to_string(i) + "\"}\n";
  }
  ASSERT_GT(ndjson.size(), 65536u);  // too large as sent, small enough compressed
  HttpResponse too_large = Send(
      "POST", "/v1/events", "Content-Type: application/x-ndjson\r\nContent-Encoding: gzip\r\n", Gzip(ndjson));
  EXPECT_EQ(too_large.status, 413);
  EXPECT_NE(too_large.body.find("body: larger than 65536 bytes once decompressed"), std::string::npos)
      << too_large.body;
  ndjson.resize(ndjson.find('\n', 30000) + 1);
  HttpResponse accepted = Send(
      "POST", "/v1/events", "Content-Type: application/x-ndjson\r\nContent-Encoding: GZIP\r\n", Gzip(ndjson));
  ASSERT_EQ(accepted.status, 200) << accepted.body;
  const std::string events = std::to_string(std::count(ndjson.begin(), ndjson.end(), '\n'));
  EXPECT_EQ(accepted.body, R"({"accepted":)" + events + R"(,"duplicates":0,"rejected":[]})");
  // A type with a space, as SDKs name events, is a type in every query.
  EXPECT_NE(Read(std::string(kAllTime) + "&type=Order%20Completed").find("\"events\":" + events),
            std::string::npos);

  // A body that does not inflate, or is coded some other way, changes nothing.
  HttpResponse not_gzip = Send("POST", "/v1/events", "Content-Encoding: gzip\r\n", "{\"type\":\"a\"}");
  EXPECT_EQ(not_gzip.status, 400);
  EXPECT_NE(not_gzip.body.find("body: not valid gzip"), std::string::npos) << not_gzip.body;
  HttpResponse brotli = Send("POST", "/v1/events", "Content-Encoding: br\r\n", "x");
  EXPECT_EQ(brotli.status, 415);
  EXPECT_NE(brotli.body.find("Content-Encoding: 'br' is not supported"), std::string::npos) << brotli.body;
  EXPECT_EQ(Read("/v1/rejected"), R"({"rejected":[]})");
  EXPECT_NE(Read(kAllTime).find("\"events\":" + events), std::string::npos);

  // Every POST and PUT: a schema too.
  EXPECT_EQ(Send("PUT", "/v1/schemas/Order%20Completed", "Content-Encoding: gzip\r\n",
                 Gzip(R"({"required":["total"]})"))
                .status,
            200);
  EXPECT_NE(Read("/v1/schemas/Order%20Completed").find(R"("required":["total"])"), std::string::npos);
}

TEST_F(SdkApisTest, ABodyThatIsNotJsonIsA400AndIsKept) {
  Start({});
  HttpResponse response = Send("POST", "/v1/events", "Content-Type: application/json\r\n", "{not json");
  EXPECT_EQ(response.status, 400);
  EXPECT_NE(response.body.find(R"("message":"body: not valid JSON)"), std::string::npos) << response.body;
  // The 400 goes out at once; the rejected record is in the log with the loop's next batch.
  std::string rejected;
  for (int attempt = 0; attempt < 200 && rejected.find("{not json") == std::string::npos; ++attempt) {
    if (attempt > 0) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    rejected = Read("/v1/rejected");
  }
  EXPECT_NE(rejected.find(R"("raw":"{not json")"), std::string::npos) << rejected;
}

TEST_F(SdkApisTest, SegmentTakesItsWriteKeyAndCountsAResentBatchOnce) {
  StartWithKeys();
  const std::string batch =
      R"({"batch":[)"
      R"({"type":"track","event":"Order Completed","userId":"u1","messageId":"m1",)"
      R"("timestamp":"2026-11-01T10:10:00.000Z","properties":{"product_id":"p1","total":30}},)"
      R"({"type":"page","name":"Pricing","anonymousId":"a1","messageId":"m2","timestamp":"2026-11-01T10:11:00Z"},)"
      R"({"type":"identify","userId":"u1","anonymousId":"a1","messageId":"m3","traits":{"plan":"pro"},)"
      R"("timestamp":"2026-11-01T10:12:00Z"}],)"
      R"("sentAt":"2026-11-01T10:12:01Z","context":{"library":{"name":"analytics-node"}}})";
  // No key: refused, and nothing kept, not even as rejected input.
  HttpResponse anonymous = Send("POST", "/v1/batch", "", batch);
  EXPECT_EQ(anonymous.status, 401);
  EXPECT_NE(anonymous.body.find("writeKey: missing"), std::string::npos) << anonymous.body;
  const std::string read_key_basic = "Authorization: Basic " + Base64(std::string(kRead) + ":") + "\r\n";
  EXPECT_EQ(Send("POST", "/v1/batch", read_key_basic, batch).status, 403);
  EXPECT_EQ(Send("POST", "/v1/batch", "", R"({"writeKey":"not-a-key","batch":[]})").status, 401);
  EXPECT_EQ(Read("/v1/rejected", kRead), R"({"rejected":[]})");

  const std::string basic = "Authorization: Basic " + Base64(std::string(kIngest) + ":") + "\r\n";
  HttpResponse first = Send("POST", "/v1/batch", basic, batch);
  ASSERT_EQ(first.status, 200);
  EXPECT_EQ(first.body, R"({"success":true,"accepted":3,"duplicates":0,"rejected":[]})");
  HttpResponse again = Send("POST", "/v1/batch", basic, batch);
  EXPECT_EQ(again.body, R"({"success":true,"accepted":0,"duplicates":3,"rejected":[]})");
  // The write key in the body, as analytics.js sends it; one call on its own path.
  HttpResponse track = Send("POST", "/v1/track", "",
                            std::string(R"({"writeKey":")") + kIngest +
                                R"(","event":"Order Completed","userId":"u2","messageId":"m4",)"
                                R"("timestamp":"2026-11-01T10:20:00Z"})");
  EXPECT_EQ(track.body, R"({"success":true,"accepted":1,"duplicates":0,"rejected":[]})");
  HttpResponse bad = Send("POST", "/v1/batch", basic, R"({"batch":[{"type":"track","userId":"u"}]})");
  EXPECT_EQ(bad.body,
            R"({"success":true,"accepted":0,"duplicates":0,)"
            R"json("rejected":[{"index":0,"error":"event: missing (a track call names its event)"}]})json");

  const std::string hour = "/v1/stats?from=1793527200000&to=1793530800000&bucket=all";
  const std::string stats = Read(hour, kRead);
  EXPECT_NE(stats.find(R"("events":4,"unique_users":3)"), std::string::npos) << stats;  // u1, a1, u2
  EXPECT_NE(stats.find(R"("Order Completed":2)"), std::string::npos) << stats;
  EXPECT_NE(stats.find(R"("Pricing":1)"), std::string::npos) << stats;
  const std::string m1 = Read("/v1/events/m1", kRead);
  EXPECT_NE(m1.find(R"("product_id":"p1")"), std::string::npos) << m1;
  EXPECT_NE(m1.find(R"("$segment":{"type":"track","context":{"library":{"name":"analytics-node"}}})"),
            std::string::npos)
      << m1;
  EXPECT_EQ(m1.find(kIngest), std::string::npos);  // the write key is never kept
  EXPECT_NE(Read("/v1/top?by=product_id&from=1793527200000&to=1793530800000", kRead).find(R"("key":"p1")"),
            std::string::npos);
  const std::string metrics = Read("/metrics", kRead);
  EXPECT_NE(metrics.find(R"(tally_http_responses_total{route="segment",code="2xx"} 4)"), std::string::npos)
      << metrics;
}

TEST_F(SdkApisTest, PostHogTakesItsApiKeyInTheBodyAndItsCompressedForms) {
  StartWithKeys();
  auto batch = [](std::string_view key, std::string_view uuid) {
    return std::string(R"({"api_key":")") + std::string(key) + R"(","batch":[{"event":"$pageview",)" +
           R"("distinct_id":"d1","uuid":")" + std::string(uuid) +
           R"(","timestamp":"2026-11-01T10:30:00Z","properties":{"$session_id":"s1","$current_url":"/"}}]})";
  };
  EXPECT_EQ(Send("POST", "/batch/", "", batch("", "x")).status, 401);
  EXPECT_EQ(Send("POST", "/batch/", "", batch(kRead, "x")).status, 403);
  HttpResponse gzip = Send("POST", "/batch/", "Content-Type: application/json\r\nContent-Encoding: gzip\r\n",
                           Gzip(batch(kIngest, "u-1")));
  ASSERT_EQ(gzip.status, 200) << gzip.body;
  EXPECT_EQ(gzip.body, R"({"status":1,"accepted":1,"duplicates":0,"rejected":[]})");
  // posthog-js's form: the compression in the query, no header.
  HttpResponse query =
      Send("POST", "/e/?compression=gzip-js&ip=1&_=1793527200000&ver=1.0", "", Gzip(batch(kIngest, "u-2")));
  EXPECT_EQ(query.body, R"({"status":1,"accepted":1,"duplicates":0,"rejected":[]})");
  HttpResponse resent = Send("POST", "/i/v0/e/", "", batch(kIngest, "u-2"));
  EXPECT_EQ(resent.body, R"({"status":1,"accepted":0,"duplicates":1,"rejected":[]})");
  HttpResponse single = Send("POST", "/capture/", "",
                             std::string(R"({"api_key":")") + kIngest +
                                 R"(","event":"signed up","distinct_id":"d2","timestamp":1793529000000})");
  EXPECT_EQ(single.body, R"({"status":1,"accepted":1,"duplicates":0,"rejected":[]})");
  EXPECT_EQ(Send("POST", "/e/?compression=lz64", "", "x").status, 400);
  HttpResponse not_json =
      Send("POST", "/capture/", "Authorization: Bearer " + std::string(kIngest) + "\r\n", "{");
  EXPECT_EQ(not_json.status, 400);
  EXPECT_NE(not_json.body.find(R"("error":"invalid_argument")"), std::string::npos) << not_json.body;

  const std::string stats = Read("/v1/stats?from=1793527200000&to=1793530800000&bucket=all", kRead);
  EXPECT_NE(stats.find(R"("events":3,"unique_users":2)"), std::string::npos) << stats;
  EXPECT_NE(stats.find(R"("$pageview":2)"), std::string::npos) << stats;
  const std::string u1 = Read("/v1/events/u-1", kRead);
  EXPECT_NE(u1.find(R"("session_id":"s1")"), std::string::npos) << u1;
}

}  // namespace
}  // namespace tally::testing

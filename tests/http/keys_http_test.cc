// Keys and roles against the real server: 401 without a known key, 403 for the wrong role, nothing
// changed by a refused request, the key's name kept with rejected input, and SIGHUP reloading the keys
// without dropping connections.
#include <signal.h>

#include <gtest/gtest.h>

#include <sys/stat.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "http_client.h"
#include "tallyd_process.h"

namespace tally::testing {
namespace {

constexpr const char* kIngest = "ingest-secret-000001";
constexpr const char* kRead = "read-secret-00000001";
constexpr const char* kAdmin = "admin-secret-0000001";

class KeysTest : public ::testing::Test {
 protected:
  void SetUp() override {
    keys_path_ = dir_.path() + "/keys";
    WriteKeys(std::string("web ingest ") + kIngest + "\nanalyst read " + kRead + "\nops admin " + kAdmin +
              "\n");
    std::string error;
    server_ = TallydProcess::Start({"--data", dir_.path() + "/data", "--keys", keys_path_}, &error);
    ASSERT_NE(server_, nullptr) << error;
  }
  void WriteKeys(const std::string& text) { std::ofstream(keys_path_) << text; }

  static std::string Request(std::string_view method, std::string_view target, std::string_view key,
                             std::string_view body = {}) {
    std::string request = std::string(method) + " " + std::string(target) + " HTTP/1.1\r\nHost: t\r\n";
    if (!key.empty()) request += "Authorization: Bearer " + std::string(key) + "\r\n";
    request += "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + std::string(body);
    return request;
  }
  std::optional<HttpResponse> Call(std::string_view method, std::string_view target, std::string_view key,
                                   std::string_view body = {}) {
    auto connection = HttpConnection::Connect(server_->port());
    if (!connection || !connection->SendRaw(Request(method, target, key, body))) return std::nullopt;
    return connection->ReadResponse(method == "HEAD");
  }
  int Status(std::string_view method, std::string_view target, std::string_view key,
             std::string_view body = {}) {
    auto response = Call(method, target, key, body);
    return response ? response->status : -1;
  }

  TempDir dir_;
  std::string keys_path_;
  std::unique_ptr<TallydProcess> server_;
};

const std::string kHourQuery = "/analytics?timestamp=1793527200000";
const std::string kClick = "/analytics?timestamp=1793527200000&user=a&event=click";

TEST_F(KeysTest, TheTrackersKeyMayComeAsAQueryParameterOnPostEventsOnly) {
  const std::string event = R"({"type":"click","user_id":"a","timestamp":1793527200000})";
  EXPECT_EQ(Status("POST", std::string("/v1/events?key=") + kIngest, "", event), 200);
  EXPECT_EQ(Status("POST", std::string("/v1/events?key=") + kRead, "", event), 403);
  EXPECT_EQ(Status("POST", "/v1/events?key=not-a-key-at-all-xx", "", event), 401);
  EXPECT_EQ(Status("GET", kHourQuery + "&key=" + kRead, ""), 401);
  // The static files need no key: websites load the tracker, the dashboard asks for one itself.
  EXPECT_EQ(Status("GET", "/v1/tracker.js", ""), 200);
  EXPECT_EQ(Status("GET", "/", ""), 200);
  EXPECT_EQ(Status("GET", "/v1/openapi.json", ""), 200);
  EXPECT_EQ(Call("GET", kHourQuery, kRead)->body, "unique_users,1\nclicks,1\nimpressions,0\n");
}

TEST_F(KeysTest, NoKeyOrAnUnknownKeyIs401AndChangesNothing) {
  auto missing = Call("POST", kClick, "");
  ASSERT_TRUE(missing.has_value());
  EXPECT_EQ(missing->status, 401);
  EXPECT_NE(missing->body.find("authorization"), std::string::npos) << missing->body;
  EXPECT_TRUE(missing->has_header("www-authenticate"));
  EXPECT_EQ(Status("POST", kClick, "not-a-key-at-all-xx"), 401);
  EXPECT_EQ(Status("POST", kClick, std::string(kIngest) + "x"), 401);
  auto native = Call("POST", "/v1/events", "", R"({"type":"click","user_id":"a","timestamp":1793527200000})");
  ASSERT_TRUE(native.has_value());
  EXPECT_EQ(native->status, 401);
  EXPECT_NE(native->body.find(R"("error":"unauthenticated")"), std::string::npos) << native->body;
  EXPECT_EQ(Status("GET", kHourQuery, ""), 401);
  EXPECT_EQ(Status("GET", "/healthz", ""), 200);
  EXPECT_EQ(Status("GET", "/readyz", ""), 200);
  EXPECT_EQ(Call("GET", kHourQuery, kRead)->body, "unique_users,0\nclicks,0\nimpressions,0\n");
  EXPECT_EQ(Call("GET", "/v1/rejected", kRead)->body, R"({"rejected":[]})");  // refused, not rejected
}

TEST_F(KeysTest, EachRoleMayDoWhatItsRoleAllows) {
  EXPECT_EQ(Status("POST", kClick, kIngest), 204);
  EXPECT_EQ(
      Status("POST", "/v1/events", kIngest, R"({"type":"view","user_id":"b","timestamp":1793527200000})"),
      200);
  auto forbidden = Call("GET", kHourQuery, kIngest);
  ASSERT_TRUE(forbidden.has_value());
  EXPECT_EQ(forbidden->status, 403);
  EXPECT_NE(forbidden->body.find("key 'web' has the role ingest"), std::string::npos) << forbidden->body;
  EXPECT_EQ(Status("POST", kClick, kRead), 403);
  EXPECT_EQ(Status("PUT", "/v1/schemas/click", kRead, R"({"required":["product_id"]})"), 403);
  EXPECT_EQ(Status("PUT", "/v1/schemas/click", kIngest, R"({"required":["product_id"]})"), 403);
  EXPECT_EQ(Status("GET", "/v1/admin/digest", kRead), 403);
  EXPECT_EQ(Call("GET", kHourQuery, kRead)->body, "unique_users,2\nclicks,1\nimpressions,0\n");
  EXPECT_EQ(Status("GET", "/v1/stats?from=0&to=1793530800000&bucket=all", kRead), 200);
  // admin may do everything.
  EXPECT_EQ(Status("PUT", "/v1/schemas/click", kAdmin, R"({"required":["product_id"]})"), 200);
  EXPECT_EQ(Status("GET", "/v1/admin/digest", kAdmin), 200);
  EXPECT_EQ(Status("POST", kClick, kAdmin), 204);
  EXPECT_EQ(Status("GET", kHourQuery, kAdmin), 200);
}

TEST_F(KeysTest, RejectedInputKeepsTheNameOfTheKeyItCameWith) {
  auto response = Call("POST", "/v1/events", kIngest, R"([{"type":"click","user_id":"a"}])");
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->status, 200);
  auto rejected = Call("GET", "/v1/rejected", kRead);
  ASSERT_TRUE(rejected.has_value());
  EXPECT_NE(rejected->body.find(R"("key_name":"web")"), std::string::npos) << rejected->body;
}

TEST_F(KeysTest, SighupReloadsTheKeysWithoutDroppingConnections) {
  auto connection = HttpConnection::Connect(server_->port());
  ASSERT_NE(connection, nullptr);
  ASSERT_TRUE(connection->SendRaw(Request("GET", kHourQuery, kRead)));
  ASSERT_EQ(connection->ReadResponse()->status, 200);

  constexpr const char* kNewRead = "read-secret-00000002";
  WriteKeys(std::string("analyst read ") + kNewRead + "\nops admin " + kAdmin + "\n");
  ASSERT_EQ(::kill(server_->pid(), SIGHUP), 0);
  int status = 0;
  for (int i = 0; i < 100 && status != 401; ++i) {  // the reload happens on the signal thread
    ASSERT_TRUE(connection->SendRaw(Request("GET", kHourQuery, kRead)));
    auto response = connection->ReadResponse();
    ASSERT_TRUE(response.has_value()) << "the connection was dropped";
    status = response->status;
    if (status != 401) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_EQ(status, 401);  // the old secret is gone...
  ASSERT_TRUE(connection->SendRaw(Request("GET", kHourQuery, kNewRead)));
  EXPECT_EQ(connection->ReadResponse()->status, 200);  // ...the new one works, on the same connection
  EXPECT_EQ(Status("POST", kClick, kIngest), 401);     // the removed key too

  // A file that does not parse changes nothing.
  WriteKeys("analyst read short\n");
  ASSERT_EQ(::kill(server_->pid(), SIGHUP), 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(Status("GET", kHourQuery, kNewRead), 200);
  EXPECT_NE(server_->Log().find("not reloaded"), std::string::npos) << server_->Log();
}

TEST(KeysFlags, ABadKeysFileStopsTheStartWithOneLine) {
  TempDir dir;
  std::ofstream(dir.path() + "/keys") << "web ingest 0123456789abcdef\nweb read fedcba9876543210\n";
  ExitResult result = RunTallydToExit(
      {"--data", dir.path() + "/data", "--listen", "127.0.0.1:0", "--keys", dir.path() + "/keys"});
  EXPECT_NE(result.exit_code, 0);
  EXPECT_NE(result.output.find("keys line 2: name 'web' repeated"), std::string::npos) << result.output;
}

// ---- authorization and routing decide on one path ----

constexpr const char* kAllTime = "/v1/stats?from=0&to=253402300800000&bucket=all";

TEST_F(KeysTest, AnIdThatNormalizesToAPublicPathStillNeedsAKey) {
  const std::string event =
      R"({"type":"click","user_id":"u","timestamp":1793527200000,"event_id":"order-77/../../tracker.js"})";
  ASSERT_EQ(Status("POST", "/v1/events", kIngest, event), 200);
  // h2o normalizes this to /v1/tracker.js (public); the router reads the event id from the path as sent.
  const std::string target = "/v1/events/order-77%2F..%2F..%2Ftracker.js";
  auto response = Call("GET", target, "");
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->status, 401) << response->body;
  EXPECT_EQ(response->body.find("order-77"), std::string::npos) << response->body;
  response = Call("GET", target, kRead);
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->status, 200);
  EXPECT_NE(response->body.find("order-77/../../tracker.js"), std::string::npos) << response->body;
  // Dot segments as sent, too.
  EXPECT_EQ(Status("GET", "/v1/events/order-77/../../tracker.js", ""), 401);
  EXPECT_EQ(Status("PUT", "/v1/schemas/..%2Ftracker.js", "", R"({"properties":{}})"), 401);
  EXPECT_EQ(Status("PUT", "/v1/schemas/..%2Ftracker.js", kIngest, R"({"properties":{}})"), 403);
  // An escaped admin path is still an admin path.
  EXPECT_EQ(Status("GET", "/v1/%61dmin/digest", kRead), 403);
  EXPECT_EQ(Status("GET", "/v1/%61dmin/digest", kAdmin), 200);
  // The public files stay public, however they are spelled.
  EXPECT_EQ(Status("GET", "/v1/tracker.js", ""), 200);
  EXPECT_EQ(Status("GET", "/v1/%74racker.js", ""), 200);
  EXPECT_EQ(Status("GET", "/healthz", ""), 200);
}

TEST_F(KeysTest, OnlyAnIngestKeyIsTakenFromTheQuery) {
  const std::string event = R"({"type":"click","user_id":"u","timestamp":1793527200000})";
  EXPECT_EQ(Status("POST", std::string("/v1/events?key=") + kIngest, "", event), 200);
  auto response = Call("POST", std::string("/v1/events?key=") + kAdmin, "", event);
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->status, 403);
  EXPECT_NE(response->body.find("only an ingest key"), std::string::npos) << response->body;
  response = Call("GET", kAllTime, kRead);
  ASSERT_TRUE(response.has_value());
  EXPECT_NE(response->body.find(R"("total":{"events":1,)"), std::string::npos) << response->body;
}

// A keys file that is not a regular file is refused on SIGHUP without blocking the signal thread: a
// later reload of a good file still takes effect.
TEST_F(KeysTest, AKeysFileThatIsNotARegularFileIsRefusedOnReload) {
  std::filesystem::remove(keys_path_);
  ASSERT_EQ(::mkfifo(keys_path_.c_str(), 0600), 0);
  ASSERT_EQ(::kill(server_->pid(), SIGHUP), 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(Status("GET", kAllTime, kRead), 200);  // the keys in force stay
  std::filesystem::remove(keys_path_);
  std::ofstream(keys_path_) << "fresh read fresh-read-secret-0001\n";
  ASSERT_EQ(::kill(server_->pid(), SIGHUP), 0);
  for (int i = 0; i < 50 && Status("GET", kAllTime, "fresh-read-secret-0001") != 200; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(Status("GET", kAllTime, "fresh-read-secret-0001"), 200);
  EXPECT_NE(server_->Log().find("not a regular file"), std::string::npos) << server_->Log();
}

}  // namespace
}  // namespace tally::testing

// --retention against the real server: events for hours it no longer keeps are refused naming the
// timestamp, and a server restarted with it over older data drops those hours, deletes the log segments
// that held only them, and still answers (and exports) the hours it keeps, also after another restart.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <thread>

#include <sys/wait.h>

#include "http_client.h"
#include "tallyd_process.h"

namespace tally::testing {
namespace {

namespace fs = std::filesystem;

constexpr int64_t kHour = 3'600'000;

int64_t NowMillis() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string TakeHome(uint16_t port, int64_t timestamp) {
  auto response = Fetch(port, "GET", "/analytics?timestamp=" + std::to_string(timestamp));
  return response && response->status == 200 ? response->body : "error";
}

size_t LogSegments(const std::string& data) {
  size_t segments = 0;
  for (const auto& entry : fs::directory_iterator(data + "/log"))
    segments += entry.path().extension() == ".log" ? 1 : 0;
  return segments;
}

// Events `tally export` prints, one NDJSON line each.
size_t ExportedEvents(const std::string& data) {
  FILE* pipe = ::popen((std::string(TALLY_PATH) + " export --data " + data + " 2>/dev/null").c_str(), "r");
  if (pipe == nullptr) return SIZE_MAX;
  std::string output;
  char buffer[4096];
  size_t length;
  while ((length = std::fread(buffer, 1, sizeof(buffer), pipe)) > 0) output.append(buffer, length);
  const int status = ::pclose(pipe);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return SIZE_MAX;
  return static_cast<size_t>(std::count(output.begin(), output.end(), '\n'));
}

TEST(Retention, EventsForHoursNoLongerKeptAreRefusedNamingTheTimestamp) {
  TempDir dir;
  std::string error;
  auto server = TallydProcess::Start({"--data", dir.path() + "/data", "--retention", "24h"}, &error);
  ASSERT_NE(server, nullptr) << error;
  const int64_t now = NowMillis();
  const int64_t old = now - 3 * 24 * kHour;
  auto refused =
      Fetch(server->port(), "POST", "/analytics?timestamp=" + std::to_string(old) + "&user=u&click");
  ASSERT_TRUE(refused.has_value());
  EXPECT_EQ(refused->status, 400);
  EXPECT_NE(refused->body.find("timestamp: before the retention window"), std::string::npos) << refused->body;

  const std::string body = R"([{"type":"click","user_id":"u","timestamp":)" + std::to_string(old) +
                           R"(},{"type":"click","user_id":"u","timestamp":)" + std::to_string(now) + "}]";
  auto mixed = Fetch(server->port(), "POST", "/v1/events", body);
  ASSERT_TRUE(mixed.has_value());
  EXPECT_EQ(mixed->status, 200);
  EXPECT_NE(mixed->body.find(R"("accepted":1)"), std::string::npos) << mixed->body;
  EXPECT_NE(mixed->body.find(R"({"index":0,"error":"timestamp: before the retention window)"),
            std::string::npos)
      << mixed->body;
  EXPECT_EQ(TakeHome(server->port(), now), "unique_users,1\nclicks,1\nimpressions,0\n");
  EXPECT_EQ(TakeHome(server->port(), old), "unique_users,0\nclicks,0\nimpressions,0\n");
  auto rejected = Fetch(server->port(), "GET", "/v1/rejected");
  ASSERT_TRUE(rejected.has_value());
  EXPECT_NE(rejected->body.find("before the retention window"), std::string::npos) << rejected->body;
}

TEST(Retention, ARestartWithRetentionDropsOlderHoursAndTheSegmentsThatHeldOnlyThem) {
  TempDir dir;
  const std::string data = dir.path() + "/data";
  const int64_t now = NowMillis();
  // A minute into an hour three days ago: the old events (12 s of them) all fall in that one hour, whatever
  // the time of the run (from any moment, the last seconds of an hour split them between two).
  const int64_t old = (now - 3 * 24 * kHour) / kHour * kHour + 60'000;
  std::string error;
  std::string recent_answer;
  {
    auto server = TallydProcess::Start({"--data", data, "--segment-bytes", "4096"}, &error);
    ASSERT_NE(server, nullptr) << error;
    for (int batch = 0; batch < 12; ++batch) {
      std::string body;
      for (int i = 0; i < 20; ++i) {
        body += std::string(i == 0 ? "[" : ",") + R"({"type":"click","user_id":"u)" + std::to_string(i) +
                R"(","timestamp":)" + std::to_string(old + batch * 1000 + i) + "}";
      }
      body += "]";
      auto response = Fetch(server->port(), "POST", "/v1/events", body);
      ASSERT_TRUE(response.has_value() && response->status == 200);
    }
    for (int i = 0; i < 30; ++i) {
      auto response = Fetch(server->port(), "POST",
                            "/analytics?timestamp=" + std::to_string(now - i) + "&user=r" +
                                std::to_string(i % 7) + (i % 3 == 0 ? "&impression" : "&click"));
      ASSERT_TRUE(response.has_value() && response->status == 204);
    }
    EXPECT_EQ(TakeHome(server->port(), old), "unique_users,20\nclicks,240\nimpressions,0\n");
    recent_answer = TakeHome(server->port(), now);
    ASSERT_EQ(server->Terminate(), 0);
  }
  const size_t segments_before = LogSegments(data);
  ASSERT_GT(segments_before, 3u);
  ASSERT_EQ(ExportedEvents(data), 270u);

  auto server =
      TallydProcess::Start({"--data", data, "--segment-bytes", "4096", "--retention", "48h"}, &error);
  ASSERT_NE(server, nullptr) << error;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (LogSegments(data) >= segments_before && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_LT(LogSegments(data), segments_before) << server->Log();
  auto metrics = Fetch(server->port(), "GET", "/metrics");
  ASSERT_TRUE(metrics.has_value());
  // The first hour kept, as the pass saw the clock (an hour may have begun since `now`).
  const int64_t kept_from_hour = (now - 48 * kHour) / kHour;
  const auto kept_from_seconds =
      static_cast<int64_t>(MetricValue(metrics->body, "tally_retention_kept_from_seconds"));
  ASSERT_NE(kept_from_seconds, -1) << metrics->body;
  EXPECT_TRUE(kept_from_seconds == kept_from_hour * 3600 || kept_from_seconds == (kept_from_hour + 1) * 3600)
      << kept_from_seconds;
  EXPECT_EQ(metrics->body.find("\ntally_log_first_record 0\n"), std::string::npos) << metrics->body;
  EXPECT_EQ(TakeHome(server->port(), old), "unique_users,0\nclicks,0\nimpressions,0\n");
  EXPECT_EQ(TakeHome(server->port(), now), recent_answer);
  EXPECT_EQ(ExportedEvents(data), 30u);
  ASSERT_EQ(server->Terminate(), 0);

  server = TallydProcess::Start({"--data", data, "--segment-bytes", "4096", "--retention", "48h"}, &error);
  ASSERT_NE(server, nullptr) << error;
  EXPECT_EQ(TakeHome(server->port(), old), "unique_users,0\nclicks,0\nimpressions,0\n");
  EXPECT_EQ(TakeHome(server->port(), now), recent_answer);
}

}  // namespace
}  // namespace tally::testing

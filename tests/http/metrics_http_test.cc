// GET /metrics against the real server, parsed by the Prometheus project's own text-format parser
// (Debian's python3-prometheus-client): the counts must be what was sent.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <thread>

#include "http_client.h"
#include "tallyd_process.h"

namespace tally::testing {
namespace {

// "name{label=value,...}" -> value, for every sample the parser found; empty if it refused the text.
std::map<std::string, double> ParseWithPrometheus(const std::string& text, const std::string& dir) {
  const std::string path = dir + "/metrics.txt";
  std::ofstream(path) << text;
  const std::string command =
      "/usr/bin/python3 -c 'import sys\n"
      "from prometheus_client.parser import text_string_to_metric_families\n"
      "for family in text_string_to_metric_families(open(sys.argv[1]).read()):\n"
      "  for s in family.samples:\n"
      "    print(s.name + \"{\" + \",\".join(k + \"=\" + v for k, v in sorted(s.labels.items())) + \"} \" + "
      "repr(s.value))\n"
      "' " +
      path + " 2>&1";
  std::map<std::string, double> samples;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return samples;
  char line[4096];
  std::string output;
  while (std::fgets(line, sizeof(line), pipe) != nullptr) {
    output += line;
    std::string text_line(line);
    const size_t space = text_line.rfind(' ');
    if (space == std::string::npos) continue;
    samples[text_line.substr(0, space)] = std::strtod(text_line.c_str() + space + 1, nullptr);
  }
  if (::pclose(pipe) != 0) {
    ADD_FAILURE() << "the Prometheus parser refused /metrics:\n" << output << "\n--- the text:\n" << text;
    samples.clear();
  }
  return samples;
}

TEST(Metrics, CountsWhatWasSentAndParsesAsPrometheusText) {
  TempDir dir;
  std::string error;
  auto server = TallydProcess::Start({"--data", dir.path() + "/data"}, &error);
  ASSERT_NE(server, nullptr) << error;
  const int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  const std::string late = std::to_string(now - 2 * 3'600'000);
  const std::string body =
      "[{\"event_id\":\"a\",\"type\":\"click\",\"user_id\":\"u\",\"timestamp\":" + std::to_string(now) +
      "},{\"event_id\":\"b\",\"type\":\"view\",\"user_id\":\"u\",\"timestamp\":" + late +
      "},{\"event_id\":\"a\",\"type\":\"click\",\"user_id\":\"u\",\"timestamp\":" + std::to_string(now) +
      "},{\"type\":\"click\",\"user_id\":\"u\"}]";
  auto posted = Fetch(server->port(), "POST", "/v1/events", body);
  ASSERT_TRUE(posted && posted->status == 200);
  ASSERT_EQ(
      Fetch(server->port(), "POST", "/analytics?timestamp=" + std::to_string(now) + "&user=v&event=click")
          ->status,
      204);
  ASSERT_EQ(Fetch(server->port(), "POST", "/analytics?user=v&event=click")->status, 400);
  ASSERT_EQ(Fetch(server->port(), "GET", "/analytics?timestamp=" + std::to_string(now))->status, 200);

  // The log is fsynced every 200 ms: scrape until the first fsync is counted (a busy machine may delay it).
  auto metrics = Fetch(server->port(), "GET", "/metrics");
  for (int i = 0;
       i < 50 && metrics && metrics->body.find("tally_log_fsync_seconds_count 0\n") != std::string::npos;
       ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    metrics = Fetch(server->port(), "GET", "/metrics");
  }
  ASSERT_TRUE(metrics.has_value());
  ASSERT_EQ(metrics->status, 200);
  EXPECT_NE(metrics->headers["content-type"].find("text/plain; version=0.0.4"), std::string::npos);
  auto samples = ParseWithPrometheus(metrics->body, dir.path());
  ASSERT_FALSE(samples.empty());
  EXPECT_EQ(samples["tally_events_total{outcome=accepted}"], 3);  // a, b and the take-home click
  EXPECT_EQ(samples["tally_events_total{outcome=duplicate}"], 1);
  EXPECT_EQ(samples["tally_events_total{outcome=rejected}"], 2);
  EXPECT_EQ(samples["tally_late_events_total{}"], 1);
  EXPECT_EQ(samples["tally_rejected_total{field=timestamp}"], 2);
  EXPECT_EQ(samples["tally_http_responses_total{code=2xx,route=events}"], 1);
  EXPECT_EQ(samples["tally_http_responses_total{code=2xx,route=analytics}"], 2);
  EXPECT_EQ(samples["tally_http_responses_total{code=4xx,route=analytics}"], 1);
  EXPECT_EQ(samples["tally_http_request_duration_seconds_count{route=analytics}"], 3);
  EXPECT_EQ(samples["tally_http_request_duration_seconds_bucket{le=+Inf,route=analytics}"], 3);
  EXPECT_EQ(samples["tally_log_records{}"], 6);  // 4 events and 2 rejected inputs
  EXPECT_EQ(samples.count("tally_log_first_record{}"), 1u);
  EXPECT_EQ(samples["tally_log_first_record{}"], 0);
  EXPECT_EQ(samples.count("tally_retention_kept_from_seconds{}"), 1u);
  EXPECT_EQ(samples["tally_retention_kept_from_seconds{}"], 0);
  EXPECT_EQ(samples["tally_view_rows{}"], 4);  // a, b, the duplicate of a, the take-home click
  EXPECT_GT(samples["tally_resident_memory_bytes{}"], 1e6);
  EXPECT_EQ(samples.count("tally_top_day_sums_bytes{}"), 1u);
  EXPECT_EQ(samples["tally_top_day_sums_bytes{}"], 0);  // no top list asked
  EXPECT_GE(samples["tally_log_fsync_seconds_count{}"], 1);
  EXPECT_EQ(samples.count("tally_log_fsync_seconds_sum{}"), 1u);
}

// A top list over a whole day of sealed hours keeps the day's sums (tally_top_day_sums_bytes), unless
// --top-day-sums-mib 0; the answer is the same either way.
TEST(Metrics, TopListsKeepDaySumsWithinTheirFlag) {
  const int64_t day = 1'793'491'200'000;  // 2026-11-01T00:00:00Z, a whole day in the past
  std::string body = "[";
  for (int i = 0; i < 40; ++i) {
    body += std::string(i == 0 ? "" : ",") + R"({"type":"click","user_id":"u)" + std::to_string(i % 7) +
            R"(","product_id":"p)" + std::to_string(i % 5) + R"(","timestamp":)" +
            std::to_string(day + (i % 3) * 3'600'000 + i) + "}";
  }
  body += "]";
  const std::string top =
      "/v1/top?by=product_id&from=" + std::to_string(day) + "&to=" + std::to_string(day + 24 * 3'600'000);
  std::string answers[2];
  for (const bool keep : {true, false}) {
    TempDir dir;
    std::string error;
    std::vector<std::string> args = {"--data", dir.path() + "/data", "--seal-after", "0"};
    if (!keep) args.insert(args.end(), {"--top-day-sums-mib", "0"});
    auto server = TallydProcess::Start(args, &error);
    ASSERT_NE(server, nullptr) << error;
    auto posted = Fetch(server->port(), "POST", "/v1/events", body);
    ASSERT_TRUE(posted && posted->status == 200) << (posted ? posted->body : "no answer");
    // Every hour sealed: the day's sums come from sealed hours only.
    double hot = -1;
    for (int i = 0; i < 100 && hot != 0; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      hot = MetricValue(Fetch(server->port(), "GET", "/metrics")->body, R"(tally_hours{tier="hot"})");
    }
    ASSERT_EQ(hot, 0) << "the hours were not sealed within 5 s";
    auto listed = Fetch(server->port(), "GET", top);
    ASSERT_TRUE(listed && listed->status == 200);
    answers[keep ? 0 : 1] = listed->body;
    const double kept =
        MetricValue(Fetch(server->port(), "GET", "/metrics")->body, "tally_top_day_sums_bytes");
    if (keep) {
      EXPECT_GT(kept, 0);
    } else {
      EXPECT_EQ(kept, 0);
    }
  }
  EXPECT_EQ(answers[0], answers[1]);
  EXPECT_NE(answers[0].find(R"({"key":"p0","events":8,"unique_users":7})"), std::string::npos) << answers[0];
}

}  // namespace
}  // namespace tally::testing

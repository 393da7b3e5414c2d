// tally load and its parts: the latency histogram, the deterministic event mix, and a real run against
// tallyd whose counts must come out exact.
#include <gtest/gtest.h>

#include "common/clock.h"
#include "http_client.h"
#include "tallyd_process.h"
#include "tools/tally/load.h"

namespace tally::testing {
namespace {

TEST(LatencyHistogram, PercentilesAreWithinThreePercent) {
  LatencyHistogram histogram;
  for (uint64_t micros = 1; micros <= 100'000; ++micros) histogram.Record(micros);
  EXPECT_EQ(histogram.count(), 100'000u);
  for (double percent : {50.0, 90.0, 99.0, 99.9}) {
    const double exact = percent * 1000;
    EXPECT_NEAR(static_cast<double>(histogram.Percentile(percent)), exact, exact * 0.035) << percent;
  }
  EXPECT_EQ(histogram.Percentile(100), 100'000u);
  EXPECT_EQ(histogram.max(), 100'000u);
}

TEST(EventMix, TheSameSeedGivesTheSameEvents) {
  EventMixOptions options;
  options.now = 1793527200000;
  EventMix first(options), second(options);
  std::string a, b;
  for (int i = 0; i < 1000; ++i) {
    first.AppendJson(&a);
    second.AppendJson(&b);
  }
  EXPECT_EQ(a, b);
  options.seed = 2;
  EventMix other(options);
  std::string c;
  for (int i = 0; i < 1000; ++i) other.AppendJson(&c);
  EXPECT_NE(a, c);
}

TEST(EventMix, InTimeOrderStampsEventsAsTheyArriveAndLateOnesBack) {
  EventMixOptions options;
  options.now = 1793527200000;
  options.spread = 720 * kMillisPerHour;
  options.late_share = 0.1;
  options.in_time_order = 10'000;
  EventMix mix(options);
  std::string json;
  Millis arrival_before = 0;
  int late = 0;
  for (uint64_t k = 0; k < options.in_time_order; ++k) {
    json.clear();
    mix.AppendJson(&json);
    const size_t at = json.find(R"("timestamp":)") + 12;
    const Millis timestamp = std::stoll(json.substr(at));
    // The (k+1)-th event arrives at now - spread * (N - k - 1) / N; a late one 1 to 24 whole hours before.
    const Millis arrival = options.now - options.spread / 10'000 * static_cast<Millis>(10'000 - k - 1);
    EXPECT_GE(arrival, arrival_before);
    arrival_before = arrival;
    if (timestamp != arrival) {
      ++late;
      const Millis set_back = arrival - timestamp;
      EXPECT_EQ(set_back % kMillisPerHour, 0) << json;
      EXPECT_GE(set_back, kMillisPerHour) << json;
      EXPECT_LE(set_back, 24 * kMillisPerHour) << json;
    }
  }
  EXPECT_EQ(arrival_before, options.now);
  EXPECT_GT(late, 800);
  EXPECT_LT(late, 1200);
}

TEST(Load, EveryEventSentIsCountedExactly) {
  TempDir dir;
  std::string error;
  auto server = TallydProcess::Start({"--data", dir.path()}, &error);
  ASSERT_NE(server, nullptr) << error;
  LoadOptions options;
  options.port = server->port();
  options.connections = 4;
  options.batch = 100;
  options.events = 5000;
  options.mix.now = WallClockMillis();
  options.mix.late_share = 0;
  options.mix.duplicate_share = 0;
  LoadReport report;
  ASSERT_TRUE(RunLoad(options, &report).ok());
  EXPECT_EQ(report.events, 5000u);
  EXPECT_EQ(report.requests, 50u);
  EXPECT_TRUE(report.failures.empty());
  EXPECT_EQ(report.latency.count(), 50u);

  const int64_t hour_start = options.mix.now - options.mix.now % kMillisPerHour;
  auto stats = Fetch(server->port(), "GET",
                     "/v1/stats?bucket=all&from=" + std::to_string(hour_start) +
                         "&to=" + std::to_string(hour_start + kMillisPerHour));
  ASSERT_TRUE(stats.has_value());
  EXPECT_NE(stats->body.find("\"total\":{\"events\":5000,"), std::string::npos) << stats->body;

  LoadOptions take_home = options;
  take_home.batch = 0;
  take_home.events = 2000;
  take_home.connections = 16;
  LoadReport take_home_report;
  ASSERT_TRUE(RunLoad(take_home, &take_home_report).ok());
  EXPECT_EQ(take_home_report.events, 2000u);
  EXPECT_TRUE(take_home_report.failures.empty());
  stats = Fetch(server->port(), "GET",
                "/v1/stats?bucket=all&from=" + std::to_string(hour_start) +
                    "&to=" + std::to_string(hour_start + kMillisPerHour));
  ASSERT_TRUE(stats.has_value());
  EXPECT_NE(stats->body.find("\"total\":{\"events\":7000,"), std::string::npos) << stats->body;
}

}  // namespace
}  // namespace tally::testing

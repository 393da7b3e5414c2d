// The randomized model test: thousands of random events (duplicates, late events, corrections, invalid
// ones, both APIs) through the real server's HTTP API, every answer compared with the reference model;
// then a restart and `tally replay` must reproduce exactly the same state. Even seeds seal hours as soon as
// they can (--seal-after 0) and send more events after the first seal: late events beside sealed
// indexes, duplicates and corrections of sealed events.
#include <gtest/gtest.h>
#include <simdjson.h>

#include <cinttypes>
#include <cstdio>

#include <unistd.h>

#include "../support/event_json.h"
#include "../support/reference_model.h"
#include "common/json_writer.h"
#include "http_client.h"
#include "tallyd_process.h"

namespace tally::testing {
namespace {

constexpr Millis kBase = 1793527200000;  // 2026-11-01T10:00:00Z
constexpr int kHours = 6;

simdjson::dom::element ParseJson(simdjson::dom::parser& parser, const std::string& text) {
  simdjson::dom::element root;
  EXPECT_EQ(parser.parse(text).get(root), simdjson::SUCCESS) << text;
  return root;
}

class ModelHttpTest : public ::testing::TestWithParam<uint64_t> {
 protected:
  void SetUp() override {
    // 1 to 5 shards: `tally replay` (one shard) must still give the server's digest.
    args_ = {
        "--data", dir_.path() + "/data", "--threads", "2", "--shards", std::to_string(1 + GetParam() % 5)};
    if (GetParam() % 2 == 0) args_.insert(args_.end(), {"--seal-after", "0"});
    std::string error;
    server_ = TallydProcess::Start(args_, &error);
    ASSERT_NE(server_, nullptr) << error;
  }

  std::string Get(const std::string& target) {
    auto response = Fetch(server_->port(), "GET", target);
    EXPECT_TRUE(response.has_value()) << target;
    if (!response) return "";
    EXPECT_EQ(response->status, 200) << target << ": " << response->body;
    return response->body;
  }

  // Sends every event and checks each request's accepted/duplicates/rejected against the model.
  void SendRandomEvents(uint64_t seed, int count) {
    RandomEvents random(seed, seed % 2 == 0 ? 30 : 2000);
    auto connection = HttpConnection::Connect(server_->port());
    ASSERT_NE(connection, nullptr);
    int sent = 0;
    while (sent < count) {
      const uint64_t form = random.Below(10);
      if (form == 0) {
        // The take-home protocol: an event without an id, counted like any other.
        Event event;
        event.type = random.Below(2) ? "click" : "impression";
        event.user_id = "user-" + std::to_string(random.Below(seed % 2 == 0 ? 30 : 2000));
        event.timestamp = kBase + static_cast<Millis>(random.Below(kHours * kMillisPerHour));
        auto response =
            connection->Request("POST", "/analytics?timestamp=" + std::to_string(event.timestamp) +
                                            "&user=" + event.user_id + "&event=" + event.type);
        ASSERT_TRUE(response && response->status == 204);
        model_.Apply(event);
        ++sent;
        continue;
      }
      const int batch = form < 4 ? 1 : 1 + static_cast<int>(random.Below(60));
      const bool ndjson = form >= 7;
      std::string body = ndjson ? "" : "[";
      uint64_t accepted = 0, duplicates = 0;
      std::vector<size_t> rejected_indices;
      for (int i = 0; i < batch; ++i) {
        std::string text;
        if (random.Below(25) == 0) {
          text = R"({"type":"click","user_id":"x"})";  // no timestamp: rejected, changes nothing
          rejected_indices.push_back(static_cast<size_t>(i));
        } else {
          Event event = random.Make(kBase, kHours);
          text = EventJson(event);
          const ModelOutcome outcome = model_.Apply(event);
          (outcome == ModelOutcome::kDuplicate ? duplicates : accepted)++;
        }
        if (ndjson) {
          body += text + "\n";
        } else {
          body += (i ? "," : "") + text;
        }
      }
      if (!ndjson) body += "]";
      std::string request = "POST /v1/events HTTP/1.1\r\nHost: t\r\nContent-Type: " +
                            std::string(ndjson ? "application/x-ndjson" : "application/json") +
                            "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
      ASSERT_TRUE(connection->SendRaw(request));
      auto response = connection->ReadResponse();
      ASSERT_TRUE(response && response->status == 200);
      simdjson::dom::parser parser;
      auto root = ParseJson(parser, response->body);
      ASSERT_EQ(uint64_t(root["accepted"]), accepted) << response->body;
      ASSERT_EQ(uint64_t(root["duplicates"]), duplicates) << response->body;
      simdjson::dom::array rejected = root["rejected"];
      ASSERT_EQ(rejected.size(), rejected_indices.size()) << response->body;
      size_t k = 0;
      for (auto entry : rejected) ASSERT_EQ(uint64_t(entry["index"]), rejected_indices[k++]);
      sent += batch;
    }
  }

  void ExpectAggregate(simdjson::dom::element actual, const ModelAggregate& expected,
                       const std::string& where) {
    EXPECT_EQ(uint64_t(actual["events"]), expected.events) << where;
    EXPECT_EQ(uint64_t(actual["unique_users"]), expected.users.size()) << where;
    std::map<std::string, uint64_t> by_type;
    for (auto [type, count] : simdjson::dom::object(actual["by_type"]))
      by_type[std::string(type)] = uint64_t(count);
    EXPECT_EQ(by_type, expected.by_type) << where;
  }

  void ExpectEveryQueryMatchesTheModel() {
    simdjson::dom::parser parser;
    const std::vector<ModelFilter> filters = {{},
                                              {"click", {}, {}},
                                              {{}, "product-1", {}},
                                              {{}, {}, "store-2"},
                                              {"impression", "product-2", {}},
                                              {{}, "product-3", "store-1"}};
    const std::vector<std::pair<Millis, Millis>> ranges = {{kBase, kBase + kHours * kMillisPerHour},
                                                           {kBase + 777777, kBase + 4 * kMillisPerHour + 5}};
    for (const auto& [from, to] : ranges) {
      for (const ModelFilter& filter : filters) {
        for (const char* bucket : {"hour", "all"}) {
          std::string target =
              "/v1/stats?from=" + std::to_string(from) + "&to=" + std::to_string(to) + "&bucket=" + bucket;
          if (filter.type) target += "&type=" + *filter.type;
          if (filter.product_id) target += "&product_id=" + *filter.product_id;
          if (filter.store_id) target += "&store_id=" + *filter.store_id;
          const std::string body = Get(target);
          auto root = ParseJson(parser, body);
          ExpectAggregate(root["total"], model_.Aggregate(from, to, filter), target + " total");
          for (auto bucket_json : simdjson::dom::array(root["buckets"])) {
            const Millis start = int64_t(bucket_json["start"]);
            const Millis end = int64_t(bucket_json["end"]);
            ExpectAggregate(bucket_json, model_.Aggregate(start, end, filter),
                            target + " @" + std::to_string(start));
          }
        }
      }
      for (const char* by : {"product_id", "store_id"}) {
        for (const std::optional<std::string>& type :
             {std::optional<std::string>(), std::optional<std::string>("click")}) {
          std::string target = "/v1/top?by=" + std::string(by) + "&from=" + std::to_string(from) +
                               "&to=" + std::to_string(to) + "&limit=4" + (type ? "&type=" + *type : "");
          auto expected = model_.Top(std::string(by) == "product_id", from, to, type, 4);
          auto root = ParseJson(parser, Get(target));
          simdjson::dom::array top = root["top"];
          ASSERT_EQ(top.size(), expected.size()) << target;
          size_t i = 0;
          for (auto entry : top) {
            EXPECT_EQ(std::string_view(entry["key"]), expected[i].key) << target;
            EXPECT_EQ(uint64_t(entry["events"]), expected[i].events) << target;
            EXPECT_EQ(uint64_t(entry["unique_users"]), expected[i].unique_users) << target;
            ++i;
          }
        }
      }
    }
    // Take-home answers for every hour: unique users over all types, clicks and impressions.
    for (int hour = 0; hour < kHours; ++hour) {
      const Millis start = kBase + hour * kMillisPerHour;
      ModelAggregate all = model_.Aggregate(start, start + kMillisPerHour, {});
      const std::string expected = "unique_users," + std::to_string(all.users.size()) + "\nclicks," +
                                   std::to_string(all.by_type["click"]) + "\nimpressions," +
                                   std::to_string(all.by_type["impression"]) + "\n";
      EXPECT_EQ(Get("/analytics?timestamp=" + std::to_string(start + 1)), expected) << "hour " << hour;
    }
    // Timelines of some users: the same events, newest first.
    for (int u = 0; u < 12; ++u) {
      const std::string user = "user-" + std::to_string(u);
      auto expected = model_.Timeline(user, kMaxTimestampMillis + 1, std::nullopt);
      auto root = ParseJson(parser, Get("/v1/users/" + user + "/events?limit=1000"));
      simdjson::dom::array events = root["events"];
      ASSERT_EQ(events.size(), expected.size()) << user;
      size_t i = 0;
      for (auto event : events) {
        EXPECT_EQ(int64_t(event["timestamp"]), expected[i].timestamp) << user << " #" << i;
        EXPECT_EQ(std::string_view(event["type"]), expected[i].type) << user << " #" << i;
        ++i;
      }
    }
    // The current version of some ids.
    for (int id = 0; id < 200; id += 7) {
      const std::string event_id = "id-" + std::to_string(id);
      const Event* expected = model_.Find(event_id);
      if (expected == nullptr) continue;
      auto root = ParseJson(parser, Get("/v1/events/" + event_id));
      auto current = root["current"];
      EXPECT_EQ(uint64_t(current["version"]), expected->version) << event_id;
      EXPECT_EQ(int64_t(current["timestamp"]), expected->timestamp) << event_id;
      EXPECT_EQ(std::string_view(current["user_id"]), expected->user_id) << event_id;
    }
  }

  // The (shard, hour) pairs the server has sealed, from /metrics.
  int SealedHours() {
    return static_cast<int>(MetricValue(Get("/metrics"), R"(tally_hours{tier="sealed"})"));
  }

  std::pair<uint64_t, std::string> LiveDigest() {
    simdjson::dom::parser parser;
    auto root = ParseJson(parser, Get("/v1/admin/digest"));
    return {uint64_t(root["lsn"]), std::string(std::string_view(root["digest"]))};
  }

  TempDir dir_;
  std::vector<std::string> args_;
  std::unique_ptr<TallydProcess> server_;
  ReferenceModel model_;
};

TEST_P(ModelHttpTest, EveryAnswerMatchesTheModelAndSurvivesRestartAndReplay) {
  if (GetParam() % 2 == 0) {
    SendRandomEvents(GetParam(), 1500);
    for (int tries = 0; tries < 100 && SealedHours() <= 0; ++tries) ::usleep(50'000);
    ASSERT_GT(SealedHours(), 0) << "no hour was sealed within 5 s";
    ExpectEveryQueryMatchesTheModel();
    // The same event ids again: duplicates and corrections of sealed events, and late events.
    SendRandomEvents(GetParam() + 100, 1000);
  } else {
    SendRandomEvents(GetParam(), 2500);
  }
  ExpectEveryQueryMatchesTheModel();
  const auto before = LiveDigest();

  // tally replay rebuilds the same state from the log, while the server runs.
  const std::string command = std::string(TALLY_PATH) + " replay --data " + dir_.path() + "/data --upto " +
                              std::to_string(before.first);
  FILE* pipe = ::popen(command.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  char output[256] = {};
  size_t length = std::fread(output, 1, sizeof(output) - 1, pipe);
  ASSERT_EQ(::pclose(pipe), 0) << output;
  EXPECT_EQ(std::string(output, length),
            "lsn " + std::to_string(before.first) + "\ndigest " + before.second + "\n");

  // A restart rebuilds the same state from the log.
  ASSERT_EQ(server_->Terminate(), 0) << server_->Log();
  std::string error;
  server_ = TallydProcess::Start(args_, &error);
  ASSERT_NE(server_, nullptr) << error;
  EXPECT_EQ(LiveDigest(), before);
  ExpectEveryQueryMatchesTheModel();
}

INSTANTIATE_TEST_SUITE_P(Seeds, ModelHttpTest, ::testing::Range<uint64_t>(11, 23));

}  // namespace
}  // namespace tally::testing

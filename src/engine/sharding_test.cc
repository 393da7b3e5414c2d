// The number of shards changes nothing anyone can see: one log, written by threads committing at once into
// a sharded engine, replayed with 1, 2 and 7 shards, gives the same digest and the same answers to every
// query, and the same as the engine that wrote it.
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <thread>

#include "../../tests/support/reference_model.h"
#include "engine/engine.h"
#include "query/stats.h"

namespace tally {
namespace {

namespace fs = std::filesystem;

constexpr Millis kBase = 1793527200000;  // an hour boundary
constexpr int kHours = 6;

class ShardingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = (fs::temp_directory_path() / ("tally-sharding-test-" + std::to_string(::getpid()) + "-" +
                                         ::testing::UnitTest::GetInstance()->current_test_info()->name()))
               .string();
    fs::remove_all(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string dir_;
};

// Every answer the API gives from the views, as one comparable text.
std::string Answers(const Views& views) {
  std::string out;
  auto aggregate = [&](const Aggregate& a) {
    out += std::to_string(a.events) + "/" + std::to_string(a.unique_users);
    for (const auto& [type, events] : a.by_type) out += " " + type + "=" + std::to_string(events);
    out += "\n";
  };
  const std::vector<EventFilter> filters = {{},
                                            {"click", {}, {}},
                                            {{}, "product-3", {}},
                                            {{}, {}, "store-1"},
                                            {"impression", "product-1", "store-2"}};
  for (const auto& [from, to] : std::vector<std::pair<Millis, Millis>>{
           {kBase, kBase + kHours * kMillisPerHour}, {kBase + 1234567, kBase + 4 * kMillisPerHour + 17}}) {
    for (const EventFilter& filter : filters) {
      for (Bucket bucket : {Bucket::kHour, Bucket::kAll}) {
        auto stats = ComputeStats(views, StatsRequest{from, to, bucket, filter});
        for (const StatsBucket& b : stats->buckets) aggregate(b.aggregate);
        aggregate(stats->total);
      }
    }
    for (TopDimension by : {TopDimension::kProduct, TopDimension::kStore}) {
      for (const std::optional<std::string>& type :
           {std::optional<std::string>(), std::optional<std::string>("click")}) {
        for (const TopEntry& entry : ComputeTop(views, TopRequest{by, from, to, type, 7})) {
          out += entry.key + " " + std::to_string(entry.events) + " " + std::to_string(entry.unique_users) +
                 "\n";
        }
      }
    }
  }
  for (int u = 0; u < 300; ++u) {  // timelines, as the log positions of the events, newest last
    const std::string user = "user-" + std::to_string(u);
    const ShardViews& shard = views.shard(views.ShardOf(user));
    out += user + ":";
    if (auto index = shard.users().Find(user)) {
      for (RowAt at : shard.Timeline(*index)) out += " " + std::to_string(shard.Row(at).position);
    }
    out += "\n";
  }
  for (int id = 0; id < 3000; ++id) {  // every version of an event id, with its state
    for (RowRef ref : views.RowsOfId("id-" + std::to_string(id))) {
      const ShardViews& shard = views.shard(ref.shard);
      const EventRow& row = shard.Row(shard.Find(ref.hour, ref.position).value());
      out += std::to_string(row.position) + "=" + std::to_string(static_cast<int>(row.state)) + " ";
    }
  }
  for (const auto& [type, stats] : views.TypeStatsByName()) {
    out += "\n" + type + " " + std::to_string(stats.events) + " " + std::to_string(stats.first_seen);
  }
  return out;
}

TEST_F(ShardingTest, OneLogReplayedWithOneTwoAndSevenShardsAnswersTheSame) {
  EngineOptions options{dir_};
  options.shards = 3;
  uint64_t engine_digest = 0;
  std::string engine_answers;
  {
    auto engine = Engine::Open(options);
    ASSERT_TRUE(engine.ok()) << engine.status().message();
    // Writers commit at once, so batches overlap in the shards; ids collide across writers, so duplicates
    // and corrections (some moving an event to a user of another shard) are decided by log order.
    std::atomic<bool> writing{true};
    std::vector<std::thread> writers;
    for (uint64_t writer = 0; writer < 4; ++writer) {
      writers.emplace_back([&, writer] {
        testing::RandomEvents random(writer + 1, 300);
        for (int b = 0; b < 120; ++b) {
          IngestBatch batch;
          const uint64_t size = 1 + random.Below(40);
          for (uint64_t i = 0; i < size; ++i) {
            Event event = random.Make(kBase, kHours);
            event.received_at = static_cast<Millis>(random.Below(1000));
            batch.Add(std::move(event));
          }
          if (random.Below(10) == 0) batch.Add(RejectedInput{b, "/v1/events", "user_id: missing", "{}", ""});
          if (random.Below(20) == 0) batch.Add(SchemaChange{b, "click", R"({"required":["product_id"]})"});
          ASSERT_TRUE((*engine)->Commit(batch).ok());
        }
      });
    }
    std::thread reader([&] {  // reads at batch boundaries while the writers run
      while (writing) {
        (*engine)->Read([](const Views& views) {
          return ComputeStats(views, {kBase, kBase + kMillisPerHour}).ok();
        });
        (*engine)->TakeHomeHour(HourOf(kBase));
      }
    });
    for (std::thread& writer : writers) writer.join();
    writing = false;
    reader.join();
    engine_digest = (*engine)->Digest().digest;
    engine_answers = (*engine)->Read([](const Views& views) { return Answers(views); });
  }
  for (uint32_t shards : {1u, 2u, 7u}) {
    auto replay = ReplayLog(dir_, UINT64_MAX, shards);
    ASSERT_TRUE(replay.ok()) << replay.status().message();
    EXPECT_EQ(replay->digest, engine_digest) << shards << " shards";
    EXPECT_EQ(Answers(*replay->views), engine_answers) << shards << " shards";
  }
  // The answers are not trivially equal: there are corrections and duplicates, across shards.
  EXPECT_NE(engine_answers.find("=1 "), std::string::npos);  // a superseded version
  EXPECT_NE(engine_answers.find("=2 "), std::string::npos);  // a duplicate
}

TEST_F(ShardingTest, ACheckpointOfAnotherShardCountIsSkippedAndTheLogReplayed) {
  EngineOptions options{dir_};
  options.shards = 3;
  uint64_t digest = 0;
  {
    auto engine = Engine::Open(options);
    ASSERT_TRUE(engine.ok());
    testing::RandomEvents random(9, 50);
    IngestBatch batch;
    for (int i = 0; i < 500; ++i) batch.Add(random.Make(kBase, kHours));
    ASSERT_TRUE((*engine)->Commit(batch).ok());
    ASSERT_TRUE((*engine)->Checkpoint().ok());
    digest = (*engine)->Digest().digest;
  }
  options.shards = 2;
  auto reopened = Engine::Open(options);
  ASSERT_TRUE(reopened.ok());
  EXPECT_EQ((*reopened)->start_report().checkpoint_lsn, 0u);
  ASSERT_EQ((*reopened)->start_report().checkpoints_skipped.size(), 1u);
  EXPECT_NE((*reopened)->start_report().checkpoints_skipped[0].find("written with 3 shards"),
            std::string::npos);
  EXPECT_EQ((*reopened)->start_report().replayed, 500u);
  EXPECT_EQ((*reopened)->Digest().digest, digest);
  reopened->reset();
  options.shards = 3;
  auto same_count = Engine::Open(options);
  ASSERT_TRUE(same_count.ok());
  EXPECT_EQ((*same_count)->start_report().checkpoint_lsn, 500u);
  EXPECT_EQ((*same_count)->Digest().digest, digest);
}

}  // namespace
}  // namespace tally

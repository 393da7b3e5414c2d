#include "engine/engine.h"

#include <unistd.h>

#include <gtest/gtest.h>

#include <filesystem>

namespace tally {
namespace {

namespace fs = std::filesystem;

class EngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = (fs::temp_directory_path() / ("tally-engine-test-" + std::to_string(::getpid()) + "-" +
                                         ::testing::UnitTest::GetInstance()->current_test_info()->name()))
               .string();
    fs::remove_all(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string dir_;
};

Event Make(std::string type, std::string user, Millis timestamp) {
  Event event;
  event.type = std::move(type);
  event.user_id = std::move(user);
  event.timestamp = timestamp;
  return event;
}

TEST_F(EngineTest, CommittedEventsAreQueryableAndSurviveAReopen) {
  const int64_t hour = HourOf(1793527200000);
  {
    auto engine = Engine::Open(EngineOptions{dir_});
    ASSERT_TRUE(engine.ok()) << engine.status().message();
    IngestBatch batch;
    batch.Add(Make("click", "a", 1793527200000));
    batch.Add(Make("impression", "a", 1793527200001));
    batch.Add(RejectedInput{1, "/analytics", "user: missing", "POST /analytics?timestamp=1", ""});
    batch.Add(Make("impression", "b", 1793527200002));
    auto committed = (*engine)->Commit(batch);
    ASSERT_TRUE(committed.ok());
    EXPECT_EQ(committed->end_lsn, 4u);
    EXPECT_EQ((*engine)->TakeHomeHour(hour), (TakeHomeCounts{2, 1, 2}));
  }
  auto reopened = Engine::Open(EngineOptions{dir_});
  ASSERT_TRUE(reopened.ok());
  EXPECT_EQ((*reopened)->TakeHomeHour(hour), (TakeHomeCounts{2, 1, 2}));
  EXPECT_EQ((*reopened)->recovery().records, 4u);
}

TEST_F(EngineTest, ASecondServerOnTheSameDataDirectoryIsRefused) {
  auto first = Engine::Open(EngineOptions{dir_});
  ASSERT_TRUE(first.ok());
  auto second = Engine::Open(EngineOptions{dir_});
  ASSERT_FALSE(second.ok());
  EXPECT_NE(second.status().message().find("in use"), std::string::npos);
}

}  // namespace
}  // namespace tally

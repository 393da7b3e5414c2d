// The lookups of single events, users and types, on a real engine (its log in a scratch directory).
#include "query/event_lookup.h"

#include <gtest/gtest.h>

#include "../../tests/support/temp_dir.h"
#include "ingest/schema.h"

namespace tally {
namespace {

constexpr Millis kBase = 1793527200000;  // an hour boundary

Event Make(std::string id, uint32_t version, std::string type, std::string user, Millis timestamp) {
  Event event;
  event.event_id = std::move(id);
  event.version = version;
  event.type = std::move(type);
  event.user_id = std::move(user);
  event.timestamp = timestamp;
  event.received_at = timestamp;
  return event;
}

class EventLookupTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto engine = Engine::Open(EngineOptions{dir_.path()});
    ASSERT_TRUE(engine.ok()) << engine.status().message();
    engine_ = std::move(*engine);
  }
  void Commit(IngestBatch& batch) { ASSERT_TRUE(engine_->Commit(batch).ok()); }

  testing::ScratchDirectory dir_;
  std::unique_ptr<Engine> engine_;
};

TEST_F(EventLookupTest, AnEventsVersionsSayWhichIsCurrent) {
  IngestBatch batch;
  batch.Add(Make("e1", 1, "click", "alice", kBase));
  batch.Add(Make("e1", 2, "purchase", "alice", kBase + 5));  // a correction
  batch.Add(Make("e1", 2, "purchase", "alice", kBase + 5));  // sent again
  batch.Add(Make("e2", 1, "click", "bob", kBase));
  Commit(batch);
  auto versions = EventVersions(*engine_, "e1");
  ASSERT_TRUE(versions.ok());
  ASSERT_EQ(versions->size(), 3u);
  EXPECT_EQ((*versions)[0].event.type, "click");
  EXPECT_EQ((*versions)[0].state, RowState::kSuperseded);
  EXPECT_EQ((*versions)[1].event.type, "purchase");
  EXPECT_EQ((*versions)[1].state, RowState::kCurrent);
  EXPECT_EQ((*versions)[2].state, RowState::kDuplicate);
  EXPECT_STREQ(RowStateName((*versions)[2].state), "duplicate");
  auto unknown = EventVersions(*engine_, "e3");
  ASSERT_TRUE(unknown.ok());
  EXPECT_TRUE(unknown->empty());
}

TEST_F(EventLookupTest, TimelinePagesNeverEndInsideARunOfEqualTimestamps) {
  IngestBatch batch;
  batch.Add(Make("a", 1, "click", "alice", kBase));
  batch.Add(Make("b", 1, "click", "alice", kBase + 1));
  batch.Add(Make("c", 1, "view", "alice", kBase + 1));
  batch.Add(Make("d", 1, "click", "alice", kBase + 1));
  batch.Add(Make("e", 1, "click", "alice", kBase + 2));
  batch.Add(Make("f", 1, "click", "bob", kBase + 3));
  Commit(batch);
  TimelineRequest request;
  request.user_id = "alice";
  request.limit = 2;
  std::vector<std::string> seen;
  std::vector<size_t> page_sizes;
  while (true) {
    auto page = UserTimeline(*engine_, request);
    ASSERT_TRUE(page.ok());
    page_sizes.push_back(page->events.size());
    for (const Event& event : page->events) seen.push_back(std::string(event.event_id));
    if (!page->next_before) break;
    request.before = *page->next_before;
  }
  // The first page ends before the run of three (one event), the second is that whole run (past the
  // limit), the third the rest: nothing skipped, nothing twice.
  EXPECT_EQ(page_sizes, (std::vector<size_t>{1, 3, 1}));
  ASSERT_EQ(seen.size(), 5u);
  EXPECT_EQ(seen.front(), "e");
  EXPECT_EQ(seen.back(), "a");

  request = TimelineRequest{};
  request.user_id = "alice";
  request.type = "view";
  auto views = UserTimeline(*engine_, request);
  ASSERT_TRUE(views.ok());
  ASSERT_EQ(views->events.size(), 1u);
  EXPECT_EQ(views->events[0].event_id, "c");
  EXPECT_FALSE(views->next_before);
  request.type = "never-sent";
  EXPECT_TRUE(UserTimeline(*engine_, request)->events.empty());
  request = TimelineRequest{};
  request.user_id = "nobody";
  EXPECT_TRUE(UserTimeline(*engine_, request)->events.empty());
}

TEST_F(EventLookupTest, RejectedInputComesNewestFirst) {
  IngestBatch batch;
  for (Millis received = 1; received <= 3; ++received) {
    batch.Add(RejectedInput{received, "/v1/events", "user_id: missing", "{#" + std::to_string(received) + "}",
                            received == 2 ? "web" : ""});
  }
  Commit(batch);
  auto newest = RecentRejected(*engine_, 2, INT64_MAX);
  ASSERT_TRUE(newest.ok());
  ASSERT_EQ(newest->size(), 2u);
  EXPECT_EQ((*newest)[0].raw, "{#3}");
  EXPECT_EQ((*newest)[1].key_name, "web");
  auto older = RecentRejected(*engine_, 10, 3);
  ASSERT_TRUE(older.ok());
  ASSERT_EQ(older->size(), 2u);
  EXPECT_EQ((*older)[0].raw, "{#2}");
  EXPECT_EQ((*older)[1].reason, "user_id: missing");
}

TEST_F(EventLookupTest, TypesAreThoseWithEventsOrASchema) {
  auto schema = ParseSchema(R"({"required":["product_id"],"properties":{}})");
  ASSERT_TRUE(schema.ok()) << schema.status().message();
  IngestBatch batch;
  batch.Add(Make("a", 1, "view", "alice", kBase));
  batch.Add(Make("b", 1, "click", "alice", kBase + 10));
  batch.Add(Make("c", 1, "click", "bob", kBase + 20));
  batch.Add(SchemaChange{kBase, "purchase", SchemaToJson(*schema)});
  Commit(batch);
  const std::vector<TypeEntry> entries = TypeEntries(*engine_);
  ASSERT_EQ(entries.size(), 3u);
  EXPECT_EQ(entries[0].type, "click");
  EXPECT_EQ(entries[0].events, 2u);
  EXPECT_EQ(entries[0].first_seen, kBase + 10);
  EXPECT_EQ(entries[0].last_seen, kBase + 20);
  EXPECT_FALSE(entries[0].schema_json);
  EXPECT_EQ(entries[1].type, "purchase");
  EXPECT_EQ(entries[1].events, 0u);
  EXPECT_FALSE(entries[1].first_seen);
  EXPECT_EQ(entries[1].schema_json, SchemaToJson(*schema));
  EXPECT_EQ(entries[2].type, "view");
  EXPECT_EQ(TypeEntryOf(*engine_, "purchase")->schema_json, SchemaToJson(*schema));
  EXPECT_EQ(TypeEntryOf(*engine_, "view")->events, 1u);
  EXPECT_FALSE(TypeEntryOf(*engine_, "nothing"));
}

}  // namespace
}  // namespace tally

// Answers about single events, users and types, read from the views and the log: an event's versions, a
// page of a user's timeline, the newest rejected input, the event types and their schemas. The HTTP
// handlers parse a request, ask one of these, and format what it returns.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "engine/engine.h"
#include "tally/event.h"
#include "tally/status.h"

namespace tally {

struct EventVersion {
  Event event;
  RowState state;
};
// Every version of the event with this id, as the log holds them (the first received first); empty when no
// event has the id.
Result<std::vector<EventVersion>> EventVersions(const Engine& engine, const std::string& event_id);
const char* RowStateName(RowState state);

struct TimelineRequest {
  std::string user_id;
  size_t limit = 50;
  Millis before = kMaxTimestampMillis + 1;  // only events earlier than this
  std::optional<std::string> type;          // only events of this type
};
struct TimelinePage {
  std::vector<Event> events;  // the newest first
  // Where the next page starts (its `before`), when there are more.
  std::optional<Millis> next_before;
};
// The user's current events, newest first. Paging is by timestamp, so a page never ends inside a run of
// equal timestamps (the next page would skip the rest of it): it ends before the run, or takes the whole
// run when the page is all that run (longer than `limit` rather than skipping).
Result<TimelinePage> UserTimeline(const Engine& engine, const TimelineRequest& request);

// The newest rejected input received before `before`, newest first, at most `limit`.
Result<std::vector<RejectedInput>> RecentRejected(const Engine& engine, size_t limit, Millis before);

struct TypeEntry {
  std::string type;
  uint64_t events = 0;  // current events
  std::optional<Millis> first_seen, last_seen;
  std::optional<std::string> schema_json;  // the type's schema, if it has one
};
// Every type with events or a schema, by name.
std::vector<TypeEntry> TypeEntries(const Engine& engine);
// The type's entry; nullopt when it has neither events nor a schema.
std::optional<TypeEntry> TypeEntryOf(const Engine& engine, const std::string& type);

}  // namespace tally

// POST /v1/events bodies: one JSON object, a JSON array of objects, or NDJSON. Each event is validated
// alone against API.md's field table; a bad event does not spoil the others.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "tally/event.h"
#include "tally/status.h"

namespace tally {

inline constexpr size_t kMaxTypeBytes = 64;
inline constexpr size_t kMaxDimensionBytes = 256;
inline constexpr size_t kMaxPropertiesBytes = 16 * 1024;

// API.md: an event type is 1-64 bytes of [A-Za-z0-9_.:-].
bool IsValidEventType(std::string_view type);

enum class BodyFormat { kJson, kNdjson };

struct EventInput {
  std::string raw;  // this event's own text, kept when it is rejected
  Status status;    // why it was rejected; OK when `event` is valid
  Event event;
};

// The events of a body in order. An error (the whole request is a 400) only when the body is empty or,
// for JSON, is not a JSON object or array at all.
Result<std::vector<EventInput>> ParseEventsBody(std::string_view body, BodyFormat format);

// One event from its JSON object text. received_at and a missing event_id are left for the caller.
Result<Event> ParseEventJson(std::string_view json);

}  // namespace tally

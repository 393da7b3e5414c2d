// POST /v1/events bodies: one JSON object, a JSON array of objects, or NDJSON. Each event is validated
// alone against the event's field rules (docs/API.md); a bad event does not spoil the others.
#pragma once

#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "tally/event.h"
#include "tally/status.h"

namespace tally {

inline constexpr size_t kMaxTypeBytes = 200;
inline constexpr size_t kMaxDimensionBytes = 256;
inline constexpr size_t kMaxPropertiesBytes = 16 * 1024;

// An event type is 1-200 bytes of printable UTF-8: valid UTF-8 without control characters (C0, DEL, C1),
// so the names SDKs send ("Order Completed", "$pageview") are types. Errors name `type`.
Status CheckEventType(std::string_view type);

enum class BodyFormat { kJson, kNdjson };

// What a client controls in an event's JSON beyond API.md's field sizes.
struct JsonLimits {
  size_t max_depth = 32;  // nesting of objects and arrays in `properties`, the properties object being 1
  size_t max_properties_bytes = kMaxPropertiesBytes;
  // Events in one body. It bounds what one request costs whatever its shape: 8 MiB of "{}" lines would
  // otherwise be millions of rejected events to parse, keep and list in the answer.
  size_t max_events = 10'000;
};

struct EventInput {
  std::string_view raw;  // this event's own text (in the ParsedBody), kept when it is rejected
  Status status;         // why it was rejected; OK when `event` is valid
  EventView event;       // its texts live in the ParsedBody
};

// The events of one body, in order. Their texts are views into the body's padded copy held here (a string
// written with JSON escapes: into its unescaped copy, also held here), so nothing is copied per event.
class ParsedBody {
 public:
  size_t size() const { return events_.size(); }
  EventInput& operator[](size_t index) { return events_[index]; }
  const EventInput& operator[](size_t index) const { return events_[index]; }
  auto begin() { return events_.begin(); }
  auto end() { return events_.end(); }
  auto begin() const { return events_.begin(); }
  auto end() const { return events_.end(); }

 private:
  friend class EventsParser;
  friend class SdkParser;
  std::unique_ptr<char[]> text_;       // the body, then simdjson's padding
  std::unique_ptr<char[]> unescaped_;  // made at the first string with an escape
  std::deque<std::string> made_;       // texts made for events (an SDK's message: properties and the rest)
  std::vector<EventInput> events_;
};

// Parses POST /v1/events bodies with parser state kept from one body to the next (one per thread), so a
// body costs no parser allocation.
class EventsParser {
 public:
  explicit EventsParser(const JsonLimits& limits = {});
  ~EventsParser();
  EventsParser(const EventsParser&) = delete;
  EventsParser& operator=(const EventsParser&) = delete;

  // An error (the whole request is refused) only when the body is empty, holds more than
  // limits.max_events events (a TooLarge status), or, for JSON, is not a JSON object or array at all.
  Result<ParsedBody> Parse(std::string_view body, BodyFormat format);

  struct Parsers;  // simdjson's, kept out of this header

 private:
  Result<ParsedBody> ParseWithKeptParsers(std::string_view body, BodyFormat format);
  std::unique_ptr<Parsers> parsers_;
};

// EventsParser(limits).Parse(body, format).
Result<ParsedBody> ParseEventsBody(std::string_view body, BodyFormat format, const JsonLimits& limits = {});

// One event from its JSON object text. received_at and a missing event_id are left for the caller.
Result<Event> ParseEventJson(std::string_view json, const JsonLimits& limits = {});

// RFC 8259's number grammar: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?, of any size.
bool IsJsonNumber(std::string_view text);

}  // namespace tally

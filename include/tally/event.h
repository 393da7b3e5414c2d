// The one event model shared by both APIs, the log and the views.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace tally {

// Milliseconds since the Unix epoch, UTC.
using Millis = int64_t;

inline constexpr Millis kMillisPerHour = 3'600'000;
// API.md: timestamps from the epoch up to the last millisecond of year 9999.
inline constexpr Millis kMaxTimestampMillis = 253'402'300'799'999;

// API.md: a user id is 1-256 bytes (both APIs).
inline constexpr size_t kMaxUserIdBytes = 256;
// API.md: an event id is 1-128 bytes.
inline constexpr size_t kMaxEventIdBytes = 128;

inline constexpr int64_t HourOf(Millis timestamp) { return timestamp / kMillisPerHour; }

struct Event {
  std::string type;     // "click", "impression", "ArticleAddedToCart", ...
  std::string user_id;  // 1..256 bytes
  Millis timestamp = 0;
  std::string event_id;  // empty: the client gave none
  uint32_t version = 1;
  std::string session_id;       // empty: absent
  std::string product_id;       // empty: absent
  std::string store_id;         // empty: absent
  std::string properties_json;  // empty: absent; otherwise a JSON object kept verbatim
  Millis received_at = 0;       // server clock when the event was taken in

  bool operator==(const Event&) const = default;
};

// An event whose texts live elsewhere: in a request body as it was parsed, or in a log frame. Ingest, the
// log and the views read events through it, so an event's texts are copied once, into its log frame.
struct EventView {
  std::string_view type;
  std::string_view user_id;
  Millis timestamp = 0;
  std::string_view event_id;
  uint32_t version = 1;
  std::string_view session_id;
  std::string_view product_id;
  std::string_view store_id;
  std::string_view properties_json;
  Millis received_at = 0;

  bool operator==(const EventView&) const = default;
};

inline EventView ViewOf(const Event& event) {
  return {event.type,       event.user_id,    event.timestamp, event.event_id,        event.version,
          event.session_id, event.product_id, event.store_id,  event.properties_json, event.received_at};
}

inline Event ToEvent(const EventView& view) {
  return {std::string(view.type),
          std::string(view.user_id),
          view.timestamp,
          std::string(view.event_id),
          view.version,
          std::string(view.session_id),
          std::string(view.product_id),
          std::string(view.store_id),
          std::string(view.properties_json),
          view.received_at};
}

// Input that was refused, kept in the log with the reason so nothing a client sent is silently lost.
struct RejectedInput {
  Millis received_at = 0;
  std::string source;    // which endpoint: "/analytics", "/v1/events"
  std::string reason;    // "timestamp: not an integer"
  std::string raw;       // what the client sent, truncated to kMaxRejectedRawBytes
  std::string key_name;  // the API key's name, when keys are configured

  bool operator==(const RejectedInput&) const = default;
};

inline constexpr size_t kMaxRejectedRawBytes = 4096;

// A type's property rules were set (schema_json holds them) or removed (schema_json empty).
struct SchemaChange {
  Millis received_at = 0;
  std::string type;
  std::string schema_json;

  bool operator==(const SchemaChange&) const = default;
};

// The views keep no hour before `first_kept_hour` from here on (--retention): hours before it are dropped
// from every view, in log order like any other record, so a replay of the log drops them at the same point.
struct RetentionCut {
  Millis received_at = 0;
  int64_t first_kept_hour = 0;  // HourOf(millis)

  bool operator==(const RetentionCut&) const = default;
};

}  // namespace tally

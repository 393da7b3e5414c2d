// Events as the SDKs teams already run send them: Segment's HTTP Tracking API and PostHog's capture API.
// Each message becomes one event (docs/API.md gives the mapping, field by field). What else a message
// carried is kept in its properties under one key ("$segment", "$posthog"), so nothing sent is lost; the
// secret a body may carry (writeKey, api_key) is never kept. A bad message is rejected alone, as a bad
// event of POST /v1/events is.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "ingest/json_events.h"
#include "tally/event.h"
#include "tally/status.h"

namespace tally {

// Which properties of a message become the event's product_id and store_id (--product-property,
// --store-property): a string of 1-256 bytes or an integer; any other value stays only in properties.
struct SdkMapping {
  std::string product_property = "product_id";
  std::string store_property = "store_id";
};

enum class SegmentCall { kBatch, kTrack, kPage, kScreen, kIdentify, kGroup, kAlias };

// The call of a Segment path's last segment ("track" for /v1/track), or nullopt.
std::optional<SegmentCall> SegmentCallNamed(std::string_view name);

struct SdkBody {
  ParsedBody events;
  // The key the body carried (Segment's writeKey, PostHog's api_key; empty: none), held by `events`.
  std::string_view key;
};

// Parser state kept from one body to the next (one per event loop thread), as EventsParser does.
class SdkParser {
 public:
  SdkParser(const JsonLimits& limits, SdkMapping mapping);
  ~SdkParser();
  SdkParser(const SdkParser&) = delete;
  SdkParser& operator=(const SdkParser&) = delete;

  // A Segment body for `call`'s path: {"batch":[message, ...], "sentAt":..., "context":...} for kBatch,
  // one message for the others. Events without a time of their own take `now`. An error (the whole
  // request is refused) only when the body is not such JSON or holds more events than the limit.
  Result<SdkBody> ParseSegment(std::string_view body, SegmentCall call, Millis now);
  // A PostHog body: {"api_key":..., "batch":[event, ...], "sent_at":...}, one event object with its
  // api_key, or an array of events.
  Result<SdkBody> ParsePostHog(std::string_view body, Millis now);

  struct Parsers;  // simdjson's, kept out of this header

 private:
  std::unique_ptr<Parsers> parsers_;
};

}  // namespace tally

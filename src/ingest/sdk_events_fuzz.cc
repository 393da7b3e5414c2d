// libFuzzer target: Segment and PostHog bodies. Every accepted event has a type any API accepts, and the
// properties made for it (the message's own, with the other fields kept beside them) are one valid object
// that POST /v1/events keeps unchanged; every parse ends in events or an error that says why.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "ingest/json_events.h"
#include "ingest/sdk_events.h"

namespace {

void CheckEvents(const tally::Result<tally::SdkBody>& parsed, const tally::JsonLimits& limits) {
  if (!parsed.ok()) {
    if (parsed.status().message().empty()) __builtin_trap();
    return;
  }
  for (const tally::EventInput& input : parsed->events) {
    if (!input.status.ok()) {
      if (input.status.message().empty()) __builtin_trap();
      continue;
    }
    const tally::EventView& event = input.event;
    if (!tally::CheckEventType(event.type).ok() || event.user_id.empty()) __builtin_trap();
    if (event.properties_json.empty()) continue;
    const std::string alone =
        R"({"type":"a","user_id":"u","timestamp":1,"properties":)" + std::string(event.properties_json) + "}";
    auto again = tally::ParseEventJson(alone, limits);
    if (!again.ok() || again->properties_json != event.properties_json) __builtin_trap();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  tally::JsonLimits limits;
  limits.max_depth = 8;
  // The kept fields add one level (the envelope's object) to what a message nests.
  tally::JsonLimits reparse = limits;
  reparse.max_depth = limits.max_depth + 1;
  static tally::SdkParser parser(limits, tally::SdkMapping{});
  constexpr tally::Millis kNow = 1'793'527'200'000;
  CheckEvents(parser.ParseSegment(body, tally::SegmentCall::kBatch, kNow), reparse);
  CheckEvents(parser.ParseSegment(body, tally::SegmentCall::kTrack, kNow), reparse);
  CheckEvents(parser.ParsePostHog(body, kNow), reparse);
  return 0;
}

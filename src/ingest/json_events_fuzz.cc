// libFuzzer target: POST /v1/events bodies in both formats. Every accepted event must survive the log's
// record encoding unchanged and keep `properties` as one valid object, and every parse must end in events
// or an error, never a crash.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "ingest/json_events.h"
#include "log/record.h"

namespace {

void CheckRoundTrip(const tally::EventView& event) {
  std::string frame;
  tally::AppendEventFrame(event, &frame);
  tally::FrameView view;
  if (tally::ReadFrame(frame, &view) != tally::FrameCheck::kComplete) __builtin_trap();
  auto decoded = tally::DecodePayload(view.payload);
  if (!decoded.ok()) __builtin_trap();
  const auto* back = std::get_if<tally::Event>(&*decoded);
  if (back == nullptr || !(*back == tally::ToEvent(event))) __builtin_trap();
}

// The text kept for `properties` is exactly one valid object: taken alone into another event, it is
// accepted and kept the same.
void CheckPropertiesStandAlone(const tally::EventView& event, const tally::JsonLimits& limits) {
  if (event.properties_json.empty()) return;
  const std::string alone =
      R"({"type":"a","user_id":"u","timestamp":1,"properties":)" + std::string(event.properties_json) + "}";
  auto again = tally::ParseEventJson(alone, limits);
  if (!again.ok() || again->properties_json != event.properties_json) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  tally::JsonLimits limits;
  limits.max_depth = 8;
  for (auto format : {tally::BodyFormat::kJson, tally::BodyFormat::kNdjson}) {
    auto inputs = tally::ParseEventsBody(body, format, limits);
    if (!inputs.ok()) continue;
    for (const tally::EventInput& input : *inputs) {
      if (input.status.ok()) {
        CheckRoundTrip(input.event);
        CheckPropertiesStandAlone(input.event, limits);
      } else if (input.status.message().empty()) {
        __builtin_trap();  // a rejection must say why
      }
    }
  }
  return 0;
}

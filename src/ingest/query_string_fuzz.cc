// libFuzzer target: query strings as every GET and the take-home POST read them.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "ingest/query_string.h"
#include "ingest/take_home.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view query(reinterpret_cast<const char*>(data), size);
  auto all = tally::ParseQueryString(query);
  if (all.ok()) {
    for (const tally::QueryParam& param : *all) {
      (void)tally::ParseBoundedInteger(param.name, param.value, -1000, 1000);
      (void)tally::ParseTimeParam(param.name, param.value, 253'402'300'799'999);
    }
  } else if (all.status().message().empty()) {
    __builtin_trap();
  }
  auto known = tally::QueryParams::Parse(query, {"from", "to", "type", "limit", "before", "by", "hours"});
  if (known.ok()) {
    // Parse accepted it, so every parameter is one of the allowed names and appears once.
    if (all.ok() && all->size() != 0 && known->Get("from") == nullptr && known->Get("to") == nullptr &&
        known->Get("type") == nullptr && known->Get("limit") == nullptr && known->Get("before") == nullptr &&
        known->Get("by") == nullptr && known->Get("hours") == nullptr && known->Get("consistency") == nullptr)
      __builtin_trap();
  }
  auto event = tally::ParseTakeHomePost(query);
  if (event.ok() && (event->user_id.empty() || event->type.empty())) __builtin_trap();
  (void)tally::ParseTakeHomeGet(query);
  return 0;
}

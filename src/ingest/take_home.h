// The take-home protocol (API.md §1): POST and GET /analytics, validated strictly.
#pragma once

#include <string_view>

#include "tally/event.h"
#include "tally/status.h"

namespace tally {

inline constexpr std::string_view kClickType = "click";
inline constexpr std::string_view kImpressionType = "impression";

// POST /analytics?timestamp=..&user=..&event=click|impression (or the flag form ..&click).
// The event's received_at is left for the caller to set.
Result<Event> ParseTakeHomePost(std::string_view query);

// GET /analytics?timestamp=..: the timestamp whose UTC hour is asked for.
Result<Millis> ParseTakeHomeGet(std::string_view query);

}  // namespace tally

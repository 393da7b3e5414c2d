#pragma once

#include <string_view>

#include "tally/event.h"
#include "tally/status.h"

namespace tally {

// "2024-08-17T10:00:00Z", "2024-08-17T12:00:00.250+02:00": milliseconds since the epoch. A zone is
// required; fractions beyond milliseconds are truncated. Errors name `field`.
Result<Millis> ParseRfc3339Millis(std::string_view field, std::string_view text);

// Days since 1970-01-01 of a proleptic Gregorian date.
int64_t DaysFromCivil(int64_t year, unsigned month, unsigned day);

}  // namespace tally

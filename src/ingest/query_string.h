// application/x-www-form-urlencoded query strings, decoded strictly.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "tally/status.h"

namespace tally {

struct QueryParam {
  std::string name;         // percent-decoded
  std::string value;        // percent-decoded; empty for the flag form "name" and for "name="
  bool has_equals = false;  // "name=..." (true) or the bare flag "name" (false)
};

// Decodes %XX escapes and '+' (a space). A '%' not followed by two hex digits is an error naming `field`.
Status PercentDecode(std::string_view field, std::string_view encoded, std::string* decoded);

// Splits "a=1&b&c=x%20y" into its parameters in order. Empty pieces ("a=1&&b") are skipped.
Result<std::vector<QueryParam>> ParseQueryString(std::string_view query);

// A base-10 integer of digits only (an optional leading '-' is read so that negatives are reported as out
// of range rather than as garbage), within [min, max]; errors name `field`.
Result<int64_t> ParseBoundedInteger(std::string_view field, std::string_view text, int64_t min, int64_t max);

}  // namespace tally

// application/x-www-form-urlencoded query strings, decoded strictly.
#pragma once

#include <cstdint>
#include <initializer_list>
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

// The parameters of a request whose names are known in advance: a repeated or unknown one is an error.
class QueryParams {
 public:
  static Result<QueryParams> Parse(std::string_view query, std::initializer_list<std::string_view> allowed);
  // Null when absent.
  const std::string* Get(std::string_view name) const;

 private:
  std::vector<QueryParam> params_;
};

// A time parameter: integer milliseconds or an RFC 3339 string, within [0, max].
Result<int64_t> ParseTimeParam(std::string_view field, std::string_view text, int64_t max);

}  // namespace tally

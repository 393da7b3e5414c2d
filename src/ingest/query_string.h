// application/x-www-form-urlencoded query strings, decoded strictly.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include "tally/status.h"

namespace tally {

// Every GET may say how fresh its answer must be in cluster mode: "strong" or "local".
inline constexpr std::string_view kConsistencyParam = "consistency";

struct QueryParam {
  std::string name;         // percent-decoded
  std::string value;        // percent-decoded; empty for the flag form "name" and for "name="
  bool has_equals = false;  // "name=..." (true) or the bare flag "name" (false)
};

// What a '+' means: a space in a query string (HTML forms send one so), itself in a path (RFC 3986).
enum class PlusSign { kSpace, kItself };

// Decodes %XX escapes and '+' as `plus` says. A '%' not followed by two hex digits is an error naming
// `field`.
Status PercentDecode(std::string_view field, std::string_view encoded, std::string* decoded,
                     PlusSign plus = PlusSign::kSpace);

// Calls visit(name, value, has_equals) for each parameter of "a=1&b&c=x%20y" in order, decoded; empty
// pieces ("a=1&&b") are skipped. The views are valid during the call only. Only pieces holding '%' or '+'
// are copied to be decoded, so the common request allocates nothing here. Stops at the first error.
template <typename Visit>
Status ForEachQueryParam(std::string_view query, Visit&& visit);

// Splits "a=1&b&c=x%20y" into its parameters in order. Empty pieces ("a=1&&b") are skipped.
Result<std::vector<QueryParam>> ParseQueryString(std::string_view query);

// A base-10 integer of digits only (an optional leading '-' is read so that negatives are reported as out
// of range rather than as garbage), within [min, max]; errors name `field`.
Result<int64_t> ParseBoundedInteger(std::string_view field, std::string_view text, int64_t min, int64_t max);

// The parameters of a request whose names are known in advance: a repeated or unknown one is an error.
class QueryParams {
 public:
  // `consistency` (kConsistencyParam) is accepted on top of `allowed`: the server reads it for every GET.
  static Result<QueryParams> Parse(std::string_view query, std::initializer_list<std::string_view> allowed);
  // Null when absent.
  const std::string* Get(std::string_view name) const;

 private:
  std::vector<QueryParam> params_;
};

// A time parameter: integer milliseconds or an RFC 3339 string, within [0, max].
Result<int64_t> ParseTimeParam(std::string_view field, std::string_view text, int64_t max);

template <typename Visit>
Status ForEachQueryParam(std::string_view query, Visit&& visit) {
  std::string decoded_name, decoded_value;
  auto decode = [](std::string_view field, std::string_view raw, std::string* buffer,
                   std::string_view* out) -> Status {
    if (raw.find_first_of("%+") == std::string_view::npos) {
      *out = raw;
      return Status::Ok();
    }
    TALLY_RETURN_IF_ERROR(PercentDecode(field, raw, buffer));
    *out = *buffer;
    return Status::Ok();
  };
  while (!query.empty()) {
    const size_t amp = query.find('&');
    const std::string_view piece = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (piece.empty()) continue;
    const size_t eq = piece.find('=');
    const std::string_view raw_name = piece.substr(0, eq);
    std::string_view name, value;
    // Until the name is decoded, the error can only quote what the client wrote.
    TALLY_RETURN_IF_ERROR(decode(raw_name, raw_name, &decoded_name, &name));
    if (name.empty()) return Status::InvalidArgument("query", "parameter without a name");
    const bool has_equals = eq != std::string_view::npos;
    if (has_equals) TALLY_RETURN_IF_ERROR(decode(name, piece.substr(eq + 1), &decoded_value, &value));
    TALLY_RETURN_IF_ERROR(visit(name, value, has_equals));
  }
  return Status::Ok();
}

}  // namespace tally

// What tally checks of a request before routing it: the limits on what a client controls in the request
// head, the bearer token, and the native API's path segments. Pure functions of the request's text, so
// they are unit-tested and fuzzed without a server.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tally/status.h"

namespace tally {

struct RequestLimits {
  size_t max_target_bytes = 8 * 1024;   // the request target: path and query
  size_t max_header_count = 64;         // h2o itself refuses more than 100
  size_t max_header_bytes = 16 * 1024;  // names and values of all headers together
};

// The limits a server refuses requests or connections by (a /metrics label each).
enum class Limit : uint8_t { kTarget, kHeaderCount, kHeaderBytes, kConnections, kIngestRate };
inline constexpr size_t kLimits = 5;
std::string_view LimitName(Limit limit);

// A limit the request head broke: the HTTP status (414 or 431) and a line naming the field and the limit.
struct LimitExceeded {
  Limit limit;
  int status;
  std::string message;
};

struct RequestHeadSize {
  size_t target_bytes = 0;
  size_t header_count = 0;
  size_t header_bytes = 0;
};

std::optional<LimitExceeded> CheckRequestHead(const RequestLimits& limits, const RequestHeadSize& size);

// The secret of "Authorization: Bearer <secret>" (scheme case-insensitive); empty when the header does
// not have that form.
std::string_view BearerSecret(std::string_view authorization);

// "/v1/users/a%2Fb/events" -> {"users", "a/b", "events"}. A bad %-escape is an error naming "path".
Result<std::vector<std::string>> V1PathSegments(std::string_view path);

}  // namespace tally

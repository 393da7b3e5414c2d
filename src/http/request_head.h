// What tally checks of a request before routing it: the limits on what a client controls in the request
// head, the bearer token, and the segments routes are matched on. Pure functions of the request's text, so
// they are unit-tested and fuzzed without a server.
#pragma once

#include <cstddef>
#include <cstdint>
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

// The secret a request's Authorization header carries: Bearer's, or Basic's user name (Segment's SDKs
// send their write key as `Basic base64(<key>:)`; the password is then empty, and used when the user name
// is). Empty when the header has neither form.
std::string SecretOf(std::string_view authorization);

// The native API's paths start with this; they are taken as sent and their segments percent-decoded.
inline constexpr std::string_view kNativeApiPrefix = "/v1/";

// A route path split at its slashes, the routes' patterns are matched against: "/v1/users/a%2Fb/events"
// -> {"v1", "users", "a/b", "events"}, "/" -> {""}. The native API's segments are percent-decoded (an id
// may hold any byte, a slash too); a bad %-escape is an error naming "path". Other paths are taken as
// h2o normalized them.
Result<std::vector<std::string>> RouteSegments(std::string_view route_path);

// The path the key check and the routers both decide on, so that no request is authorized as one route
// and served as another. Native API paths carry percent-encoded ids and are taken as sent (`raw_path`,
// the target before its query); every other path as h2o normalized it (dot segments resolved).
std::string_view RoutePath(std::string_view raw_path, std::string_view normalized_path);

// Who may call a route, with keys configured (route_table.h says it of each). kAnyKey: a path or method no
// route has (any known key then learns the 404 or 405).
enum class Access : uint8_t { kPublic, kAnyKey, kIngest, kRead, kAdmin };

// RFC 9112 §6.3: a body whose length two parsers could read differently (Content-Length values that
// differ, or Content-Length beside Transfer-Encoding) is how requests are smuggled past a proxy. The
// reason a request head as received (request line and header lines, CRLF or LF) is refused for that, if
// it is; its connection is then closed, so no bytes after it are read as a request of their own.
std::optional<std::string> AmbiguousBodyLength(std::string_view raw_head);

// A media type compared as RFC 9110 says: case-insensitive, parameters (";charset=...") aside.
bool IsMediaType(std::string_view content_type, std::string_view media_type);
// ASCII letters compared without case (header names, schemes, codings).
bool EqualsIgnoringCase(std::string_view a, std::string_view b);

}  // namespace tally

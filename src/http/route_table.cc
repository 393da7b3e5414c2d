#include "http/route_table.h"

#include <algorithm>
#include <array>

namespace tally {
namespace {

// No route has more segments than this; a longer path is answered 404.
constexpr size_t kMaxSegments = 8;
using PathSplit = std::array<std::string_view, kMaxSegments>;

// The path's segments as they are (no allocation: this runs for every request and every response), or
// nullopt for more than any route has.
std::optional<std::span<const std::string_view>> SplitPath(std::string_view route_path, PathSplit* split) {
  if (route_path.starts_with('/')) route_path.remove_prefix(1);
  size_t count = 0;
  while (count < split->size()) {
    const size_t slash = route_path.find('/');
    (*split)[count++] = route_path.substr(0, slash);
    if (slash == std::string_view::npos) return std::span<const std::string_view>(split->data(), count);
    route_path.remove_prefix(slash + 1);
  }
  return std::nullopt;
}

template <typename Segments>
RouteMatch Match(std::string_view method, std::string_view route_path, const Segments& segments) {
  RouteMatch match;
  match.index = RouteIndex(method, segments);
  if (match.index >= 0) {
    const std::string_view pattern = kRoutes[match.index].path;
    match.args.path = route_path;
    match.args.route = pattern;
    size_t segment = 0;
    for (size_t start = 1; start < pattern.size(); ++segment) {
      const size_t end = std::min(pattern.find('/', start), pattern.size());
      if (pattern[start] == '{') match.args.params.emplace_back(segments[segment]);
      start = end + 1;
    }
    return match;
  }
  for (const RouteSpec& route : kRoutes) {
    if (!PatternFits(route.path, segments)) continue;
    if (!match.allow.empty()) match.allow += ", ";
    match.allow += route.method;
    if (route.method == "GET") match.allow += ", HEAD";
  }
  return match;
}

}  // namespace

Result<RouteMatch> MatchRoute(std::string_view method, std::string_view route_path) {
  // The native API's segments are percent-decoded (an id may hold any byte); only then is a copy made.
  if (route_path.starts_with(kNativeApiPrefix) && route_path.find('%') != std::string_view::npos) {
    auto segments = RouteSegments(route_path);
    if (!segments.ok()) return segments.status();
    return Match(method, route_path, *segments);
  }
  PathSplit split;
  const auto segments = SplitPath(route_path, &split);
  if (!segments) return RouteMatch{};
  return Match(method, route_path, *segments);
}

const RouteSpec* RouteOfPath(std::string_view route_path) {
  PathSplit split;
  const auto segments = SplitPath(route_path, &split);
  if (!segments) return nullptr;
  for (const RouteSpec& route : kRoutes) {
    if (PatternFits(route.path, *segments)) return &route;
  }
  return nullptr;
}

}  // namespace tally

#include "http/request_head.h"

#include <algorithm>
#include <optional>
#include <utility>

#include "ingest/query_string.h"

namespace tally {

std::string_view LimitName(Limit limit) {
  switch (limit) {
    case Limit::kTarget:
      return "target_bytes";
    case Limit::kHeaderCount:
      return "header_count";
    case Limit::kHeaderBytes:
      return "header_bytes";
    case Limit::kConnections:
      return "connections";
    case Limit::kIngestRate:
      return "ingest_rate";
  }
  return "other";
}

std::optional<LimitExceeded> CheckRequestHead(const RequestLimits& limits, const RequestHeadSize& size) {
  if (size.target_bytes > limits.max_target_bytes) {
    return LimitExceeded{Limit::kTarget, 414,
                         "target: " + std::to_string(size.target_bytes) + " bytes, more than the limit of " +
                             std::to_string(limits.max_target_bytes) + " (--max-target-bytes)"};
  }
  if (size.header_count > limits.max_header_count) {
    return LimitExceeded{Limit::kHeaderCount, 431,
                         "headers: " + std::to_string(size.header_count) +
                             " header fields, more than the limit of " +
                             std::to_string(limits.max_header_count) + " (--max-header-count)"};
  }
  if (size.header_bytes > limits.max_header_bytes) {
    return LimitExceeded{Limit::kHeaderBytes, 431,
                         "headers: " + std::to_string(size.header_bytes) + " bytes, more than the limit of " +
                             std::to_string(limits.max_header_bytes) + " (--max-header-bytes)"};
  }
  return std::nullopt;
}

namespace {
char LowerAscii(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }
}  // namespace

bool EqualsIgnoringCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(),
                                            [](char x, char y) { return LowerAscii(x) == LowerAscii(y); });
}

std::string_view BearerSecret(std::string_view authorization) {
  constexpr std::string_view kScheme = "bearer ";
  if (authorization.size() <= kScheme.size() ||
      !EqualsIgnoringCase(authorization.substr(0, kScheme.size()), kScheme))
    return {};
  return authorization.substr(kScheme.size());
}

namespace {

// Standard base64 with or without padding; nullopt for anything else.
std::optional<std::string> DecodeBase64(std::string_view text) {
  while (!text.empty() && text.back() == '=') text.remove_suffix(1);
  std::string out;
  uint32_t bits = 0;
  int count = 0;
  for (const char c : text) {
    int value = -1;
    if (c >= 'A' && c <= 'Z') value = c - 'A';
    if (c >= 'a' && c <= 'z') value = c - 'a' + 26;
    if (c >= '0' && c <= '9') value = c - '0' + 52;
    if (c == '+') value = 62;
    if (c == '/') value = 63;
    if (value < 0) return std::nullopt;
    bits = (bits << 6) | static_cast<uint32_t>(value);
    count += 6;
    if (count >= 8) {
      count -= 8;
      out.push_back(static_cast<char>((bits >> count) & 0xFF));
    }
  }
  if (count >= 6) return std::nullopt;  // one character alone cannot end a base64 text
  return out;
}

}  // namespace

std::string SecretOf(std::string_view authorization) {
  if (std::string_view bearer = BearerSecret(authorization); !bearer.empty()) return std::string(bearer);
  constexpr std::string_view kBasic = "basic ";
  if (authorization.size() <= kBasic.size() ||
      !EqualsIgnoringCase(authorization.substr(0, kBasic.size()), kBasic))
    return {};
  const auto credentials = DecodeBase64(authorization.substr(kBasic.size()));
  if (!credentials) return {};
  const size_t colon = credentials->find(':');
  if (colon == std::string::npos) return {};
  return colon > 0 ? credentials->substr(0, colon) : credentials->substr(colon + 1);
}

Result<std::vector<std::string>> RouteSegments(std::string_view route_path) {
  std::vector<std::string> segments;
  const bool decode = route_path.starts_with(kNativeApiPrefix);
  if (route_path.starts_with('/')) route_path.remove_prefix(1);
  while (true) {
    const size_t slash = route_path.find('/');
    const std::string_view segment = route_path.substr(0, slash);
    if (decode) {
      TALLY_RETURN_IF_ERROR(PercentDecode("path", segment, &segments.emplace_back(), PlusSign::kItself));
    } else {
      segments.emplace_back(segment);
    }
    if (slash == std::string_view::npos) break;
    route_path.remove_prefix(slash + 1);
  }
  return segments;
}

std::string_view RoutePath(std::string_view raw_path, std::string_view normalized_path) {
  return raw_path.starts_with(kNativeApiPrefix) ? raw_path : normalized_path;
}

namespace {

std::string_view TrimSpaces(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

}  // namespace

std::optional<std::string> AmbiguousBodyLength(std::string_view raw_head) {
  std::optional<std::string_view> length;
  bool has_transfer_encoding = false;
  bool request_line = true;
  while (!raw_head.empty()) {
    const size_t end = raw_head.find('\n');
    std::string_view line = raw_head.substr(0, end);
    raw_head = end == std::string_view::npos ? std::string_view() : raw_head.substr(end + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    // Empty lines before the request line are skipped, as h2o's parser skips them.
    if (request_line && line.empty()) continue;
    if (std::exchange(request_line, false)) continue;
    if (line.empty()) break;  // the end of the head
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    const std::string_view name = TrimSpaces(line.substr(0, colon));
    if (EqualsIgnoringCase(name, "transfer-encoding")) has_transfer_encoding = true;
    if (!EqualsIgnoringCase(name, "content-length")) continue;
    // "Content-Length: 5, 5" and two fields of 5 say one length; any other value beside it is ambiguous.
    std::string_view values = line.substr(colon + 1);
    while (true) {
      const size_t comma = values.find(',');
      const std::string_view value = TrimSpaces(values.substr(0, comma));
      if (length && *length != value)
        return "content-length: given more than once with different values, the body's length is ambiguous";
      length = value;
      if (comma == std::string_view::npos) break;
      values.remove_prefix(comma + 1);
    }
  }
  if (has_transfer_encoding && length)
    return "content-length: sent together with transfer-encoding, the body's length is ambiguous";
  return std::nullopt;
}

bool IsMediaType(std::string_view content_type, std::string_view media_type) {
  return EqualsIgnoringCase(TrimSpaces(content_type.substr(0, content_type.find(';'))), media_type);
}

}  // namespace tally

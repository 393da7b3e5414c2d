#include "http/request_head.h"

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

std::string_view BearerSecret(std::string_view authorization) {
  constexpr std::string_view kScheme = "bearer ";
  if (authorization.size() <= kScheme.size()) return {};
  for (size_t i = 0; i < kScheme.size(); ++i) {
    char c = authorization[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != kScheme[i]) return {};
  }
  return authorization.substr(kScheme.size());
}

Result<std::vector<std::string>> V1PathSegments(std::string_view path) {
  std::vector<std::string> segments;
  constexpr std::string_view kPrefix = "/v1/";
  if (path.starts_with(kPrefix)) path.remove_prefix(kPrefix.size());
  while (true) {
    const size_t slash = path.find('/');
    std::string segment;
    TALLY_RETURN_IF_ERROR(PercentDecode("path", path.substr(0, slash), &segment));
    segments.push_back(std::move(segment));
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash + 1);
  }
  return segments;
}

}  // namespace tally

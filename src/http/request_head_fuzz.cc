// libFuzzer target: a request head as the server sees it: h2o's parser (picohttpparser, the one tallyd
// runs), then what tally does with the result before routing: the head limits, the bearer secret, the
// native API's path segments, the query parameters.
#include <algorithm>
#include <cctype>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

#include "http/request_head.h"
#include "ingest/query_string.h"

// libh2o exports picohttpparser but Debian installs no header for it.
extern "C" {
struct phr_header {
  const char* name;
  size_t name_len;
  const char* value;
  size_t value_len;
};
int phr_parse_request(const char* buf, size_t len, const char** method, size_t* method_len, const char** path,
                      size_t* path_len, int* minor_version, struct phr_header* headers, size_t* num_headers,
                      size_t last_len);
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const char* method = nullptr;
  const char* path = nullptr;
  size_t method_length = 0, path_length = 0, header_count = 100;
  int minor_version = 0;
  phr_header headers[100];
  const int parsed = phr_parse_request(reinterpret_cast<const char*>(data), size, &method, &method_length,
                                       &path, &path_length, &minor_version, headers, &header_count, 0);
  if (parsed <= 0) return 0;
  tally::RequestHeadSize head_size{path_length, header_count, 0};
  std::string_view authorization;
  for (size_t i = 0; i < header_count; ++i) {
    head_size.header_bytes += headers[i].name_len + headers[i].value_len;
    if (std::string_view(headers[i].name, headers[i].name_len) == "Authorization")
      authorization = std::string_view(headers[i].value, headers[i].value_len);
  }
  const auto exceeded = tally::CheckRequestHead(tally::RequestLimits{}, head_size);
  if (exceeded && exceeded->status != 414 && exceeded->status != 431) __builtin_trap();
  const std::string_view secret = tally::BearerSecret(authorization);
  if (secret.size() >= authorization.size() && !secret.empty()) __builtin_trap();
  const std::string_view target(path, path_length);
  const size_t question = target.find('?');
  const std::string_view route = target.substr(0, question);
  auto segments = tally::RouteSegments(route);
  if (segments.ok() && segments->empty()) __builtin_trap();
  if (!route.starts_with("/v1/") && !segments.ok()) __builtin_trap();  // only the native API's are decoded
  // The second reading of the head (what the server does to find smuggled lengths) must see every
  // Content-Length and Transfer-Encoding picohttpparser, h2o's parser, saw.
  bool folded = false, transfer_encoding = false, lengths_differ = false;
  std::optional<std::string_view> length;
  auto lower_equals = [](std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
             return std::tolower(static_cast<unsigned char>(x)) == y;
           });
  };
  for (size_t i = 0; i < header_count; ++i) {
    if (headers[i].name == nullptr) {
      folded = true;
      continue;
    }
    const std::string_view name(headers[i].name, headers[i].name_len);
    std::string_view value(headers[i].value, headers[i].value_len);
    while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
    if (lower_equals(name, "transfer-encoding")) transfer_encoding = true;
    if (!lower_equals(name, "content-length") || value.find(',') != std::string_view::npos) continue;
    if (length && *length != value) lengths_differ = true;
    length = value;
  }
  const auto ambiguous =
      tally::AmbiguousBodyLength({reinterpret_cast<const char*>(data), static_cast<size_t>(parsed)});
  if (!folded && (lengths_differ || (transfer_encoding && length)) && !ambiguous) __builtin_trap();
  if (question != std::string_view::npos) {
    (void)tally::ForEachQueryParam(target.substr(question + 1), [](std::string_view, std::string_view, bool) {
      return tally::Status::Ok();
    });
  }
  return 0;
}

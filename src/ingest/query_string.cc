#include "ingest/query_string.h"

#include <algorithm>

#include "ingest/rfc3339.h"

namespace tally {
namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

Status PercentDecode(std::string_view field, std::string_view encoded, std::string* decoded, PlusSign plus) {
  decoded->clear();
  decoded->reserve(encoded.size());
  for (size_t i = 0; i < encoded.size(); ++i) {
    char c = encoded[i];
    if (c == '+' && plus == PlusSign::kSpace) {
      decoded->push_back(' ');
    } else if (c == '%') {
      const bool has_two_more = i + 2 < encoded.size();
      const int high = has_two_more ? HexValue(encoded[i + 1]) : -1;
      const int low = has_two_more ? HexValue(encoded[i + 2]) : -1;
      if (high < 0 || low < 0) return Status::InvalidArgument(field, "invalid percent-encoding");
      decoded->push_back(static_cast<char>(high * 16 + low));
      i += 2;
    } else {
      decoded->push_back(c);
    }
  }
  return Status::Ok();
}

Result<std::vector<QueryParam>> ParseQueryString(std::string_view query) {
  std::vector<QueryParam> params;
  Status status =
      ForEachQueryParam(query, [&](std::string_view name, std::string_view value, bool has_equals) {
        params.push_back(QueryParam{std::string(name), std::string(value), has_equals});
        return Status::Ok();
      });
  if (!status.ok()) return status;
  return params;
}

Result<int64_t> ParseBoundedInteger(std::string_view field, std::string_view text, int64_t min, int64_t max) {
  if (text.empty()) return Status::InvalidArgument(field, "empty");
  bool negative = text.front() == '-';
  std::string_view digits = negative ? text.substr(1) : text;
  if (digits.empty()) return Status::InvalidArgument(field, "not an integer");
  for (char c : digits) {
    if (c < '0' || c > '9') return Status::InvalidArgument(field, "not an integer");
  }
  std::string range = "out of range (" + std::to_string(min) + " to " + std::to_string(max) + ")";
  // Accumulate as a magnitude; anything beyond max's digits is out of range, never wrapped.
  uint64_t magnitude = 0;
  for (char c : digits) {
    if (magnitude > (UINT64_MAX - 9) / 10) return Status::InvalidArgument(field, range);
    magnitude = magnitude * 10 + static_cast<uint64_t>(c - '0');
  }
  if (negative) {
    if (magnitude == 0)
      return min <= 0 && 0 <= max ? Result<int64_t>(0) : Status::InvalidArgument(field, range);
    if (min >= 0 || magnitude > static_cast<uint64_t>(-(min + 1)) + 1)
      return Status::InvalidArgument(field, range);
    return -static_cast<int64_t>(magnitude - 1) - 1;
  }
  if (magnitude > static_cast<uint64_t>(max) || static_cast<int64_t>(magnitude) < min) {
    return Status::InvalidArgument(field, range);
  }
  return static_cast<int64_t>(magnitude);
}

Result<QueryParams> QueryParams::Parse(std::string_view query,
                                       std::initializer_list<std::string_view> allowed) {
  auto params = ParseQueryString(query);
  if (!params.ok()) return params.status();
  QueryParams result;
  for (QueryParam& param : *params) {
    if (param.name != kConsistencyParam &&
        std::find(allowed.begin(), allowed.end(), param.name) == allowed.end()) {
      std::string names;
      for (std::string_view name : allowed) names += (names.empty() ? "" : ", ") + std::string(name);
      return Status::InvalidArgument(param.name.substr(0, 64), "unknown parameter (known: " + names + ")");
    }
    if (result.Get(param.name) != nullptr) return Status::InvalidArgument(param.name, "repeated");
    result.params_.push_back(std::move(param));
  }
  return result;
}

const std::string* QueryParams::Get(std::string_view name) const {
  for (const QueryParam& param : params_) {
    if (param.name == name) return &param.value;
  }
  return nullptr;
}

Result<int64_t> ParseTimeParam(std::string_view field, std::string_view text, int64_t max) {
  if (!text.empty() && text.find_first_not_of("0123456789-") != std::string_view::npos) {
    auto parsed = ParseRfc3339Millis(field, text);
    if (!parsed.ok()) {
      return Status::InvalidArgument(field, "must be integer milliseconds or an RFC 3339 time with a zone");
    }
    if (*parsed > max)
      return Status::InvalidArgument(field, "out of range (0 to " + std::to_string(max) + ")");
    return *parsed;
  }
  return ParseBoundedInteger(field, text, 0, max);
}

}  // namespace tally

#include "query/take_home_answer.h"

#include <charconv>

namespace tally {
namespace {

void AppendLine(std::string_view name, uint64_t value, std::string* out) {
  char digits[24];
  auto [end, ec] = std::to_chars(digits, digits + sizeof(digits), value);
  out->append(name);
  out->push_back(',');
  out->append(digits, end);
  out->push_back('\n');
}

}  // namespace

std::string FormatTakeHomeAnswer(const TakeHomeCounts& counts) {
  std::string body;
  body.reserve(64);
  AppendLine("unique_users", counts.unique_users, &body);
  AppendLine("clicks", counts.clicks, &body);
  AppendLine("impressions", counts.impressions, &body);
  return body;
}

}  // namespace tally

#include "ingest/take_home.h"

#include <optional>
#include <string>

#include "ingest/query_string.h"

namespace tally {
namespace {

// A parameter name as it may appear in a one-line error: printable ASCII, bounded length.
std::string PrintableName(std::string_view name) {
  constexpr size_t kMaxShownBytes = 64;
  std::string shown;
  for (char c : name.substr(0, kMaxShownBytes)) shown.push_back(c >= 0x20 && c < 0x7F ? c : '?');
  if (name.size() > kMaxShownBytes) shown += "...";
  return shown;
}

// Records a parameter that may appear once; a second appearance is an error.
Status TakeOnce(std::string_view name, std::string_view value, std::optional<std::string>* slot) {
  if (slot->has_value()) return Status::InvalidArgument(name, "repeated");
  *slot = value;
  return Status::Ok();
}

Status RequireNonEmpty(std::string_view field, const std::optional<std::string>& value) {
  if (!value.has_value()) return Status::InvalidArgument(field, "missing");
  if (value->empty()) return Status::InvalidArgument(field, "empty");
  return Status::Ok();
}

Result<Millis> ParseTimestamp(const std::optional<std::string>& value) {
  TALLY_RETURN_IF_ERROR(RequireNonEmpty("timestamp", value));
  return ParseBoundedInteger("timestamp", *value, 0, kMaxTimestampMillis);
}

}  // namespace

Result<Event> ParseTakeHomePost(std::string_view query) {
  std::optional<std::string> timestamp, user, event_param;
  std::optional<std::string> flag_type;  // "click" or "impression" from the flag form
  TALLY_RETURN_IF_ERROR(ForEachQueryParam(query, [&](std::string_view name, std::string_view value, bool) {
    if (name == "timestamp") return TakeOnce(name, value, &timestamp);
    if (name == "user") return TakeOnce(name, value, &user);
    if (name == "event") return TakeOnce(name, value, &event_param);
    if (name == kClickType || name == kImpressionType) {
      if (!value.empty()) return Status::InvalidArgument(name, "a flag takes no value");
      if (flag_type.has_value()) {
        return Status::InvalidArgument("event",
                                       *flag_type == name ? "repeated" : "both click and impression given");
      }
      flag_type = std::string(name);
      return Status::Ok();
    }
    return Status::InvalidArgument(PrintableName(name), "unknown parameter");
  }));

  auto parsed_timestamp = ParseTimestamp(timestamp);
  if (!parsed_timestamp.ok()) return parsed_timestamp.status();
  TALLY_RETURN_IF_ERROR(RequireNonEmpty("user", user));
  if (user->size() > kMaxUserIdBytes) return Status::InvalidArgument("user", "longer than 256 bytes");

  Event event;
  if (event_param.has_value()) {
    if (flag_type.has_value()) return Status::InvalidArgument("event", "given both as event= and as a flag");
    if (event_param->empty()) return Status::InvalidArgument("event", "empty");
    if (*event_param != kClickType && *event_param != kImpressionType) {
      return Status::InvalidArgument("event", "must be click or impression");
    }
    event.type = std::move(*event_param);
  } else if (flag_type.has_value()) {
    event.type = std::move(*flag_type);
  } else {
    return Status::InvalidArgument("event", "missing (event=click|impression or a click/impression flag)");
  }
  event.timestamp = *parsed_timestamp;
  event.user_id = std::move(*user);
  return event;
}

Result<Millis> ParseTakeHomeGet(std::string_view query) {
  std::optional<std::string> timestamp;
  TALLY_RETURN_IF_ERROR(ForEachQueryParam(query, [&](std::string_view name, std::string_view value, bool) {
    if (name == kConsistencyParam) return Status::Ok();  // read by the server for every GET
    if (name != "timestamp") return Status::InvalidArgument(PrintableName(name), "unknown parameter");
    return TakeOnce(name, value, &timestamp);
  }));
  return ParseTimestamp(timestamp);
}

}  // namespace tally

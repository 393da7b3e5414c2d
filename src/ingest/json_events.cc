#include "ingest/json_events.h"

#include <simdjson.h>

#include <algorithm>
#include <optional>

#include "ingest/rfc3339.h"

namespace tally {
namespace {

namespace od = simdjson::ondemand;

std::string_view TrimWhitespace(std::string_view text) {
  const size_t first = text.find_first_not_of(" \t\r\n");
  if (first == std::string_view::npos) return {};
  const size_t last = text.find_last_not_of(" \t\r\n");
  return text.substr(first, last - first + 1);
}

// After the top-level value was read: anything left in the document is trailing content.
bool HasTrailingContent(od::document& document) {
  const char* where = nullptr;
  return document.current_location().get(where) == simdjson::SUCCESS;
}

std::string JsonError(simdjson::error_code error) {
  return std::string("not valid JSON (") + simdjson::error_message(error) + ")";
}

bool IsTypeCharacter(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
         c == ':' || c == '-';
}

Status ReadBoundedString(od::value& value, std::string_view field, size_t max_bytes, std::string* out) {
  std::string_view text;
  if (value.get_string().get(text) != simdjson::SUCCESS)
    return Status::InvalidArgument(field, "must be a string");
  if (text.empty()) return Status::InvalidArgument(field, "empty");
  if (text.size() > max_bytes) {
    return Status::InvalidArgument(field, "longer than " + std::to_string(max_bytes) + " bytes");
  }
  out->assign(text);
  return Status::Ok();
}

Status ReadTimestamp(od::value& value, Millis* out) {
  od::json_type type;
  if (value.type().get(type) != simdjson::SUCCESS)
    return Status::InvalidArgument("timestamp", "not valid JSON");
  if (type == od::json_type::string) {
    std::string_view text;
    if (value.get_string().get(text) != simdjson::SUCCESS)
      return Status::InvalidArgument("timestamp", "not valid JSON");
    auto parsed = ParseRfc3339Millis("timestamp", text);
    if (!parsed.ok()) return parsed.status();
    *out = *parsed;
    return Status::Ok();
  }
  if (type != od::json_type::number) {
    return Status::InvalidArgument("timestamp", "must be integer milliseconds or an RFC 3339 string");
  }
  od::number_type number_type;
  if (value.get_number_type().get(number_type) != simdjson::SUCCESS) {
    return Status::InvalidArgument("timestamp", "not a number");
  }
  int64_t millis = 0;
  if (number_type != od::number_type::signed_integer || value.get_int64().get(millis) != simdjson::SUCCESS) {
    return Status::InvalidArgument("timestamp", number_type == od::number_type::unsigned_integer
                                                    ? "out of range (0 to 253402300799999)"
                                                    : "not an integer");
  }
  if (millis < 0 || millis > kMaxTimestampMillis) {
    return Status::InvalidArgument("timestamp", "out of range (0 to 253402300799999)");
  }
  *out = millis;
  return Status::Ok();
}

Status ReadVersion(od::value& value, uint32_t* out) {
  od::json_type type;
  if (value.type().get(type) != simdjson::SUCCESS || type != od::json_type::number) {
    return Status::InvalidArgument("version", "must be a positive integer");
  }
  uint64_t version = 0;
  od::number_type number_type;
  if (value.get_number_type().get(number_type) != simdjson::SUCCESS ||
      number_type == od::number_type::floating_point_number ||
      value.get_uint64().get(version) != simdjson::SUCCESS || version == 0) {
    return Status::InvalidArgument("version", "must be a positive integer");
  }
  if (version > UINT32_MAX) return Status::InvalidArgument("version", "larger than 4294967295");
  *out = static_cast<uint32_t>(version);
  return Status::Ok();
}

// Checks every value below `value` as JSON. Numbers are checked against the grammar only: properties are
// kept verbatim, so a number no 64-bit type holds (an order id, 1e400) is as valid as any.
simdjson::error_code ValidateJsonValue(od::value value) {
  od::json_type type;
  if (auto error = value.type().get(type)) return error;
  switch (type) {
    case od::json_type::object: {
      od::object object;
      if (auto error = value.get_object().get(object)) return error;
      for (auto field_result : object) {
        od::field field;
        if (auto error = std::move(field_result).get(field)) return error;
        std::string_view key;
        if (auto error = field.unescaped_key().get(key)) return error;
        if (auto error = ValidateJsonValue(field.value())) return error;
      }
      return simdjson::SUCCESS;
    }
    case od::json_type::array: {
      od::array array;
      if (auto error = value.get_array().get(array)) return error;
      for (auto element_result : array) {
        od::value element;
        if (auto error = std::move(element_result).get(element)) return error;
        if (auto error = ValidateJsonValue(element)) return error;
      }
      return simdjson::SUCCESS;
    }
    case od::json_type::string: {
      std::string_view text;
      return value.get_string().get(text);
    }
    case od::json_type::number: {
      std::string_view token = value.raw_json_token();
      const size_t end = token.find_last_not_of(" \t\r\n");
      return IsJsonNumber(token.substr(0, end + 1)) ? simdjson::SUCCESS : simdjson::NUMBER_ERROR;
    }
    case od::json_type::boolean: {
      bool flag = false;
      return value.get_bool().get(flag);
    }
    case od::json_type::null: {
      bool is_null = false;
      if (auto error = value.is_null().get(is_null)) return error;
      return is_null ? simdjson::SUCCESS : simdjson::N_ATOM_ERROR;
    }
  }
  return simdjson::INCORRECT_TYPE;
}

Status ReadProperties(od::value& value, od::parser& validator, const JsonLimits& limits, std::string* out) {
  od::object object;
  if (value.get_object().get(object) != simdjson::SUCCESS) {
    return Status::InvalidArgument("properties", "must be a JSON object");
  }
  std::string_view raw;
  if (object.raw_json().get(raw) != simdjson::SUCCESS)
    return Status::InvalidArgument("properties", "not valid JSON");
  if (raw.size() > limits.max_properties_bytes) {
    return Status::InvalidArgument("properties",
                                   "larger than " + std::to_string(limits.max_properties_bytes) + " bytes");
  }
  if (JsonNestingDepth(raw) > limits.max_depth) {
    return Status::InvalidArgument("properties",
                                   "nested deeper than " + std::to_string(limits.max_depth) + " levels");
  }
  // On-demand skipping checks only the structure; the text kept verbatim must be valid JSON throughout.
  // It lies inside the padded body, so it is read in place.
  od::document document;
  auto error =
      validator.iterate(raw.data(), raw.size(), raw.size() + simdjson::SIMDJSON_PADDING).get(document);
  od::value root;
  if (!error) error = document.get_value().get(root);
  if (!error) error = ValidateJsonValue(root);
  if (error) return Status::InvalidArgument("properties", JsonError(error));
  out->assign(raw);
  return Status::Ok();
}

// Parsers reused for every event of a body, so an event costs no allocation of parser state.
struct EventParsers {
  od::parser on_demand;
  od::parser properties;
  JsonLimits limits;
};

// Parses the event in [data, data + length); at least SIMDJSON_PADDING readable bytes must follow it
// (the rest of a padded body does), so events are parsed in place, without a copy each.
Result<Event> ParseEventInPlace(EventParsers& parsers, const char* data, size_t length, size_t capacity) {
  od::document document;
  if (auto error = parsers.on_demand.iterate(data, length, capacity).get(document)) {
    return Status::InvalidArgument("event", JsonError(error));
  }
  od::object object;
  if (document.get_object().get(object) != simdjson::SUCCESS) {
    return Status::InvalidArgument("event", "must be a JSON object");
  }
  Event event;
  bool seen_type = false, seen_user = false, seen_timestamp = false, seen_event_id = false,
       seen_version = false, seen_session = false, seen_product = false, seen_store = false,
       seen_properties = false;
  auto once = [](bool* seen, std::string_view field) {
    if (*seen) return Status::InvalidArgument(field, "repeated");
    *seen = true;
    return Status::Ok();
  };
  for (auto field_result : object) {
    od::field field;
    if (auto error = std::move(field_result).get(field))
      return Status::InvalidArgument("event", JsonError(error));
    std::string_view key;
    if (auto error = field.unescaped_key().get(key))
      return Status::InvalidArgument("event", JsonError(error));
    od::value value = field.value();
    bool is_null = false;
    if (auto error = value.is_null().get(is_null)) return Status::InvalidArgument(key, JsonError(error));
    if (key == "type") {
      TALLY_RETURN_IF_ERROR(once(&seen_type, key));
      if (is_null) return Status::InvalidArgument(key, "must be a string");
      TALLY_RETURN_IF_ERROR(ReadBoundedString(value, key, kMaxTypeBytes, &event.type));
      // Length and emptiness were reported above with their own reasons; what is left is the characters.
      if (!IsValidEventType(event.type))
        return Status::InvalidArgument(key, "may hold only A-Z a-z 0-9 _ . : -");
    } else if (key == "user_id") {
      TALLY_RETURN_IF_ERROR(once(&seen_user, key));
      if (is_null) return Status::InvalidArgument(key, "must be a string");
      TALLY_RETURN_IF_ERROR(ReadBoundedString(value, key, kMaxUserIdBytes, &event.user_id));
    } else if (key == "timestamp") {
      TALLY_RETURN_IF_ERROR(once(&seen_timestamp, key));
      TALLY_RETURN_IF_ERROR(ReadTimestamp(value, &event.timestamp));
    } else if (key == "event_id") {
      TALLY_RETURN_IF_ERROR(once(&seen_event_id, key));
      if (!is_null) TALLY_RETURN_IF_ERROR(ReadBoundedString(value, key, kMaxEventIdBytes, &event.event_id));
    } else if (key == "version") {
      TALLY_RETURN_IF_ERROR(once(&seen_version, key));
      if (!is_null) TALLY_RETURN_IF_ERROR(ReadVersion(value, &event.version));
    } else if (key == "session_id") {
      TALLY_RETURN_IF_ERROR(once(&seen_session, key));
      if (!is_null)
        TALLY_RETURN_IF_ERROR(ReadBoundedString(value, key, kMaxDimensionBytes, &event.session_id));
    } else if (key == "product_id") {
      TALLY_RETURN_IF_ERROR(once(&seen_product, key));
      if (!is_null)
        TALLY_RETURN_IF_ERROR(ReadBoundedString(value, key, kMaxDimensionBytes, &event.product_id));
    } else if (key == "store_id") {
      TALLY_RETURN_IF_ERROR(once(&seen_store, key));
      if (!is_null) TALLY_RETURN_IF_ERROR(ReadBoundedString(value, key, kMaxDimensionBytes, &event.store_id));
    } else if (key == "properties") {
      TALLY_RETURN_IF_ERROR(once(&seen_properties, key));
      if (!is_null)
        TALLY_RETURN_IF_ERROR(
            ReadProperties(value, parsers.properties, parsers.limits, &event.properties_json));
    } else {
      std::string shown(key.substr(0, 64));
      return Status::InvalidArgument(shown,
                                     "unknown field (fields: type, user_id, timestamp, event_id, version, "
                                     "session_id, product_id, store_id, properties)");
    }
  }
  if (HasTrailingContent(document)) return Status::InvalidArgument("event", "text after the JSON object");
  if (!seen_type) return Status::InvalidArgument("type", "missing");
  if (!seen_user) return Status::InvalidArgument("user_id", "missing");
  if (!seen_timestamp) return Status::InvalidArgument("timestamp", "missing");
  return event;
}

// `raw` lies inside `padded`, whose padding follows its end.
EventInput ParseOne(EventParsers& parsers, const simdjson::padded_string& padded, std::string_view raw) {
  EventInput input;
  const size_t capacity =
      static_cast<size_t>(padded.data() + padded.size() - raw.data()) + simdjson::SIMDJSON_PADDING;
  auto event = ParseEventInPlace(parsers, raw.data(), raw.size(), capacity);
  if (event.ok()) {
    input.event = std::move(*event);
  } else {
    input.status = event.status();
    input.raw.assign(raw);  // kept only when rejected
  }
  return input;
}

Status TooManyEvents(const JsonLimits& limits) {
  return Status::TooLarge("body", "more than " + std::to_string(limits.max_events) +
                                      " events in one request (--max-events-per-request); send them in "
                                      "smaller batches");
}

Result<std::vector<EventInput>> ParseJsonBody(const simdjson::padded_string& padded, EventParsers& parsers) {
  std::vector<EventInput> inputs;
  const std::string_view body = TrimWhitespace(std::string_view(padded.data(), padded.size()));
  if (body.front() == '{') {
    inputs.push_back(ParseOne(parsers, padded, body));
    return inputs;
  }
  if (body.front() != '[')
    return Status::InvalidArgument("body", "must be a JSON object or an array of objects");
  od::parser parser;
  od::document document;
  od::array array;
  if (auto error = parser.iterate(padded).get(document))
    return Status::InvalidArgument("body", JsonError(error));
  if (auto error = document.get_array().get(array)) return Status::InvalidArgument("body", JsonError(error));
  for (auto element_result : array) {
    od::value element;
    if (auto error = std::move(element_result).get(element))
      return Status::InvalidArgument("body", JsonError(error));
    if (inputs.size() == parsers.limits.max_events) return TooManyEvents(parsers.limits);
    od::json_type type;
    if (auto error = element.type().get(type)) return Status::InvalidArgument("body", JsonError(error));
    std::string_view raw;
    simdjson::error_code error = simdjson::SUCCESS;
    if (type == od::json_type::object) {
      od::object object;
      error = element.get_object().get(object);
      if (!error) error = object.raw_json().get(raw);
    } else if (type == od::json_type::array) {
      od::array nested;
      error = element.get_array().get(nested);
      if (!error) error = nested.raw_json().get(raw);
    } else {
      raw = element.raw_json_token();
    }
    if (error) return Status::InvalidArgument("body", JsonError(error));
    raw = TrimWhitespace(raw);
    if (type != od::json_type::object) {
      EventInput input;
      input.raw.assign(raw);
      input.status = Status::InvalidArgument("event", "must be a JSON object");
      inputs.push_back(std::move(input));
      continue;
    }
    inputs.push_back(ParseOne(parsers, padded, raw));
  }
  if (HasTrailingContent(document)) return Status::InvalidArgument("body", "text after the JSON array");
  return inputs;
}

}  // namespace

bool IsValidEventType(std::string_view type) {
  return !type.empty() && type.size() <= kMaxTypeBytes &&
         std::all_of(type.begin(), type.end(), IsTypeCharacter);
}

size_t JsonNestingDepth(std::string_view json) {
  size_t depth = 0, deepest = 0;
  bool in_string = false, escaped = false;
  for (const char c : json) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      deepest = std::max(deepest, ++depth);
    } else if ((c == '}' || c == ']') && depth > 0) {
      --depth;
    }
  }
  return deepest;
}

bool IsJsonNumber(std::string_view text) {
  size_t at = 0;
  auto digits = [&] {
    const size_t start = at;
    while (at < text.size() && text[at] >= '0' && text[at] <= '9') ++at;
    return at > start;
  };
  if (at < text.size() && text[at] == '-') ++at;
  if (at < text.size() && text[at] == '0') {
    ++at;
  } else if (!digits()) {
    return false;
  }
  if (at < text.size() && text[at] == '.') {
    ++at;
    if (!digits()) return false;
  }
  if (at < text.size() && (text[at] == 'e' || text[at] == 'E')) {
    ++at;
    if (at < text.size() && (text[at] == '+' || text[at] == '-')) ++at;
    if (!digits()) return false;
  }
  return at == text.size();
}

Result<Event> ParseEventJson(std::string_view json, const JsonLimits& limits) {
  EventParsers parsers;
  parsers.limits = limits;
  simdjson::padded_string padded(json);
  return ParseEventInPlace(parsers, padded.data(), padded.size(), padded.size() + simdjson::SIMDJSON_PADDING);
}

Result<std::vector<EventInput>> ParseEventsBody(std::string_view body, BodyFormat format,
                                                const JsonLimits& limits) {
  body = TrimWhitespace(body);
  if (body.empty()) return Status::InvalidArgument("body", "empty");
  // One padded copy of the body; every event is then parsed in place inside it.
  const simdjson::padded_string padded(body);
  EventParsers parsers;
  parsers.limits = limits;
  if (format == BodyFormat::kJson) return ParseJsonBody(padded, parsers);
  body = std::string_view(padded.data(), padded.size());
  std::vector<EventInput> inputs;
  while (!body.empty()) {
    const size_t newline = body.find('\n');
    std::string_view line = TrimWhitespace(body.substr(0, newline));
    body = newline == std::string_view::npos ? std::string_view() : body.substr(newline + 1);
    if (line.empty()) continue;
    if (inputs.size() == limits.max_events) return TooManyEvents(limits);
    inputs.push_back(ParseOne(parsers, padded, line));
  }
  return inputs;
}

}  // namespace tally

#include "ingest/json_events.h"

#include <simdjson.h>

#include <algorithm>
#include <cstring>
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

// Where strings written with JSON escapes are kept once unescaped. An unescaped string is shorter than its
// JSON text and the texts do not overlap, so the body's size is always room enough.
class UnescapedTexts {
 public:
  UnescapedTexts(std::unique_ptr<char[]>* storage, size_t capacity)
      : storage_(storage), capacity_(capacity) {}
  std::string_view Keep(std::string_view text) {
    if (*storage_ == nullptr) *storage_ = std::make_unique_for_overwrite<char[]>(capacity_);
    char* at = storage_->get() + used_;
    std::memcpy(at, text.data(), text.size());
    used_ += text.size();
    return {at, text.size()};
  }

 private:
  std::unique_ptr<char[]>* storage_;
  size_t capacity_;
  size_t used_ = 0;
};

Status ReadBoundedString(od::value& value, std::string_view field, size_t max_bytes,
                         UnescapedTexts& unescaped, std::string_view* out) {
  // The token as written, read before the string is: it still points into the body.
  const std::string_view written = TrimWhitespace(value.raw_json_token());
  std::string_view text;
  if (value.get_string().get(text) != simdjson::SUCCESS)
    return Status::InvalidArgument(field, "must be a string");
  if (text.empty()) return Status::InvalidArgument(field, "empty");
  if (text.size() > max_bytes) {
    return Status::InvalidArgument(field, "longer than " + std::to_string(max_bytes) + " bytes");
  }
  // Without an escape the string is its JSON text between the quotes: a view of the body, no copy.
  *out = written.size() == text.size() + 2 ? written.substr(1, text.size()) : unescaped.Keep(text);
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

// Checks every value below `value` as JSON, `value` being at nesting level `depth` (an object or array counts
// one more), refusing (DEPTH_ERROR) an object or array nested deeper than `max_depth`. Numbers are checked
// against the grammar only: properties are kept verbatim, so a number no 64-bit type holds (an order id,
// 1e400) is as valid as any.
simdjson::error_code ValidateJsonValue(od::value value, size_t depth, size_t max_depth) {
  od::json_type type;
  if (auto error = value.type().get(type)) return error;
  switch (type) {
    case od::json_type::object: {
      if (depth + 1 > max_depth) return simdjson::DEPTH_ERROR;
      od::object object;
      if (auto error = value.get_object().get(object)) return error;
      for (auto field_result : object) {
        od::field field;
        if (auto error = std::move(field_result).get(field)) return error;
        std::string_view key;
        if (auto error = field.unescaped_key().get(key)) return error;
        if (auto error = ValidateJsonValue(field.value(), depth + 1, max_depth)) return error;
      }
      return simdjson::SUCCESS;
    }
    case od::json_type::array: {
      if (depth + 1 > max_depth) return simdjson::DEPTH_ERROR;
      od::array array;
      if (auto error = value.get_array().get(array)) return error;
      for (auto element_result : array) {
        od::value element;
        if (auto error = std::move(element_result).get(element)) return error;
        if (auto error = ValidateJsonValue(element, depth + 1, max_depth)) return error;
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

// `properties`, checked in the same pass that parses the event (on-demand skipping would check only its
// structure; the text kept verbatim must be valid JSON throughout). Its text is a view of the body.
Status ReadProperties(od::value& value, od::document& document, const JsonLimits& limits,
                      std::string_view* out) {
  od::json_type type;
  if (value.type().get(type) != simdjson::SUCCESS || type != od::json_type::object) {
    return Status::InvalidArgument("properties", "must be a JSON object");
  }
  const char* begin = value.raw_json_token().data();  // its '{'
  if (auto error = ValidateJsonValue(value, 0, limits.max_depth)) {
    if (error == simdjson::DEPTH_ERROR) {
      return Status::InvalidArgument("properties",
                                     "nested deeper than " + std::to_string(limits.max_depth) + " levels");
    }
    return Status::InvalidArgument("properties", JsonError(error));
  }
  // Read whole, the object ends before the token the document is at now (the event's next ',' or '}').
  const char* after = nullptr;
  if (auto error = document.current_location().get(after)) {
    return Status::InvalidArgument("event", JsonError(error));  // it ends inside its properties
  }
  const std::string_view raw = TrimWhitespace(std::string_view(begin, static_cast<size_t>(after - begin)));
  if (raw.size() > limits.max_properties_bytes) {
    return Status::InvalidArgument("properties",
                                   "larger than " + std::to_string(limits.max_properties_bytes) + " bytes");
  }
  *out = raw;
  return Status::Ok();
}

}  // namespace

// Parsers reused for every event of every body, so an event costs no allocation of parser state.
struct EventsParser::Parsers {
  od::parser on_demand;
  od::parser array;  // a JSON array body
  JsonLimits limits;
};

namespace {

using EventParsers = EventsParser::Parsers;

// Parses the event in [data, data + length); at least SIMDJSON_PADDING readable bytes must follow it
// (the rest of a padded body does), so events are parsed in place, without a copy each.
Result<EventView> ParseEventInPlace(EventParsers& parsers, const char* data, size_t length, size_t capacity,
                                    UnescapedTexts& unescaped) {
  od::document document;
  if (auto error = parsers.on_demand.iterate(data, length, capacity).get(document)) {
    return Status::InvalidArgument("event", JsonError(error));
  }
  od::object object;
  if (document.get_object().get(object) != simdjson::SUCCESS) {
    return Status::InvalidArgument("event", "must be a JSON object");
  }
  EventView event;
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
      TALLY_RETURN_IF_ERROR(ReadBoundedString(value, key, kMaxTypeBytes, unescaped, &event.type));
      // Length and emptiness were reported above with their own reasons; what is left is the characters.
      if (!IsValidEventType(event.type))
        return Status::InvalidArgument(key, "may hold only A-Z a-z 0-9 _ . : -");
    } else if (key == "user_id") {
      TALLY_RETURN_IF_ERROR(once(&seen_user, key));
      if (is_null) return Status::InvalidArgument(key, "must be a string");
      TALLY_RETURN_IF_ERROR(ReadBoundedString(value, key, kMaxUserIdBytes, unescaped, &event.user_id));
    } else if (key == "timestamp") {
      TALLY_RETURN_IF_ERROR(once(&seen_timestamp, key));
      TALLY_RETURN_IF_ERROR(ReadTimestamp(value, &event.timestamp));
    } else if (key == "event_id") {
      TALLY_RETURN_IF_ERROR(once(&seen_event_id, key));
      if (!is_null)
        TALLY_RETURN_IF_ERROR(ReadBoundedString(value, key, kMaxEventIdBytes, unescaped, &event.event_id));
    } else if (key == "version") {
      TALLY_RETURN_IF_ERROR(once(&seen_version, key));
      if (!is_null) TALLY_RETURN_IF_ERROR(ReadVersion(value, &event.version));
    } else if (key == "session_id") {
      TALLY_RETURN_IF_ERROR(once(&seen_session, key));
      if (!is_null)
        TALLY_RETURN_IF_ERROR(
            ReadBoundedString(value, key, kMaxDimensionBytes, unescaped, &event.session_id));
    } else if (key == "product_id") {
      TALLY_RETURN_IF_ERROR(once(&seen_product, key));
      if (!is_null)
        TALLY_RETURN_IF_ERROR(
            ReadBoundedString(value, key, kMaxDimensionBytes, unescaped, &event.product_id));
    } else if (key == "store_id") {
      TALLY_RETURN_IF_ERROR(once(&seen_store, key));
      if (!is_null)
        TALLY_RETURN_IF_ERROR(ReadBoundedString(value, key, kMaxDimensionBytes, unescaped, &event.store_id));
    } else if (key == "properties") {
      TALLY_RETURN_IF_ERROR(once(&seen_properties, key));
      if (!is_null)
        TALLY_RETURN_IF_ERROR(ReadProperties(value, document, parsers.limits, &event.properties_json));
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

// One body being parsed: its text (SIMDJSON_PADDING readable bytes follow it), where its unescaped strings
// go, and its events so far.
struct BodyBeingParsed {
  std::string_view text;
  UnescapedTexts unescaped;
  std::vector<EventInput>& events;
};

// `raw` lies inside body.text.
void ParseOne(EventParsers& parsers, BodyBeingParsed& body, std::string_view raw) {
  EventInput& input = body.events.emplace_back();
  input.raw = raw;
  const size_t capacity =
      static_cast<size_t>(body.text.data() + body.text.size() - raw.data()) + simdjson::SIMDJSON_PADDING;
  auto event = ParseEventInPlace(parsers, raw.data(), raw.size(), capacity, body.unescaped);
  if (event.ok()) {
    input.event = *event;
  } else {
    input.status = event.status();
  }
}

Status TooManyEvents(const JsonLimits& limits) {
  return Status::TooLarge("body", "more than " + std::to_string(limits.max_events) +
                                      " events in one request (--max-events-per-request); send them in "
                                      "smaller batches");
}

Status ParseJsonBody(EventParsers& parsers, BodyBeingParsed& body) {
  if (body.text.front() == '{') {
    ParseOne(parsers, body, body.text);
    return Status::Ok();
  }
  if (body.text.front() != '[')
    return Status::InvalidArgument("body", "must be a JSON object or an array of objects");
  od::document document;
  od::array array;
  if (auto error =
          parsers.array
              .iterate(body.text.data(), body.text.size(), body.text.size() + simdjson::SIMDJSON_PADDING)
              .get(document))
    return Status::InvalidArgument("body", JsonError(error));
  if (auto error = document.get_array().get(array)) return Status::InvalidArgument("body", JsonError(error));
  for (auto element_result : array) {
    od::value element;
    if (auto error = std::move(element_result).get(element))
      return Status::InvalidArgument("body", JsonError(error));
    if (body.events.size() == parsers.limits.max_events) return TooManyEvents(parsers.limits);
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
      body.events.push_back({raw, Status::InvalidArgument("event", "must be a JSON object"), {}});
      continue;
    }
    ParseOne(parsers, body, raw);
  }
  if (HasTrailingContent(document)) return Status::InvalidArgument("body", "text after the JSON array");
  return Status::Ok();
}

}  // namespace

bool IsValidEventType(std::string_view type) {
  return !type.empty() && type.size() <= kMaxTypeBytes &&
         std::all_of(type.begin(), type.end(), IsTypeCharacter);
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

EventsParser::EventsParser(const JsonLimits& limits) : parsers_(std::make_unique<Parsers>()) {
  parsers_->limits = limits;
}

EventsParser::~EventsParser() = default;

Result<ParsedBody> EventsParser::Parse(std::string_view body, BodyFormat format) {
  auto parsed = ParseWithKeptParsers(body, format);
  // A parser sized for an unusually large body or event would keep that memory for the thread's life;
  // ordinary sizes are kept, so the next body allocates nothing.
  constexpr size_t kKeptCapacity = size_t{1} << 20;
  for (od::parser* parser : {&parsers_->on_demand, &parsers_->array}) {
    if (parser->capacity() > kKeptCapacity) *parser = od::parser();
  }
  return parsed;
}

Result<ParsedBody> EventsParser::ParseWithKeptParsers(std::string_view body, BodyFormat format) {
  body = TrimWhitespace(body);
  if (body.empty()) return Status::InvalidArgument("body", "empty");
  // One padded copy of the body; every event is then parsed in place inside it.
  ParsedBody parsed;
  parsed.text_ = std::make_unique_for_overwrite<char[]>(body.size() + simdjson::SIMDJSON_PADDING);
  std::memcpy(parsed.text_.get(), body.data(), body.size());
  std::memset(parsed.text_.get() + body.size(), 0, simdjson::SIMDJSON_PADDING);
  BodyBeingParsed being_parsed{std::string_view(parsed.text_.get(), body.size()),
                               UnescapedTexts(&parsed.unescaped_, body.size()), parsed.events_};
  if (format == BodyFormat::kJson) {
    TALLY_RETURN_IF_ERROR(ParseJsonBody(*parsers_, being_parsed));
    return parsed;
  }
  const JsonLimits& limits = parsers_->limits;
  parsed.events_.reserve(std::min<size_t>(std::count(body.begin(), body.end(), '\n') + 1, limits.max_events));
  std::string_view rest = being_parsed.text;
  while (!rest.empty()) {
    const size_t newline = rest.find('\n');
    std::string_view line = TrimWhitespace(rest.substr(0, newline));
    rest = newline == std::string_view::npos ? std::string_view() : rest.substr(newline + 1);
    if (line.empty()) continue;
    if (parsed.events_.size() == limits.max_events) return TooManyEvents(limits);
    ParseOne(*parsers_, being_parsed, line);
  }
  return parsed;
}

Result<ParsedBody> ParseEventsBody(std::string_view body, BodyFormat format, const JsonLimits& limits) {
  return EventsParser(limits).Parse(body, format);
}

Result<Event> ParseEventJson(std::string_view json, const JsonLimits& limits) {
  if (!TrimWhitespace(json).starts_with('{'))
    return Status::InvalidArgument("event", "must be a JSON object");
  auto parsed = ParseEventsBody(json, BodyFormat::kJson, limits);
  if (!parsed.ok()) return parsed.status();
  if (parsed->size() != 1) return Status::InvalidArgument("event", "must be a JSON object");
  if (!(*parsed)[0].status.ok()) return (*parsed)[0].status;
  return ToEvent((*parsed)[0].event);
}

}  // namespace tally

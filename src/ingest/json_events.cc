#include "ingest/json_events.h"

#include <simdjson.h>

#include <algorithm>
#include <cstring>
#include <optional>

#include "ingest/json_fields.h"

namespace tally {
namespace {

using namespace json_fields;  // NOLINT(google-build-using-namespace): this file's own helpers

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

// `properties`, checked in the same pass that parses the event. Its text is a view of the body.
Status ReadProperties(od::value& value, od::document& document, const JsonLimits& limits,
                      std::string_view* out) {
  od::json_type type;
  if (value.type().get(type) != simdjson::SUCCESS || type != od::json_type::object) {
    return Status::InvalidArgument("properties", "must be a JSON object");
  }
  std::string_view raw;
  TALLY_RETURN_IF_ERROR(ReadValueText(value, document, limits.max_depth, "properties", &raw));
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
      TALLY_RETURN_IF_ERROR(CheckEventType(event.type));
    } else if (key == "user_id") {
      TALLY_RETURN_IF_ERROR(once(&seen_user, key));
      if (is_null) return Status::InvalidArgument(key, "must be a string");
      TALLY_RETURN_IF_ERROR(ReadBoundedString(value, key, kMaxUserIdBytes, unescaped, &event.user_id));
    } else if (key == "timestamp") {
      TALLY_RETURN_IF_ERROR(once(&seen_timestamp, key));
      TALLY_RETURN_IF_ERROR(ReadTimestamp(value, key, &event.timestamp));
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

Status ParseJsonBody(EventParsers& parsers, BodyBeingParsed& body) {
  if (body.text.front() == '{') {
    ParseOne(parsers, body, body.text);
    return NotJsonError(parsers.array, body.text, body.events.back().status);
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
    if (body.events.size() == parsers.limits.max_events) return TooManyEvents(parsers.limits.max_events);
    std::string_view raw;
    TALLY_RETURN_IF_ERROR(ReadElementText(element, "body", &raw));
    if (!raw.starts_with('{')) {
      body.events.push_back({raw, Status::InvalidArgument("event", "must be a JSON object"), {}});
      continue;
    }
    ParseOne(parsers, body, raw);
  }
  if (HasTrailingContent(document)) return Status::InvalidArgument("body", "text after the JSON array");
  return Status::Ok();
}

}  // namespace

Status CheckEventType(std::string_view type) {
  if (type.empty()) return Status::InvalidArgument("type", "empty");
  if (type.size() > kMaxTypeBytes) {
    return Status::InvalidArgument("type", "longer than " + std::to_string(kMaxTypeBytes) + " bytes");
  }
  size_t at = 0;
  while (at < type.size()) {
    const auto lead = static_cast<unsigned char>(type[at]);
    const size_t length = lead < 0x80           ? 1
                          : (lead >> 5) == 0x6  ? 2
                          : (lead >> 4) == 0xE  ? 3
                          : (lead >> 3) == 0x1E ? 4
                                                : 0;
    if (length == 0 || at + length > type.size()) return Status::InvalidArgument("type", "not valid UTF-8");
    uint32_t code_point = length == 1 ? lead : lead & (0x7F >> length);
    for (size_t i = 1; i < length; ++i) {
      const auto next = static_cast<unsigned char>(type[at + i]);
      if ((next & 0xC0) != 0x80) return Status::InvalidArgument("type", "not valid UTF-8");
      code_point = (code_point << 6) | (next & 0x3F);
    }
    // Overlong forms, surrogates and code points past U+10FFFF are not UTF-8.
    constexpr uint32_t kSmallest[] = {0, 0, 0x80, 0x800, 0x10000};
    if (code_point < kSmallest[length] || (code_point >= 0xD800 && code_point <= 0xDFFF) ||
        code_point > 0x10FFFF) {
      return Status::InvalidArgument("type", "not valid UTF-8");
    }
    if (code_point < 0x20 || (code_point >= 0x7F && code_point <= 0x9F)) {
      return Status::InvalidArgument("type", "holds a control character (byte " + std::to_string(at) + ")");
    }
    at += length;
  }
  return Status::Ok();
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
    if (parsed.events_.size() == limits.max_events) return TooManyEvents(limits.max_events);
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
  // One event: text that is not JSON is that event's error.
  if (!parsed.ok() && parsed.status().field() == "body")
    return Status::InvalidArgument("event", parsed.status().why());
  if (!parsed.ok()) return parsed.status();
  if (parsed->size() != 1) return Status::InvalidArgument("event", "must be a JSON object");
  if (!(*parsed)[0].status.ok()) return (*parsed)[0].status;
  return ToEvent((*parsed)[0].event);
}

}  // namespace tally

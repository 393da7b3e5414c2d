#include "ingest/json_fields.h"

#include <cstring>

#include "ingest/json_events.h"
#include "ingest/rfc3339.h"

namespace tally::json_fields {

std::string_view TrimWhitespace(std::string_view text) {
  const size_t first = text.find_first_not_of(" \t\r\n");
  if (first == std::string_view::npos) return {};
  const size_t last = text.find_last_not_of(" \t\r\n");
  return text.substr(first, last - first + 1);
}

bool HasTrailingContent(od::document& document) {
  const char* where = nullptr;
  return document.current_location().get(where) == simdjson::SUCCESS;
}

std::string JsonError(simdjson::error_code error) {
  return std::string("not valid JSON (") + simdjson::error_message(error) + ")";
}

std::string_view UnescapedTexts::Keep(std::string_view text) {
  if (*storage_ == nullptr) *storage_ = std::make_unique_for_overwrite<char[]>(capacity_);
  char* at = storage_->get() + used_;
  std::memcpy(at, text.data(), text.size());
  used_ += text.size();
  return {at, text.size()};
}

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

Status ReadTimestamp(od::value& value, std::string_view field, Millis* out) {
  od::json_type type;
  if (value.type().get(type) != simdjson::SUCCESS) return Status::InvalidArgument(field, "not valid JSON");
  if (type == od::json_type::string) {
    std::string_view text;
    if (value.get_string().get(text) != simdjson::SUCCESS)
      return Status::InvalidArgument(field, "not valid JSON");
    auto parsed = ParseRfc3339Millis(field, text);
    if (!parsed.ok()) return parsed.status();
    *out = *parsed;
    return Status::Ok();
  }
  if (type != od::json_type::number) {
    return Status::InvalidArgument(field, "must be integer milliseconds or an RFC 3339 string");
  }
  od::number_type number_type;
  if (value.get_number_type().get(number_type) != simdjson::SUCCESS) {
    return Status::InvalidArgument(field, "not a number");
  }
  int64_t millis = 0;
  if (number_type != od::number_type::signed_integer || value.get_int64().get(millis) != simdjson::SUCCESS) {
    return Status::InvalidArgument(field, number_type == od::number_type::unsigned_integer
                                              ? "out of range (0 to 253402300799999)"
                                              : "not an integer");
  }
  if (millis < 0 || millis > kMaxTimestampMillis) {
    return Status::InvalidArgument(field, "out of range (0 to 253402300799999)");
  }
  *out = millis;
  return Status::Ok();
}

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

Status ReadValueText(od::value& value, od::document& document, size_t max_depth, std::string_view field,
                     std::string_view* out) {
  od::json_type type;
  if (auto error = value.type().get(type)) return Status::InvalidArgument(field, JsonError(error));
  const std::string_view token = TrimWhitespace(value.raw_json_token());
  const char* begin = token.data();
  if (auto error = ValidateJsonValue(value, 0, max_depth)) {
    if (error == simdjson::DEPTH_ERROR) {
      return Status::InvalidArgument(field, "nested deeper than " + std::to_string(max_depth) + " levels");
    }
    return Status::InvalidArgument(field, JsonError(error));
  }
  // A scalar is its one token (reading a number does not move the document past it).
  if (type != od::json_type::object && type != od::json_type::array) {
    *out = token;
    return Status::Ok();
  }
  // Read whole, an object or array ends before the token the document is at now (the next ',' or '}').
  const char* after = nullptr;
  if (auto error = document.current_location().get(after)) {
    return Status::InvalidArgument("event", JsonError(error));  // it ends inside the value
  }
  *out = TrimWhitespace(std::string_view(begin, static_cast<size_t>(after - begin)));
  return Status::Ok();
}

Status NotJsonError(od::parser& parser, std::string_view text, const Status& refused) {
  if (refused.ok()) return Status::Ok();
  constexpr size_t kMaxDepth = 1024;  // simdjson's own
  od::document document;
  od::value value;
  simdjson::error_code error =
      parser.iterate(text.data(), text.size(), text.size() + simdjson::SIMDJSON_PADDING).get(document);
  if (!error) error = document.get_value().get(value);
  if (!error) error = ValidateJsonValue(value, 0, kMaxDepth);
  if (!error && !HasTrailingContent(document)) return Status::Ok();
  if (refused.why().starts_with("not valid JSON") && refused.field() != "event") return refused;
  return error ? Status::InvalidArgument("body", JsonError(error))
               : Status::InvalidArgument("body", "text after the JSON value");
}

Status ReadElementText(od::value& element, std::string_view field, std::string_view* out) {
  od::json_type type;
  if (auto error = element.type().get(type)) return Status::InvalidArgument(field, JsonError(error));
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
  if (error) return Status::InvalidArgument(field, JsonError(error));
  *out = TrimWhitespace(raw);
  return Status::Ok();
}

Status TooManyEvents(size_t max_events) {
  return Status::TooLarge("body", "more than " + std::to_string(max_events) +
                                      " events in one request (--max-events-per-request); send them in "
                                      "smaller batches");
}

std::string_view IntegerText(od::value& value) {
  const std::string_view token = TrimWhitespace(value.raw_json_token());
  if (!IsJsonNumber(token) || token.find_first_of(".eE") != std::string_view::npos) return {};
  return token;
}

}  // namespace tally::json_fields

namespace tally {

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

}  // namespace tally

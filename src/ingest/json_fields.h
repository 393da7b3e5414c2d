// Reading an event's fields from JSON, for every format tally takes events in: its own (json_events.h) and
// the SDKs' (sdk_events.h). Values are read in place with simdjson's on-demand parser, in a body copied once
// with SIMDJSON_PADDING bytes after it; strings without escapes stay views of that body. Internal to
// src/ingest.
#pragma once

#include <simdjson.h>

#include <memory>
#include <string>
#include <string_view>

#include "tally/event.h"
#include "tally/status.h"

namespace tally::json_fields {

namespace od = simdjson::ondemand;

std::string_view TrimWhitespace(std::string_view text);

// After the top-level value was read: anything left in the document is trailing content.
bool HasTrailingContent(od::document& document);

std::string JsonError(simdjson::error_code error);

// Where strings written with JSON escapes are kept once unescaped. An unescaped string is shorter than its
// JSON text and the texts do not overlap, so the body's size is always room enough.
class UnescapedTexts {
 public:
  UnescapedTexts(std::unique_ptr<char[]>* storage, size_t capacity)
      : storage_(storage), capacity_(capacity) {}
  std::string_view Keep(std::string_view text);

 private:
  std::unique_ptr<char[]>* storage_;
  size_t capacity_;
  size_t used_ = 0;
};

// A string of 1..max_bytes bytes, named `field` in errors.
Status ReadBoundedString(od::value& value, std::string_view field, size_t max_bytes,
                         UnescapedTexts& unescaped, std::string_view* out);

// Integer milliseconds, or an RFC 3339 string with a zone.
Status ReadTimestamp(od::value& value, std::string_view field, Millis* out);

// Checks every value below `value` as JSON, `value` being at nesting level `depth` (an object or array
// counts one more), refusing (DEPTH_ERROR) an object or array nested deeper than `max_depth`. Numbers are
// checked against the grammar only: values are kept verbatim, so a number no 64-bit type holds (an order
// id, 1e400) is as valid as any.
simdjson::error_code ValidateJsonValue(od::value value, size_t depth, size_t max_depth);

// The text of `value` as it was written, checked throughout (on-demand skipping would check only its
// structure) and nested at most `max_depth` levels. `value` must not be the document's last token: its
// text ends where the document's next token begins. Errors name `field`.
Status ReadValueText(od::value& value, od::document& document, size_t max_depth, std::string_view field,
                     std::string_view* out);

// An event that is refused may be a body that is not JSON at all: that is the request's error. Given the
// refusal of the one event a body held, the body's error (named by the field where the event's parse found
// it, if it did), or OK when the body is JSON. `text` must have SIMDJSON_PADDING readable bytes after it.
Status NotJsonError(od::parser& parser, std::string_view text, const Status& refused);

// The text of an array element as written (an object, an array or a scalar), for parsing it alone later.
Status ReadElementText(od::value& element, std::string_view field, std::string_view* out);

// The error of a body with more events than JsonLimits::max_events (413).
Status TooManyEvents(size_t max_events);

// The text of an integer (a JSON number without fraction or exponent), or empty.
std::string_view IntegerText(od::value& value);

}  // namespace tally::json_fields

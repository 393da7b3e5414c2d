#include "ingest/sdk_events.h"

#include <simdjson.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "common/json_writer.h"
#include "ingest/json_fields.h"

namespace tally {

using namespace json_fields;  // NOLINT(google-build-using-namespace): this module's own helpers

struct SdkParser::Parsers {
  od::parser outer;       // the body
  od::parser message;     // one message of it
  od::parser properties;  // a message's properties, for the fields that map to the event's
  JsonLimits limits;
  SdkMapping mapping;
};

namespace {

using Parsers = SdkParser::Parsers;

// Longer than any real key, short enough that a secret field cannot carry a body.
constexpr size_t kMaxKeyBytes = 1024;

// A field of a message that maps to none of the event's, kept as it was sent.
struct KeptField {
  std::string key;
  std::string_view json;
};

// One body being parsed, and what its messages share.
struct BodyContext {
  Parsers& parsers;
  std::string_view text;  // the body; SIMDJSON_PADDING readable bytes follow it
  UnescapedTexts& unescaped;
  std::deque<std::string>& made;
  Millis now;
  std::optional<Millis> sent_at;    // the body's own time of sending, the fallback of an event's time
  std::string_view shared_context;  // Segment: the batch's context, for messages without one

  // How many bytes after `at` may be read (the body's rest and the padding), for parsing in place.
  size_t CapacityFrom(const char* at) const {
    return static_cast<size_t>(text.data() + text.size() - at) + simdjson::SIMDJSON_PADDING;
  }
};

// A message read, before its properties are put together.
struct MessageParts {
  EventView event;                 // type, user_id (perhaps empty), event_id, timestamp
  std::string_view properties;     // the object whose members become the event's properties (or empty)
  std::vector<KeptField> kept;     // everything else, kept under `envelope`
  std::string_view envelope;       // "$segment", "$posthog"
  std::string_view user_fallback;  // a property naming the user when no field did ("distinct_id"), or empty
  std::string_view session_property;  // a property that is the session id ("$session_id"), or empty
  std::string_view missing_user;      // the error when there is no user at all
};

Status Relabel(const Status& status, std::string_view field) {
  return status.ok() ? status : Status::InvalidArgument(field, status.why());
}

// A user id as the SDKs send it: a string, or a number (taken as its decimal text).
Status ReadUserId(od::value& value, std::string_view field, UnescapedTexts& unescaped,
                  std::string_view* out) {
  od::json_type type;
  if (value.type().get(type) != simdjson::SUCCESS) return Status::InvalidArgument(field, "not valid JSON");
  if (type == od::json_type::string) return ReadBoundedString(value, field, kMaxUserIdBytes, unescaped, out);
  const std::string_view integer = type == od::json_type::number ? IntegerText(value) : std::string_view();
  if (integer.empty()) return Status::InvalidArgument(field, "must be a string or an integer");
  if (integer.size() > kMaxUserIdBytes) {
    return Status::InvalidArgument(field, "longer than " + std::to_string(kMaxUserIdBytes) + " bytes");
  }
  *out = integer;
  return Status::Ok();
}

Status ReadObjectText(od::value& value, od::document& document, const JsonLimits& limits,
                      std::string_view field, std::string_view* out) {
  od::json_type type;
  if (value.type().get(type) != simdjson::SUCCESS || type != od::json_type::object) {
    return Status::InvalidArgument(field, "must be a JSON object");
  }
  return ReadValueText(value, document, limits.max_depth, field, out);
}

// A string of 1-256 bytes or an integer; anything else is not a dimension (it stays in properties).
std::string_view DimensionOf(od::value& value, UnescapedTexts& unescaped) {
  od::json_type type;
  if (value.type().get(type) != simdjson::SUCCESS) return {};
  std::string_view text;
  if (type == od::json_type::string) {
    if (!ReadBoundedString(value, "", kMaxUserIdBytes, unescaped, &text).ok()) return {};
  } else if (type == od::json_type::number) {
    text = IntegerText(value);
  }
  return text.size() <= kMaxUserIdBytes ? text : std::string_view();
}

// Reads the members of the properties that map to the event's fields (product, store, session, a
// fallback user), and refuses properties that already use the envelope's key.
Status ScanProperties(BodyContext& body, MessageParts& parts) {
  od::document document;
  od::object object;
  const std::string_view text = parts.properties;
  if (auto error = body.parsers.properties.iterate(text.data(), text.size(), body.CapacityFrom(text.data()))
                       .get(document)) {
    return Status::InvalidArgument("properties", JsonError(error));
  }
  if (auto error = document.get_object().get(object))
    return Status::InvalidArgument("properties", JsonError(error));
  const SdkMapping& mapping = body.parsers.mapping;
  for (auto field_result : object) {
    od::field field;
    std::string_view key;
    if (auto error = std::move(field_result).get(field))
      return Status::InvalidArgument("properties", JsonError(error));
    if (auto error = field.unescaped_key().get(key))
      return Status::InvalidArgument("properties", JsonError(error));
    od::value value = field.value();
    if (key == parts.envelope) {
      return Status::InvalidArgument(
          "properties",
          "holds the key '" + std::string(key) + "', under which tally keeps the message's other fields");
    }
    if (key == mapping.product_property) {
      parts.event.product_id = DimensionOf(value, body.unescaped);
    } else if (key == mapping.store_property) {
      parts.event.store_id = DimensionOf(value, body.unescaped);
    } else if (!parts.session_property.empty() && key == parts.session_property) {
      parts.event.session_id = DimensionOf(value, body.unescaped);
    } else if (!parts.user_fallback.empty() && key == parts.user_fallback && parts.event.user_id.empty()) {
      TALLY_RETURN_IF_ERROR(Relabel(ReadUserId(value, key, body.unescaped, &parts.event.user_id),
                                    "properties." + std::string(key)));
    }
  }
  return Status::Ok();
}

// The event's properties: the message's properties object with one more member, `envelope`, holding the
// fields kept; the object as sent when nothing else was kept.
Result<EventView> Finish(BodyContext& body, MessageParts parts) {
  const JsonLimits& limits = body.parsers.limits;
  if (parts.properties.size() > limits.max_properties_bytes) {
    return Status::InvalidArgument("properties",
                                   "larger than " + std::to_string(limits.max_properties_bytes) + " bytes");
  }
  if (!parts.properties.empty()) TALLY_RETURN_IF_ERROR(ScanProperties(body, parts));
  if (parts.event.user_id.empty()) return Status::InvalidArgument(parts.missing_user, "missing");
  if (parts.kept.empty()) {
    parts.event.properties_json = parts.properties;
    return parts.event;
  }
  std::string composed;
  if (parts.properties.empty()) {
    composed = "{";
  } else {
    const std::string_view head = parts.properties.substr(0, parts.properties.rfind('}'));
    composed = head;
    if (head.find_first_not_of(" \t\r\n", 1) != std::string_view::npos) composed.push_back(',');
  }
  AppendJsonString(parts.envelope, &composed);
  composed.push_back(':');
  JsonWriter kept;
  kept.BeginObject();
  for (const KeptField& field : parts.kept) kept.Key(field.key).Raw(field.json);
  kept.EndObject();
  composed.append(kept.str()).push_back('}');
  if (composed.size() > limits.max_properties_bytes) {
    return Status::InvalidArgument(
        "properties", "larger than " + std::to_string(limits.max_properties_bytes) +
                          " bytes with the message's other fields kept under " + std::string(parts.envelope));
  }
  body.made.push_back(std::move(composed));
  parts.event.properties_json = body.made.back();
  return parts.event;
}

// A timestamp field: its value, and its text should it be kept instead of used.
struct TimeField {
  std::optional<Millis> millis;
  std::string_view json;
};

Status ReadTimeField(od::value& value, std::string_view field, TimeField* out) {
  out->json = TrimWhitespace(value.raw_json_token());
  Millis millis = 0;
  TALLY_RETURN_IF_ERROR(ReadTimestamp(value, field, &millis));
  out->millis = millis;
  return Status::Ok();
}

// A string field that may become the event's type, or be kept.
struct TextField {
  std::string_view text;
  std::string_view json;
};

Status ReadTextField(od::value& value, std::string_view field, size_t max_bytes, UnescapedTexts& unescaped,
                     TextField* out) {
  out->json = TrimWhitespace(value.raw_json_token());
  return ReadBoundedString(value, field, max_bytes, unescaped, &out->text);
}

// The fields of a Segment message that map to the event's (or are its key): all others are kept as sent.
constexpr std::string_view kSegmentFields[] = {
    "type",   "event",      "name",   "userId",  "anonymousId", "messageId", "timestamp", "originalTimestamp",
    "sentAt", "properties", "traits", "context", "writeKey"};

constexpr std::string_view kSegmentCallNames[] = {"batch",    "track", "page", "screen",
                                                  "identify", "group", "alias"};

std::string_view NameOf(SegmentCall call) { return kSegmentCallNames[static_cast<size_t>(call)]; }

// One field of a message (or of a body).
struct MessageField {
  std::string name;
  od::value value;
  bool is_null = false;
  // A field the event maps, sent as null, is absent (the SDKs send "userId": null beside an anonymousId).
  template <size_t N>
  bool IsNullOf(const std::string_view (&mapped)[N]) const {
    return is_null && std::find(std::begin(mapped), std::end(mapped), name) != std::end(mapped);
  }
};

// One field of an object: of a message (`where` "event"), or of the body around them ("body").
Status ReadMessageField(simdjson::simdjson_result<od::field> result, MessageField* out,
                        std::string_view where = "event") {
  od::field field;
  std::string_view name;
  if (auto error = std::move(result).get(field)) return Status::InvalidArgument(where, JsonError(error));
  if (auto error = field.unescaped_key().get(name)) return Status::InvalidArgument(where, JsonError(error));
  out->name = name;
  out->value = field.value();
  if (auto error = out->value.is_null().get(out->is_null))
    return Status::InvalidArgument(out->name, JsonError(error));
  return Status::Ok();
}

// Opens the message in `raw` (inside the body) for reading in place.
Status OpenMessage(BodyContext& body, std::string_view raw, od::document* document, od::object* object) {
  if (auto error = body.parsers.message.iterate(raw.data(), raw.size(), body.CapacityFrom(raw.data()))
                       .get(*document)) {
    return Status::InvalidArgument("event", JsonError(error));
  }
  if (document->get_object().get(*object) != simdjson::SUCCESS) {
    return Status::InvalidArgument("event", "must be a JSON object");
  }
  return Status::Ok();
}

// The key a message of its own carries. Only the body's single message gives the request's key.
Status ReadKey(od::value& value, std::string_view field, UnescapedTexts& unescaped, std::string_view* key) {
  std::string_view text;
  TALLY_RETURN_IF_ERROR(ReadBoundedString(value, field, kMaxKeyBytes, unescaped, &text));
  if (key != nullptr) *key = text;
  return Status::Ok();
}

// One Segment message. `call` is the path's (kBatch: the message's own "type" says it).
Result<EventView> ParseSegmentMessage(BodyContext& body, std::string_view raw, SegmentCall call,
                                      std::string_view* key) {
  od::document document;
  od::object object;
  TALLY_RETURN_IF_ERROR(OpenMessage(body, raw, &document, &object));
  std::optional<SegmentCall> named;
  TextField event_name, page_name, user, anonymous, message_id;
  TimeField timestamp, original_timestamp, sent_at;
  std::string_view properties, traits, context;
  MessageParts parts;
  parts.envelope = "$segment";
  for (auto field_result : object) {
    MessageField field;
    TALLY_RETURN_IF_ERROR(ReadMessageField(std::move(field_result), &field));
    const std::string& field_name = field.name;
    od::value& value = field.value;
    if (field.IsNullOf(kSegmentFields)) continue;
    if (field_name == "type") {
      std::string_view text;
      TALLY_RETURN_IF_ERROR(ReadBoundedString(value, field_name, 16, body.unescaped, &text));
      named = SegmentCallNamed(text);
      if (!named || *named == SegmentCall::kBatch)
        return Status::InvalidArgument(field_name,
                                       "must be one of track, page, screen, identify, group, alias");
    } else if (field_name == "event") {
      TALLY_RETURN_IF_ERROR(ReadTextField(value, field_name, kMaxTypeBytes, body.unescaped, &event_name));
    } else if (field_name == "name") {
      TALLY_RETURN_IF_ERROR(ReadTextField(value, field_name, kMaxTypeBytes, body.unescaped, &page_name));
    } else if (field_name == "userId") {
      user.json = TrimWhitespace(value.raw_json_token());
      TALLY_RETURN_IF_ERROR(ReadUserId(value, field_name, body.unescaped, &user.text));
    } else if (field_name == "anonymousId") {
      anonymous.json = TrimWhitespace(value.raw_json_token());
      TALLY_RETURN_IF_ERROR(ReadUserId(value, field_name, body.unescaped, &anonymous.text));
    } else if (field_name == "messageId") {
      TALLY_RETURN_IF_ERROR(ReadTextField(value, field_name, kMaxEventIdBytes, body.unescaped, &message_id));
    } else if (field_name == "timestamp") {
      TALLY_RETURN_IF_ERROR(ReadTimeField(value, field_name, &timestamp));
    } else if (field_name == "originalTimestamp") {
      TALLY_RETURN_IF_ERROR(ReadTimeField(value, field_name, &original_timestamp));
    } else if (field_name == "sentAt") {
      TALLY_RETURN_IF_ERROR(ReadTimeField(value, field_name, &sent_at));
    } else if (field_name == "properties") {
      TALLY_RETURN_IF_ERROR(ReadObjectText(value, document, body.parsers.limits, field_name, &properties));
    } else if (field_name == "traits") {
      TALLY_RETURN_IF_ERROR(ReadObjectText(value, document, body.parsers.limits, field_name, &traits));
    } else if (field_name == "context") {
      TALLY_RETURN_IF_ERROR(ReadObjectText(value, document, body.parsers.limits, field_name, &context));
    } else if (field_name == "writeKey") {
      TALLY_RETURN_IF_ERROR(ReadKey(value, field_name, body.unescaped, key));
    } else {
      std::string_view json;
      TALLY_RETURN_IF_ERROR(ReadValueText(value, document, body.parsers.limits.max_depth, field_name, &json));
      parts.kept.push_back({field_name, json});
    }
  }
  if (HasTrailingContent(document)) return Status::InvalidArgument("event", "text after the JSON object");
  if (call == SegmentCall::kBatch) {
    if (!named)
      return Status::InvalidArgument("type", "missing (a batch's message names its call: track, page, ...)");
    call = *named;
  } else if (named && *named != call) {
    return Status::InvalidArgument(
        "type", "'" + std::string(NameOf(*named)) + "' sent to /v1/" + std::string(NameOf(call)));
  }
  auto keep = [&](std::string_view name, std::string_view json) {
    if (!json.empty()) parts.kept.push_back({std::string(name), json});
  };
  // The call's kind is kept when the type does not say it (a track's type is its event's name).
  if (call != SegmentCall::kIdentify && call != SegmentCall::kGroup && call != SegmentCall::kAlias) {
    parts.kept.push_back({"type", call == SegmentCall::kTrack  ? "\"track\""
                                  : call == SegmentCall::kPage ? "\"page\""
                                                               : "\"screen\""});
  }
  switch (call) {
    case SegmentCall::kTrack:
      if (event_name.text.empty())
        return Status::InvalidArgument("event", "missing (a track call names its event)");
      TALLY_RETURN_IF_ERROR(Relabel(CheckEventType(event_name.text), "event"));
      parts.event.type = event_name.text;
      keep("name", page_name.json);
      break;
    case SegmentCall::kPage:
    case SegmentCall::kScreen:
      if (page_name.text.empty()) {
        parts.event.type = NameOf(call);
      } else {
        TALLY_RETURN_IF_ERROR(Relabel(CheckEventType(page_name.text), "name"));
        parts.event.type = page_name.text;
      }
      keep("event", event_name.json);
      break;
    default:
      parts.event.type = NameOf(call);
      keep("event", event_name.json);
      keep("name", page_name.json);
      break;
  }
  const bool traits_are_properties = call == SegmentCall::kIdentify || call == SegmentCall::kGroup;
  parts.properties = traits_are_properties ? traits : properties;
  keep(traits_are_properties ? "properties" : "traits", traits_are_properties ? properties : traits);
  keep("context", context.empty() ? body.shared_context : context);
  if (user.text.empty() && anonymous.text.empty())
    return Status::InvalidArgument("userId", "missing, and no anonymousId");
  parts.event.user_id = !user.text.empty() ? user.text : anonymous.text;
  if (!user.text.empty()) keep("anonymousId", anonymous.json);
  parts.missing_user = "userId";
  parts.event.event_id = message_id.text;
  // The first time there is is the event's; the others are kept.
  bool used = false;
  for (const auto& [name, field] : {std::pair<std::string_view, const TimeField*>{"timestamp", &timestamp},
                                    {"originalTimestamp", &original_timestamp},
                                    {"sentAt", &sent_at}}) {
    if (!field->millis) continue;
    if (used) {
      keep(name, field->json);
    } else {
      parts.event.timestamp = *field->millis;
      used = true;
    }
  }
  if (!used) parts.event.timestamp = body.sent_at.value_or(body.now);
  return Finish(body, std::move(parts));
}

constexpr std::string_view kPostHogFields[] = {"event",   "distinct_id", "uuid",   "timestamp",
                                               "sent_at", "properties",  "api_key"};

// One PostHog event. `key` receives its api_key, if it has one.
Result<EventView> ParsePostHogMessage(BodyContext& body, std::string_view raw, std::string_view* key) {
  od::document document;
  od::object object;
  TALLY_RETURN_IF_ERROR(OpenMessage(body, raw, &document, &object));
  MessageParts parts;
  parts.envelope = "$posthog";
  parts.user_fallback = "distinct_id";
  parts.session_property = "$session_id";
  parts.missing_user = "distinct_id";
  TimeField timestamp, sent_at;
  for (auto field_result : object) {
    MessageField field;
    TALLY_RETURN_IF_ERROR(ReadMessageField(std::move(field_result), &field));
    const std::string& field_name = field.name;
    od::value& value = field.value;
    if (field.IsNullOf(kPostHogFields)) continue;
    if (field_name == "event") {
      TALLY_RETURN_IF_ERROR(
          ReadBoundedString(value, field_name, kMaxTypeBytes, body.unescaped, &parts.event.type));
      TALLY_RETURN_IF_ERROR(Relabel(CheckEventType(parts.event.type), "event"));
    } else if (field_name == "distinct_id") {
      TALLY_RETURN_IF_ERROR(ReadUserId(value, field_name, body.unescaped, &parts.event.user_id));
    } else if (field_name == "uuid") {
      TALLY_RETURN_IF_ERROR(
          ReadBoundedString(value, field_name, kMaxEventIdBytes, body.unescaped, &parts.event.event_id));
    } else if (field_name == "timestamp") {
      TALLY_RETURN_IF_ERROR(ReadTimeField(value, field_name, &timestamp));
    } else if (field_name == "sent_at") {
      TALLY_RETURN_IF_ERROR(ReadTimeField(value, field_name, &sent_at));
    } else if (field_name == "properties") {
      TALLY_RETURN_IF_ERROR(
          ReadObjectText(value, document, body.parsers.limits, field_name, &parts.properties));
    } else if (field_name == "api_key") {
      TALLY_RETURN_IF_ERROR(ReadKey(value, field_name, body.unescaped, key));
    } else {
      std::string_view json;
      TALLY_RETURN_IF_ERROR(ReadValueText(value, document, body.parsers.limits.max_depth, field_name, &json));
      parts.kept.push_back({field_name, json});
    }
  }
  if (HasTrailingContent(document)) return Status::InvalidArgument("event", "text after the JSON object");
  if (parts.event.type.empty()) return Status::InvalidArgument("event", "missing");
  if (timestamp.millis) {
    parts.event.timestamp = *timestamp.millis;
    if (sent_at.millis) parts.kept.push_back({"sent_at", sent_at.json});
  } else {
    parts.event.timestamp = sent_at.millis ? *sent_at.millis : body.sent_at.value_or(body.now);
  }
  return Finish(body, std::move(parts));
}

// The raw text of each element of `array`, in order (an element that is not an object is refused as
// an event, alone).
Status ReadMessages(od::array& array, const JsonLimits& limits, std::vector<std::string_view>* messages) {
  for (auto element_result : array) {
    od::value element;
    if (auto error = std::move(element_result).get(element))
      return Status::InvalidArgument("batch", JsonError(error));
    if (messages->size() == limits.max_events) return TooManyEvents(limits.max_events);
    std::string_view raw;
    TALLY_RETURN_IF_ERROR(ReadElementText(element, "batch", &raw));
    messages->push_back(raw);
  }
  return Status::Ok();
}

// A body's "batch" field: an array of messages (`what` names them in the error).
Status ReadBatch(od::value& value, std::string_view what, const JsonLimits& limits,
                 std::vector<std::string_view>* messages) {
  od::array array;
  if (value.get_array().get(array) != simdjson::SUCCESS)
    return Status::InvalidArgument("batch", "must be an array of " + std::string(what));
  return ReadMessages(array, limits, messages);
}

// The body, trimmed and copied once into `copy` with simdjson's padding after it; its text.
Result<std::string_view> CopyBody(std::string_view body, std::unique_ptr<char[]>& copy) {
  body = TrimWhitespace(body);
  if (body.empty()) return Status::InvalidArgument("body", "empty");
  copy = std::make_unique_for_overwrite<char[]>(body.size() + simdjson::SIMDJSON_PADDING);
  std::memcpy(copy.get(), body.data(), body.size());
  std::memset(copy.get() + body.size(), 0, simdjson::SIMDJSON_PADDING);
  return std::string_view(copy.get(), body.size());
}

Status IterateBody(od::parser& parser, std::string_view text, od::document* document) {
  if (auto error =
          parser.iterate(text.data(), text.size(), text.size() + simdjson::SIMDJSON_PADDING).get(*document)) {
    return Status::InvalidArgument("body", JsonError(error));
  }
  return Status::Ok();
}

// The event parsed from the message `raw`, or why it was refused.
void AddEvent(std::vector<EventInput>& events, std::string_view raw, const Result<EventView>& event) {
  EventInput& input = events.emplace_back();
  input.raw = raw;
  if (event.ok()) {
    input.event = *event;
  } else {
    input.status = event.status();
  }
}

Status NotAnObject() { return Status::InvalidArgument("event", "must be a JSON object"); }

}  // namespace

std::optional<SegmentCall> SegmentCallNamed(std::string_view name) {
  for (size_t i = 0; i < std::size(kSegmentCallNames); ++i) {
    if (kSegmentCallNames[i] == name) return static_cast<SegmentCall>(i);
  }
  return std::nullopt;
}

SdkParser::SdkParser(const JsonLimits& limits, SdkMapping mapping) : parsers_(std::make_unique<Parsers>()) {
  parsers_->limits = limits;
  parsers_->mapping = std::move(mapping);
}

SdkParser::~SdkParser() = default;

Result<SdkBody> SdkParser::ParseSegment(std::string_view body, SegmentCall call, Millis now) {
  SdkBody out;
  ParsedBody& parsed = out.events;
  auto copied = CopyBody(body, parsed.text_);
  if (!copied.ok()) return copied.status();
  const std::string_view text = *copied;
  UnescapedTexts unescaped(&parsed.unescaped_, text.size());
  BodyContext context{*parsers_, text, unescaped, parsed.made_, now, std::nullopt, {}};
  // A body is one message (a call's own path), or a batch of them.
  std::vector<std::string_view> messages;
  if (call == SegmentCall::kBatch) {
    od::document document;
    od::object object;
    TALLY_RETURN_IF_ERROR(IterateBody(parsers_->outer, text, &document));
    if (document.get_object().get(object) != simdjson::SUCCESS) {
      return Status::InvalidArgument("body", "must be a JSON object {\"batch\":[...]}");
    }
    bool seen_batch = false;
    for (auto field_result : object) {
      MessageField field;
      TALLY_RETURN_IF_ERROR(ReadMessageField(std::move(field_result), &field, "body"));
      if (field.name == "batch") {
        TALLY_RETURN_IF_ERROR(ReadBatch(field.value, "messages", parsers_->limits, &messages));
        seen_batch = true;
      } else if (field.name == "sentAt") {
        Millis sent_at = 0;
        TALLY_RETURN_IF_ERROR(ReadTimestamp(field.value, "sentAt", &sent_at));
        context.sent_at = sent_at;
      } else if (field.name == "writeKey") {
        TALLY_RETURN_IF_ERROR(ReadKey(field.value, "writeKey", unescaped, &out.key));
      } else if (field.name == "context") {
        TALLY_RETURN_IF_ERROR(
            ReadObjectText(field.value, document, parsers_->limits, "context", &context.shared_context));
      }
    }
    if (HasTrailingContent(document)) return Status::InvalidArgument("body", "text after the JSON object");
    if (!seen_batch)
      return Status::InvalidArgument("batch", "missing (a /v1/batch body is {\"batch\":[...]})");
  } else {
    messages.push_back(text);
  }
  parsed.events_.reserve(messages.size());
  for (std::string_view raw : messages) {
    AddEvent(parsed.events_, raw,
             raw.starts_with('{')
                 ? ParseSegmentMessage(context, raw, call, call == SegmentCall::kBatch ? nullptr : &out.key)
                 : Result<EventView>(NotAnObject()));
  }
  // A call's own body that is not even JSON is the request's error, as for POST /v1/events.
  if (call != SegmentCall::kBatch)
    TALLY_RETURN_IF_ERROR(NotJsonError(parsers_->outer, text, parsed.events_[0].status));
  return out;
}

Result<SdkBody> SdkParser::ParsePostHog(std::string_view body, Millis now) {
  SdkBody out;
  ParsedBody& parsed = out.events;
  auto copied = CopyBody(body, parsed.text_);
  if (!copied.ok()) return copied.status();
  const std::string_view text = *copied;
  // A single event's api_key is read twice (to tell the body's form, then as the event's): room for both.
  UnescapedTexts unescaped(&parsed.unescaped_, 2 * text.size());
  BodyContext context{*parsers_, text, unescaped, parsed.made_, now, std::nullopt, {}};
  std::vector<std::string_view> messages;
  od::document document;
  TALLY_RETURN_IF_ERROR(IterateBody(parsers_->outer, text, &document));
  od::json_type type;
  if (auto error = document.type().get(type)) return Status::InvalidArgument("body", JsonError(error));
  bool single_event = false;
  if (type == od::json_type::array) {
    od::array array;
    if (auto error = document.get_array().get(array))
      return Status::InvalidArgument("body", JsonError(error));
    TALLY_RETURN_IF_ERROR(ReadMessages(array, parsers_->limits, &messages));
    if (HasTrailingContent(document)) return Status::InvalidArgument("body", "text after the JSON array");
  } else if (type == od::json_type::object) {
    od::object object;
    if (auto error = document.get_object().get(object))
      return Status::InvalidArgument("body", JsonError(error));
    bool seen_batch = false;
    for (auto field_result : object) {
      MessageField field;
      TALLY_RETURN_IF_ERROR(ReadMessageField(std::move(field_result), &field, "body"));
      if (field.name == "batch") {
        TALLY_RETURN_IF_ERROR(ReadBatch(field.value, "events", parsers_->limits, &messages));
        seen_batch = true;
      } else if (field.name == "api_key") {
        TALLY_RETURN_IF_ERROR(ReadKey(field.value, "api_key", unescaped, &out.key));
      } else if (field.name == "sent_at") {
        Millis sent_at = 0;
        TALLY_RETURN_IF_ERROR(ReadTimestamp(field.value, "sent_at", &sent_at));
        context.sent_at = sent_at;
      }
    }
    if (HasTrailingContent(document)) return Status::InvalidArgument("body", "text after the JSON object");
    // Without a batch, the object is one event (with its own api_key and sent_at).
    if (!seen_batch) {
      messages.push_back(text);
      single_event = true;
      out.key = {};
      context.sent_at.reset();
    }
  } else {
    return Status::InvalidArgument("body", "must be a JSON object or an array of events");
  }
  parsed.events_.reserve(messages.size());
  for (std::string_view raw : messages) {
    std::string_view event_key;
    auto event = raw.starts_with('{') ? ParsePostHogMessage(context, raw, &event_key)
                                      : Result<EventView>(NotAnObject());
    // Events of one body share one key: the body's, or else the first event's.
    if (event.ok() && !event_key.empty()) {
      if (out.key.empty()) {
        out.key = event_key;
      } else if (event_key != out.key) {
        event = Status::InvalidArgument("api_key", "differs from the key of the body's other events");
      }
    }
    AddEvent(parsed.events_, raw, event);
  }
  if (single_event) TALLY_RETURN_IF_ERROR(NotJsonError(parsers_->outer, text, parsed.events_[0].status));
  return out;
}

}  // namespace tally

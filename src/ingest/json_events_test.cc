#include "ingest/json_events.h"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "ingest/rfc3339.h"

namespace tally {
namespace {

std::string ErrorOf(std::string_view json) {
  auto event = ParseEventJson(json);
  EXPECT_FALSE(event.ok()) << json;
  return event.ok() ? "" : event.status().message();
}

TEST(JsonEvent, ReadsEveryFieldOfTheApiExample) {
  auto event = ParseEventJson(R"({
    "event_id": "1a2b3c4d-1234-5678-9abc-123456789abc", "type": "ArticleAddedToCart",
    "user_id": "123e4567-e89b-12d3-a456-426614174000", "timestamp": 1723888800000, "version": 1,
    "session_id": "s-42", "product_id": "98765", "store_id": "store_1",
    "properties": {"article_price": 29.99, "currency": "USD"}})");
  ASSERT_TRUE(event.ok()) << event.status().message();
  EXPECT_EQ(event->event_id, "1a2b3c4d-1234-5678-9abc-123456789abc");
  EXPECT_EQ(event->type, "ArticleAddedToCart");
  EXPECT_EQ(event->timestamp, 1723888800000);
  EXPECT_EQ(event->version, 1u);
  EXPECT_EQ(event->session_id, "s-42");
  EXPECT_EQ(event->product_id, "98765");
  EXPECT_EQ(event->store_id, "store_1");
  EXPECT_EQ(event->properties_json, R"({"article_price": 29.99, "currency": "USD"})");
}

TEST(JsonEvent, TimestampIsIntegerMillisOrRfc3339WithAZone) {
  EXPECT_EQ(ParseEventJson(R"({"type":"a","user_id":"u","timestamp":"2024-08-17T10:00:00Z"})")->timestamp,
            1723888800000);
  EXPECT_EQ(
      ParseEventJson(R"({"type":"a","user_id":"u","timestamp":"2024-08-17T12:00:00.25+02:00"})")->timestamp,
      1723888800250);
  EXPECT_EQ(ErrorOf(R"({"type":"a","user_id":"u","timestamp":"2024-08-17T10:00:00"})"),
            "timestamp: not an RFC 3339 time with a zone (like 2024-08-17T10:00:00Z)");
  EXPECT_EQ(ErrorOf(R"({"type":"a","user_id":"u","timestamp":1.5})"), "timestamp: not an integer");
  EXPECT_EQ(ErrorOf(R"({"type":"a","user_id":"u","timestamp":-1})"),
            "timestamp: out of range (0 to 253402300799999)");
  EXPECT_EQ(ErrorOf(R"({"type":"a","user_id":"u","timestamp":true})"),
            "timestamp: must be integer milliseconds or an RFC 3339 string");
}

TEST(JsonEvent, EachFieldRuleNamesTheField) {
  EXPECT_EQ(ErrorOf(R"({"user_id":"u","timestamp":1})"), "type: missing");
  EXPECT_EQ(ErrorOf(R"({"type":"a","timestamp":1})"), "user_id: missing");
  EXPECT_EQ(ErrorOf(R"({"type":"a","user_id":"u"})"), "timestamp: missing");
  EXPECT_EQ(ErrorOf(R"({"type":"","user_id":"u","timestamp":1})"), "type: empty");
  EXPECT_EQ(ErrorOf(R"({"type":"a\tb","user_id":"u","timestamp":1})"),
            "type: holds a control character (byte 1)");
  EXPECT_EQ(ErrorOf(R"({"type":")" + std::string(201, 'a') + R"(","user_id":"u","timestamp":1})"),
            "type: longer than 200 bytes");
  EXPECT_EQ(ErrorOf(R"({"type":"a","user_id":")" + std::string(257, 'u') + R"(","timestamp":1})"),
            "user_id: longer than 256 bytes");
  EXPECT_EQ(ErrorOf(R"({"type":"a","user_id":5,"timestamp":1})"), "user_id: must be a string");
  EXPECT_EQ(ErrorOf(R"({"type":"a","user_id":"u","timestamp":1,"event_id":""})"), "event_id: empty");
  EXPECT_EQ(ErrorOf(R"({"type":"a","user_id":"u","timestamp":1,"version":0})"),
            "version: must be a positive integer");
  EXPECT_EQ(ErrorOf(R"({"type":"a","user_id":"u","timestamp":1,"version":1.5})"),
            "version: must be a positive integer");
  EXPECT_EQ(ErrorOf(R"({"type":"a","user_id":"u","timestamp":1,"version":4294967296})"),
            "version: larger than 4294967295");
  EXPECT_EQ(ErrorOf(R"({"type":"a","user_id":"u","timestamp":1,"properties":[1]})"),
            "properties: must be a JSON object");
  EXPECT_EQ(ErrorOf(R"({"type":"a","user_id":"u","timestamp":1,"properties":{"x":")" +
                    std::string(17000, 'x') + R"("}})"),
            "properties: larger than 16384 bytes");
  EXPECT_EQ(ErrorOf(R"({"type":"a","user_id":"u","timestamp":1,"type":"b"})"), "type: repeated");
  EXPECT_EQ(ErrorOf(R"({"type":"a","user_id":"u","timestamp":1,"tpye":"b"})").substr(0, 20),
            "tpye: unknown field ");
  EXPECT_EQ(ErrorOf(R"([1])"), "event: must be a JSON object");
}

TEST(JsonEvent, PropertiesDeeperOrLargerThanTheLimitsAreRejectedNamingTheLimit) {
  JsonLimits limits;
  limits.max_depth = 3;
  limits.max_properties_bytes = 40;
  auto parse = [&](const std::string& properties) {
    return ParseEventJson(R"({"type":"a","user_id":"u","timestamp":1,"properties":)" + properties + "}",
                          limits);
  };
  EXPECT_TRUE(parse(R"({"a":{"b":[1]}})").ok());
  EXPECT_EQ(parse(R"({"a":{"b":[[1]]}})").status().message(), "properties: nested deeper than 3 levels");
  // Brackets inside strings are text, not nesting.
  EXPECT_TRUE(parse(R"({"a":"[[[[{{{{\"]]"})").ok());
  EXPECT_EQ(parse(R"({"a":")" + std::string(40, 'x') + R"("})").status().message(),
            "properties: larger than 40 bytes");
  // A deep body is refused, never a stack overflow.
  const std::string deep = std::string(100000, '[') + std::string(100000, ']');
  EXPECT_FALSE(parse("{\"a\":" + deep + "}").ok());
  auto body = ParseEventsBody(deep, BodyFormat::kJson, limits);
  EXPECT_TRUE(!body.ok() || (body->size() == 1 && !(*body)[0].status.ok()));
}

TEST(JsonEvent, NullOptionalFieldsAreAbsent) {
  auto event = ParseEventJson(
      R"({"type":"a","user_id":"u","timestamp":1,"event_id":null,"product_id":null,"properties":null,"version":null})");
  ASSERT_TRUE(event.ok()) << event.status().message();
  EXPECT_EQ(event->event_id, "");
  EXPECT_EQ(event->product_id, "");
  EXPECT_EQ(event->version, 1u);
  EXPECT_EQ(ErrorOf(R"({"type":null,"user_id":"u","timestamp":1})"), "type: must be a string");
}

TEST(JsonEvent, PropertiesAreKeptAsSentFromTheirFirstByteToTheirLast) {
  for (const char* after : {"}", " }", ",\"store_id\":\"s\"}", " \n\t, \"store_id\":\"s\"}"}) {
    auto event = ParseEventJson(std::string(R"({"type":"a","user_id":"u","timestamp":1,"properties":  )") +
                                R"({"a" : [1, 2.50, {"b":"}\"{"}], "c":{}})" + after);
    ASSERT_TRUE(event.ok()) << after;
    EXPECT_EQ(event->properties_json, R"({"a" : [1, 2.50, {"b":"}\"{"}], "c":{}})") << after;
  }
}

TEST(JsonEvent, AnEventThatEndsInsideItsPropertiesIsNotValidJsonNamingTheEvent) {
  auto event = ParseEventJson(R"({"type":"a","user_id":"u","timestamp":1,"properties":{"k":1})");
  ASSERT_FALSE(event.ok());
  EXPECT_EQ(event.status().field(), "event");
}

TEST(JsonEvent, PropertiesMustBeValidJsonThroughout) {
  // On-demand parsing only skims values it skips; kept-verbatim properties are checked fully.
  auto event =
      ParseEventJson(R"({"type":"a","user_id":"u","timestamp":1,"properties":{"a":[1,2,{"b":tru}]}})");
  EXPECT_FALSE(event.ok());
}

TEST(JsonEvent, PropertiesKeepNumbersNoMachineTypeHolds) {
  // Kept verbatim, a number is checked against JSON's grammar only: an order id of 30 digits is valid.
  auto event = ParseEventJson(
      R"({"type":"a","user_id":"u","timestamp":1,"properties":{"id":123456789012345678901234567890,)"
      R"("u":18446744073709551616,"small":1e-400,"large":-2.5E+400,"n":[0,-0,0.5,1e5]}})");
  ASSERT_TRUE(event.ok()) << event.status().message();
  EXPECT_NE(event->properties_json.find("123456789012345678901234567890"), std::string::npos);
  for (const char* number : {"01", "1.", ".5", "-", "1e", "1e+", "+1", "0x10", "NaN", "1.5.2"}) {
    const std::string json =
        std::string(R"({"type":"a","user_id":"u","timestamp":1,"properties":{"n":)") + number + "}}";
    auto bad = ParseEventJson(json);
    ASSERT_FALSE(bad.ok()) << number;
    EXPECT_EQ(bad.status().field(), "properties") << number << ": " << bad.status().message();
  }
}

TEST(JsonNumber, FollowsTheGrammarOfRfc8259) {
  for (const char* good :
       {"0", "-0", "7", "10", "-12.5", "1e9", "1E+9", "2.5e-3", "123456789012345678901234567890"})
    EXPECT_TRUE(IsJsonNumber(good)) << good;
  for (const char* bad : {"", "-", "00", "01", "1.", ".1", "1e", "1e-", "+1", "1 ", "1a", "--1"})
    EXPECT_FALSE(IsJsonNumber(bad)) << bad;
}

TEST(JsonBody, MoreEventsThanTheLimitRefuseTheWholeBodyWithoutParsingThemAll) {
  JsonLimits limits;
  limits.max_events = 3;
  const std::string event = R"({"type":"a","user_id":"u","timestamp":1})";
  auto at_limit = ParseEventsBody("[" + event + ",1," + event + "]", BodyFormat::kJson, limits);
  ASSERT_TRUE(at_limit.ok());
  EXPECT_EQ(at_limit->size(), 3u);
  for (const auto& [body, format] : std::vector<std::pair<std::string, BodyFormat>>{
           {"[{},{},{},{}]", BodyFormat::kJson},
           {"[1,2,3,4,5,6]", BodyFormat::kJson},
           {"x\nx\n\nx\nx\n", BodyFormat::kNdjson},
           {event + "\n" + event + "\n" + event + "\n" + event, BodyFormat::kNdjson}}) {
    auto parsed = ParseEventsBody(body, format, limits);
    ASSERT_FALSE(parsed.ok()) << body;
    EXPECT_EQ(parsed.status().code(), Status::Code::kTooLarge);
    EXPECT_EQ(
        parsed.status().message(),
        "body: more than 3 events in one request (--max-events-per-request); send them in smaller batches");
  }
  // Blank lines are not events.
  EXPECT_TRUE(ParseEventsBody("x\n\n\n\n\nx\nx\n", BodyFormat::kNdjson, limits).ok());
}

TEST(JsonBody, ObjectArrayAndNdjsonEachStandAlone) {
  auto single = ParseEventsBody(R"( {"type":"a","user_id":"u","timestamp":1} )", BodyFormat::kJson);
  ASSERT_TRUE(single.ok());
  ASSERT_EQ(single->size(), 1u);
  EXPECT_TRUE((*single)[0].status.ok());

  auto array = ParseEventsBody(
      R"([{"type":"a","user_id":"u","timestamp":1}, {"type":"a"}, "text", [1], null])", BodyFormat::kJson);
  ASSERT_TRUE(array.ok()) << array.status().message();
  ASSERT_EQ(array->size(), 5u);
  EXPECT_TRUE((*array)[0].status.ok());
  EXPECT_EQ((*array)[1].status.message(), "user_id: missing");
  EXPECT_EQ((*array)[1].raw, R"({"type":"a"})");
  EXPECT_EQ((*array)[2].raw, R"("text")");
  EXPECT_EQ((*array)[3].status.message(), "event: must be a JSON object");
  EXPECT_EQ((*array)[4].raw, "null");

  auto lines = ParseEventsBody(
      "{\"type\":\"a\",\"user_id\":\"u\",\"timestamp\":1}\n\n  \ngarbage\r\n{\"type\":\"b\","
      "\"user_id\":\"v\",\"timestamp\":2}",
      BodyFormat::kNdjson);
  ASSERT_TRUE(lines.ok());
  ASSERT_EQ(lines->size(), 3u);
  EXPECT_TRUE((*lines)[0].status.ok());
  EXPECT_FALSE((*lines)[1].status.ok());
  EXPECT_EQ((*lines)[1].raw, "garbage");
  EXPECT_EQ((*lines)[2].event.type, "b");
}

// Strings without escapes are views of the body; those with escapes are kept unescaped beside it. Both must
// survive the parsing of every later event of the body, and a parser reused for the next body.
TEST(JsonBody, EscapedAndPlainStringsStayValidForTheWholeBody) {
  EventsParser parser;
  std::string body;
  for (int i = 0; i < 300; ++i) {
    body += R"({"type":"a","user_id":"plain-)" + std::to_string(i) +
            R"(","timestamp":1,"product_id":"p\"q\u00e9)" + std::to_string(i) + R"(","store_id":"s\\)" +
            std::to_string(i) + R"(","properties":{"k":"v\n"}})" + "\n";
  }
  auto first = parser.Parse(body, BodyFormat::kNdjson);
  auto second = parser.Parse(R"({"type":"b","user_id":"\u0041","timestamp":2})", BodyFormat::kNdjson);
  ASSERT_TRUE(first.ok());
  ASSERT_TRUE(second.ok());
  ASSERT_EQ(first->size(), 300u);
  for (int i = 0; i < 300; ++i) {
    const EventInput& input = (*first)[i];
    ASSERT_TRUE(input.status.ok()) << input.status.message();
    EXPECT_EQ(input.event.user_id, "plain-" + std::to_string(i));
    EXPECT_EQ(input.event.product_id, "p\"q\xC3\xA9" + std::to_string(i));
    EXPECT_EQ(input.event.store_id, "s\\" + std::to_string(i));
    EXPECT_EQ(input.event.properties_json, R"({"k":"v\n"})");  // verbatim, as sent
  }
  EXPECT_EQ((*second)[0].event.user_id, "A");
}

TEST(JsonBody, ABodyThatIsNotJsonAtAllIsAnErrorNamingBody) {
  for (std::string_view body :
       {"", "   ", "hello", "[{\"type\":\"a\"", "[1,2", "[1] x", "{not json", "{\"type\":\"a\"", "{} x"}) {
    auto parsed = ParseEventsBody(body, BodyFormat::kJson);
    ASSERT_FALSE(parsed.ok()) << body;
    EXPECT_EQ(parsed.status().field(), "body") << body;
  }
  EXPECT_FALSE(ParseEventsBody("\n\n", BodyFormat::kNdjson).ok());
  // A JSON object that is not a valid event is the event's error, not the body's.
  auto parsed = ParseEventsBody(R"({"type":"a","colour":"red"})", BodyFormat::kJson);
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ((*parsed)[0].status.field(), "colour");
}

TEST(EventType, IsPrintableUtf8OfAtMost200Bytes) {
  for (std::string_view good : {"click", "Order Completed", "$pageview", "form_interaction.submit",
                                "Zahlung abgeschlossen \u00fc", "\u8cfc\u5165", "\U0001F6D2 added"}) {
    EXPECT_TRUE(CheckEventType(good).ok()) << good;
  }
  EXPECT_TRUE(CheckEventType(std::string(200, 'a')).ok());
  const std::pair<std::string, std::string> bad[] = {
      {"", "type: empty"},
      {std::string(201, 'a'), "type: longer than 200 bytes"},
      {"a\nb", "type: holds a control character (byte 1)"},
      {"\x7f", "type: holds a control character (byte 0)"},
      {"x\xc2\x85", "type: holds a control character (byte 1)"},  // U+0085, a C1 control
      {"\xff", "type: not valid UTF-8"},
      {"\xc3", "type: not valid UTF-8"},               // cut short
      {"\xc0\xaf", "type: not valid UTF-8"},           // overlong
      {"\xed\xa0\x80", "type: not valid UTF-8"},       // a surrogate
      {"\xf4\x90\x80\x80", "type: not valid UTF-8"}};  // past U+10FFFF
  for (const auto& [type, error] : bad) EXPECT_EQ(CheckEventType(type).message(), error);
}

TEST(Rfc3339, ConvertsDatesZonesAndFractions) {
  EXPECT_EQ(*ParseRfc3339Millis("t", "1970-01-01T00:00:00Z"), 0);
  EXPECT_EQ(*ParseRfc3339Millis("t", "2000-02-29T23:59:59.999Z"), 951868799999);
  EXPECT_EQ(*ParseRfc3339Millis("t", "2024-08-17t10:00:00.123456z"), 1723888800123);
  EXPECT_EQ(*ParseRfc3339Millis("t", "2024-08-17T05:30:00-04:30"), 1723888800000);
  EXPECT_EQ(*ParseRfc3339Millis("t", "9999-12-31T23:59:59.999Z"), kMaxTimestampMillis);
  EXPECT_FALSE(ParseRfc3339Millis("t", "1969-12-31T23:59:59Z").ok());
  EXPECT_FALSE(ParseRfc3339Millis("t", "2023-02-29T00:00:00Z").ok());
  EXPECT_FALSE(ParseRfc3339Millis("t", "2024-13-01T00:00:00Z").ok());
  EXPECT_FALSE(ParseRfc3339Millis("t", "2024-01-01T24:00:00Z").ok());
  EXPECT_FALSE(ParseRfc3339Millis("t", "2024-01-01T00:00:00.Z").ok());
  EXPECT_FALSE(ParseRfc3339Millis("t", "2024-01-01T00:00:00+0100").ok());
  EXPECT_FALSE(ParseRfc3339Millis("t", "2024-01-01").ok());
}

}  // namespace
}  // namespace tally

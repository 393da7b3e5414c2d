#include "ingest/sdk_events.h"

#include <gtest/gtest.h>

#include <string>

namespace tally {
namespace {

constexpr Millis kNow = 1'793'527'200'000;       // 2026-11-01T10:00:00Z
constexpr Millis kAugust17 = 1'723'888'800'000;  // 2024-08-17T10:00:00Z

SdkBody Segment(std::string_view body, SegmentCall call = SegmentCall::kBatch) {
  static SdkParser parser(JsonLimits{}, SdkMapping{});
  auto parsed = parser.ParseSegment(body, call, kNow);
  EXPECT_TRUE(parsed.ok()) << parsed.status().message();
  return parsed.ok() ? std::move(*parsed) : SdkBody{};
}

SdkBody PostHog(std::string_view body) {
  static SdkParser parser(JsonLimits{}, SdkMapping{});
  auto parsed = parser.ParsePostHog(body, kNow);
  EXPECT_TRUE(parsed.ok()) << parsed.status().message();
  return parsed.ok() ? std::move(*parsed) : SdkBody{};
}

std::string ErrorOf(const SdkBody& body, size_t index = 0) {
  if (body.events.size() <= index) return "(no such event)";
  return body.events[index].status.message();
}

TEST(Segment, ATrackCallIsAnEventNamedByItsEventWithEverythingElseKept) {
  SdkBody body =
      Segment(R"({"batch":[{"type":"track","event":"Order Completed","userId":"u1","anonymousId":"a1",)"
              R"("messageId":"m1","timestamp":"2024-08-17T10:00:00.000Z","integrations":{},)"
              R"("properties":{"product_id":"p9","revenue":9.5,"store_id":7},"context":{"ip":"1.2.3.4"}}],)"
              R"("writeKey":"the-write-key-0123","sentAt":"2024-08-17T10:00:05Z"})");
  ASSERT_EQ(body.events.size(), 1u);
  const EventInput& input = body.events[0];
  ASSERT_TRUE(input.status.ok()) << input.status.message();
  EXPECT_EQ(input.event.type, "Order Completed");
  EXPECT_EQ(input.event.user_id, "u1");
  EXPECT_EQ(input.event.event_id, "m1");
  EXPECT_EQ(input.event.timestamp, kAugust17);
  EXPECT_EQ(input.event.product_id, "p9");
  EXPECT_EQ(input.event.store_id, "7");
  EXPECT_EQ(input.event.properties_json,
            R"({"product_id":"p9","revenue":9.5,"store_id":7,"$segment":{"integrations":{},"type":"track",)"
            R"("context":{"ip":"1.2.3.4"},"anonymousId":"a1"}})");
  EXPECT_EQ(body.key, "the-write-key-0123");
}

TEST(Segment, FieldsOfAnyKindAreKeptAsSent) {
  // Numbers were once kept as empty text: reading one does not move the parser past it.
  SdkBody body = Segment(R"({"batch":[{"type":"track","event":"a","userId":"u","version":2,"ok":true,)"
                         R"("n":null,"s":"x\"y","a":[1,{"b":2}],"x":1e400}]})");
  ASSERT_TRUE(body.events[0].status.ok()) << body.events[0].status.message();
  EXPECT_EQ(
      body.events[0].event.properties_json,
      R"({"$segment":{"version":2,"ok":true,"n":null,"s":"x\"y","a":[1,{"b":2}],"x":1e400,"type":"track"}})");
}

TEST(Segment, EachCallHasItsType) {
  SdkBody body = Segment(R"({"batch":[
      {"type":"page","anonymousId":"a1"},
      {"type":"page","name":"Pricing","anonymousId":"a1"},
      {"type":"screen","userId":42},
      {"type":"identify","userId":"u1","traits":{"plan":"pro"}},
      {"type":"group","userId":"u1","groupId":"g1","traits":{"seats":5}},
      {"type":"alias","userId":"u1","previousId":"a1"}],
      "context":{"library":{"name":"analytics.js"}}})");
  ASSERT_EQ(body.events.size(), 6u);
  for (const EventInput& input : body.events) ASSERT_TRUE(input.status.ok()) << input.status.message();
  EXPECT_EQ(body.events[0].event.type, "page");
  EXPECT_EQ(body.events[0].event.user_id, "a1");
  EXPECT_EQ(body.events[1].event.type, "Pricing");
  EXPECT_EQ(body.events[2].event.type, "screen");
  EXPECT_EQ(body.events[2].event.user_id, "42");
  EXPECT_EQ(body.events[3].event.type, "identify");
  // identify and group: the traits are the properties. The batch's context goes with every message.
  EXPECT_EQ(body.events[3].event.properties_json,
            R"({"plan":"pro","$segment":{"context":{"library":{"name":"analytics.js"}}}})");
  EXPECT_EQ(body.events[4].event.properties_json,
            R"({"seats":5,"$segment":{"groupId":"g1","context":{"library":{"name":"analytics.js"}}}})");
  EXPECT_EQ(body.events[5].event.type, "alias");
  EXPECT_EQ(body.events[5].event.properties_json,
            R"({"$segment":{"previousId":"a1","context":{"library":{"name":"analytics.js"}}}})");
  // Without a time of their own or the body's sentAt, events take the time received.
  EXPECT_EQ(body.events[0].event.timestamp, kNow);
  EXPECT_TRUE(body.events[0].event.event_id.empty());
}

TEST(Segment, TheFirstTimeGivenIsTheEventsAndTheOthersAreKept) {
  SdkBody body = Segment(R"({"batch":[
      {"type":"track","event":"a","userId":"u","originalTimestamp":"2024-08-17T10:00:00Z","sentAt":1},
      {"type":"track","event":"a","userId":"u"}],"sentAt":"2024-08-17T10:00:00.250Z"})");
  EXPECT_EQ(body.events[0].event.timestamp, kAugust17);
  EXPECT_EQ(body.events[0].event.properties_json, R"({"$segment":{"type":"track","sentAt":1}})");
  EXPECT_EQ(body.events[1].event.timestamp, kAugust17 + 250);
}

TEST(Segment, ACallOnItsOwnPathIsOneMessage) {
  SdkBody body =
      Segment(R"({"event":"Signed Up","userId":null,"anonymousId":"a7","writeKey":"k-0123456789abcdef"})",
              SegmentCall::kTrack);
  ASSERT_EQ(body.events.size(), 1u);
  ASSERT_TRUE(body.events[0].status.ok()) << body.events[0].status.message();
  EXPECT_EQ(body.events[0].event.type, "Signed Up");
  EXPECT_EQ(body.events[0].event.user_id, "a7");
  EXPECT_EQ(body.key, "k-0123456789abcdef");
  // The key is never kept with the event.
  EXPECT_EQ(body.events[0].event.properties_json.find("k-0123"), std::string_view::npos);
  SdkBody page = Segment(R"({"type":"track","name":"Home","userId":"u"})", SegmentCall::kPage);
  EXPECT_EQ(ErrorOf(page), "type: 'track' sent to /v1/page");
}

TEST(Segment, ABadMessageIsRejectedAloneNamingItsField) {
  SdkBody body = Segment(R"({"batch":[
      {"type":"track","event":"ok","userId":"u"},
      {"type":"track","userId":"u"},
      {"type":"track","event":"a","timestamp":1},
      {"type":"jump","userId":"u"},
      {"event":"a","userId":"u"},
      {"type":"track","event":"a\u0007b","userId":"u"},
      {"type":"page","name":"Home","userId":"u","properties":{"$segment":1}},
      {"type":"track","event":"a","userId":{"id":1}},
      {"type":"track","event":"a","userId":"u","properties":[1]},
      {"type":"track","event":"a","userId":"u","timestamp":"yesterday"},
      "not an object"]})");
  ASSERT_EQ(body.events.size(), 11u);
  EXPECT_TRUE(body.events[0].status.ok());
  EXPECT_EQ(ErrorOf(body, 1), "event: missing (a track call names its event)");
  EXPECT_EQ(ErrorOf(body, 2), "userId: missing, and no anonymousId");
  EXPECT_EQ(ErrorOf(body, 3), "type: must be one of track, page, screen, identify, group, alias");
  EXPECT_EQ(ErrorOf(body, 4), "type: missing (a batch's message names its call: track, page, ...)");
  EXPECT_EQ(ErrorOf(body, 5), "event: holds a control character (byte 1)");
  EXPECT_EQ(ErrorOf(body, 6),
            "properties: holds the key '$segment', under which tally keeps the message's other fields");
  EXPECT_EQ(ErrorOf(body, 7), "userId: must be a string or an integer");
  EXPECT_EQ(ErrorOf(body, 8), "properties: must be a JSON object");
  EXPECT_EQ(body.events[9].status.field(), "timestamp");
  EXPECT_EQ(ErrorOf(body, 10), "event: must be a JSON object");
}

TEST(Segment, DimensionsAreStringsOrIntegersOfTheConfiguredProperties) {
  SdkParser parser(JsonLimits{}, SdkMapping{"sku", "shop"});
  auto parsed = parser.ParseSegment(R"({"batch":[
      {"type":"track","event":"a","userId":"u","properties":{"sku":12345678901234567890,"shop":"s\u00e9"}},
      {"type":"track","event":"a","userId":"u","properties":{"sku":1.5,"shop":{"id":1},"product_id":"x"}}]})",
                                    SegmentCall::kBatch, kNow);
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ((*parsed).events[0].event.product_id, "12345678901234567890");
  EXPECT_EQ((*parsed).events[0].event.store_id, "s\u00e9");
  EXPECT_TRUE((*parsed).events[1].event.product_id.empty());
  EXPECT_TRUE((*parsed).events[1].event.store_id.empty());
}

TEST(Segment, ABodyThatIsNotABatchIsTheRequestsError) {
  SdkParser parser(JsonLimits{}, SdkMapping{});
  for (std::string_view bad :
       {"", "{not json", "[]", R"({"sentAt":1})", R"({"batch":{}})", R"({"batch":[]} x)"}) {
    auto parsed = parser.ParseSegment(bad, SegmentCall::kBatch, kNow);
    EXPECT_FALSE(parsed.ok()) << bad;
  }
  auto not_json = parser.ParseSegment("{not json", SegmentCall::kTrack, kNow);
  ASSERT_FALSE(not_json.ok());
  EXPECT_EQ(not_json.status().field(), "body");
  JsonLimits two;
  two.max_events = 2;
  SdkParser small(two, SdkMapping{});
  auto too_many = small.ParseSegment(R"({"batch":[{},{},{}]})", SegmentCall::kBatch, kNow);
  ASSERT_FALSE(too_many.ok());
  EXPECT_EQ(too_many.status().code(), Status::Code::kTooLarge);
}

TEST(PostHog, ABatchOfCapturesAsPosthogNodeSendsIt) {
  SdkBody body =
      PostHog(R"({"api_key":"phc_0123456789abcdef","batch":[{"event":"$pageview","distinct_id":"d1",)"
              R"("properties":{"$session_id":"s1","product_id":"p","$lib":"posthog-node"},"type":"capture",)"
              R"("timestamp":"2024-08-17T10:00:00.000Z","uuid":"01890000-0000-7000-8000-000000000001"}],)"
              R"("sent_at":"2024-08-17T10:00:01Z"})");
  ASSERT_EQ(body.events.size(), 1u);
  const EventInput& input = body.events[0];
  ASSERT_TRUE(input.status.ok()) << input.status.message();
  EXPECT_EQ(input.event.type, "$pageview");
  EXPECT_EQ(input.event.user_id, "d1");
  EXPECT_EQ(input.event.session_id, "s1");
  EXPECT_EQ(input.event.product_id, "p");
  EXPECT_EQ(input.event.event_id, "01890000-0000-7000-8000-000000000001");
  EXPECT_EQ(input.event.timestamp, kAugust17);
  EXPECT_EQ(input.event.properties_json,
            R"({"$session_id":"s1","product_id":"p","$lib":"posthog-node","$posthog":{"type":"capture"}})");
  EXPECT_EQ(body.key, "phc_0123456789abcdef");
}

TEST(PostHog, OneEventOrAnArrayOfThem) {
  SdkBody single = PostHog(R"({"api_key":"key-0123456789abcdef","event":"signed up","distinct_id":7})");
  ASSERT_EQ(single.events.size(), 1u);
  ASSERT_TRUE(single.events[0].status.ok()) << single.events[0].status.message();
  EXPECT_EQ(single.events[0].event.user_id, "7");
  EXPECT_EQ(single.events[0].event.timestamp, kNow);
  EXPECT_EQ(single.key, "key-0123456789abcdef");
  EXPECT_TRUE(single.events[0].event.properties_json.empty());

  SdkBody array = PostHog(R"([
      {"event":"a","properties":{"distinct_id":"from-properties"},"api_key":"key-0123456789abcdef"},
      {"event":"b","distinct_id":"d","api_key":"another-key-0123456"},
      {"event":"c"},
      {"distinct_id":"d"}])");
  ASSERT_EQ(array.events.size(), 4u);
  EXPECT_EQ(array.events[0].event.user_id, "from-properties");
  EXPECT_EQ(array.key, "key-0123456789abcdef");
  EXPECT_EQ(ErrorOf(array, 1), "api_key: differs from the key of the body's other events");
  EXPECT_EQ(ErrorOf(array, 2), "distinct_id: missing");
  EXPECT_EQ(ErrorOf(array, 3), "event: missing");
}

TEST(PostHog, ABodyThatIsNotJsonIsTheRequestsError) {
  SdkParser parser(JsonLimits{}, SdkMapping{});
  for (std::string_view bad :
       {"", "{not json", "17", R"("text")", R"({"batch":3})", R"([{"event":"a"}] x)"}) {
    EXPECT_FALSE(parser.ParsePostHog(bad, kNow).ok()) << bad;
  }
}

TEST(SegmentCallNamed, KnowsTheSevenPaths) {
  EXPECT_EQ(SegmentCallNamed("batch"), SegmentCall::kBatch);
  EXPECT_EQ(SegmentCallNamed("alias"), SegmentCall::kAlias);
  EXPECT_EQ(SegmentCallNamed("events"), std::nullopt);
}

}  // namespace
}  // namespace tally

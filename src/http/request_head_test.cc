#include "http/request_head.h"

#include <gtest/gtest.h>

namespace tally {
namespace {

TEST(RequestHead, EachLimitIsCheckedAndNamedWithItsFlag) {
  RequestLimits limits{100, 10, 1000};
  EXPECT_FALSE(CheckRequestHead(limits, {100, 10, 1000}).has_value());
  auto target = CheckRequestHead(limits, {101, 0, 0});
  ASSERT_TRUE(target.has_value());
  EXPECT_EQ(target->status, 414);
  EXPECT_EQ(target->message, "target: 101 bytes, more than the limit of 100 (--max-target-bytes)");
  auto count = CheckRequestHead(limits, {1, 11, 0});
  ASSERT_TRUE(count.has_value());
  EXPECT_EQ(count->status, 431);
  EXPECT_EQ(count->message, "headers: 11 header fields, more than the limit of 10 (--max-header-count)");
  auto bytes = CheckRequestHead(limits, {1, 1, 1001});
  ASSERT_TRUE(bytes.has_value());
  EXPECT_EQ(bytes->status, 431);
  EXPECT_EQ(bytes->message, "headers: 1001 bytes, more than the limit of 1000 (--max-header-bytes)");
}

TEST(RequestHead, BearerSecretTakesTheSchemeInAnyCase) {
  EXPECT_EQ(BearerSecret("Bearer abc"), "abc");
  EXPECT_EQ(BearerSecret("bEARER abc def"), "abc def");
  EXPECT_EQ(BearerSecret("Bearer "), "");
  EXPECT_EQ(BearerSecret("Basic abc"), "");
  EXPECT_EQ(BearerSecret(""), "");
}

TEST(RequestHead, SecretOfTakesBearerOrBasicsUserName) {
  EXPECT_EQ(SecretOf("Bearer abc"), "abc");
  EXPECT_EQ(SecretOf("Basic d3JpdGUta2V5Og=="), "write-key");  // "write-key:", as Segment's SDKs send it
  EXPECT_EQ(SecretOf("basic d3JpdGUta2V5Og"), "write-key");    // padding left out
  EXPECT_EQ(SecretOf("Basic OnNlY3JldA=="), "secret");         // ":secret": the password, the user empty
  EXPECT_EQ(SecretOf("Basic dXNlcg=="), "");                   // "user" without a colon
  EXPECT_EQ(SecretOf("Basic not*base64"), "");
  EXPECT_EQ(SecretOf("Digest abc"), "");
  EXPECT_EQ(SecretOf(""), "");
}

TEST(RequestHead, NativeApiSegmentsArePercentDecoded) {
  auto segments = RouteSegments("/v1/users/a%2Fb/events");
  ASSERT_TRUE(segments.ok());
  EXPECT_EQ(*segments, (std::vector<std::string>{"v1", "users", "a/b", "events"}));
  EXPECT_EQ(*RouteSegments("/v1/"), (std::vector<std::string>{"v1", ""}));
  EXPECT_EQ(*RouteSegments("/"), (std::vector<std::string>{""}));
  EXPECT_EQ(*RouteSegments("/i/v0/e/"), (std::vector<std::string>{"i", "v0", "e", ""}));
  // Other paths are as h2o normalized them: no second decoding.
  EXPECT_EQ(*RouteSegments("/a%2Fb"), (std::vector<std::string>{"a%2Fb"}));
  EXPECT_EQ(RouteSegments("/v1/users/%zz").status().message().substr(0, 5), "path:");
}

TEST(RequestHead, TheKeyCheckReadsTheRouteFromThePathTheRouterReads) {
  // Native API paths as sent, the rest as normalized.
  EXPECT_EQ(RoutePath("/v1/events/a%2F..%2Ftracker.js", "/v1/tracker.js"), "/v1/events/a%2F..%2Ftracker.js");
  EXPECT_EQ(RoutePath("/x/../healthz", "/healthz"), "/healthz");
}

TEST(RequestHead, AmbiguousBodyLengthsAreFound) {
  EXPECT_FALSE(AmbiguousBodyLength("POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\n"));
  EXPECT_FALSE(AmbiguousBodyLength("POST / HTTP/1.1\r\ncontent-length: 5\r\nContent-Length:5\r\n\r\n"));
  EXPECT_FALSE(AmbiguousBodyLength("POST / HTTP/1.1\r\nContent-Length: 5, 5\r\n\r\n"));
  EXPECT_FALSE(AmbiguousBodyLength("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"));
  // Lines after the head are body, not fields.
  EXPECT_FALSE(AmbiguousBodyLength("POST / HTTP/1.1\nContent-Length: 5\n\nContent-Length: 6\n"));
  auto differ = AmbiguousBodyLength("POST / HTTP/1.1\r\nContent-Length: 5\r\nCONTENT-LENGTH: 6\r\n\r\n");
  ASSERT_TRUE(differ.has_value());
  EXPECT_TRUE(differ->starts_with("content-length: given more than once")) << *differ;
  EXPECT_TRUE(AmbiguousBodyLength("POST / HTTP/1.1\r\nContent-Length: 5,6\r\n\r\n"));
  EXPECT_TRUE(
      AmbiguousBodyLength("\r\n\r\nPOST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n"));
  auto both = AmbiguousBodyLength("POST / HTTP/1.1\nTransfer-Encoding: chunked\nContent-Length: 5\n\n");
  ASSERT_TRUE(both.has_value());
  EXPECT_NE(both->find("transfer-encoding"), std::string::npos);
}

TEST(RequestHead, MediaTypesCompareWithoutCaseOrParameters) {
  EXPECT_TRUE(IsMediaType("application/x-ndjson", "application/x-ndjson"));
  EXPECT_TRUE(IsMediaType("Application/X-NDJSON", "application/x-ndjson"));
  EXPECT_TRUE(IsMediaType(" application/x-ndjson ; charset=utf-8", "application/x-ndjson"));
  EXPECT_FALSE(IsMediaType("application/x-ndjsonx", "application/x-ndjson"));
  EXPECT_FALSE(IsMediaType("application/json", "application/x-ndjson"));
  EXPECT_FALSE(IsMediaType("", "application/x-ndjson"));
}

}  // namespace
}  // namespace tally

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

TEST(RequestHead, V1PathSegmentsArePercentDecoded) {
  auto segments = V1PathSegments("/v1/users/a%2Fb/events");
  ASSERT_TRUE(segments.ok());
  EXPECT_EQ(*segments, (std::vector<std::string>{"users", "a/b", "events"}));
  EXPECT_EQ(*V1PathSegments("/v1/"), (std::vector<std::string>{""}));
  EXPECT_EQ(V1PathSegments("/v1/users/%zz").status().message().substr(0, 5), "path:");
}

TEST(RequestHead, TheKeyCheckReadsTheRouteFromThePathTheRouterReads) {
  // Native API paths as sent, the rest as normalized.
  EXPECT_EQ(RoutePath("/v1/events/a%2F..%2Ftracker.js", "/v1/tracker.js"), "/v1/events/a%2F..%2Ftracker.js");
  EXPECT_EQ(RoutePath("/x/../healthz", "/healthz"), "/healthz");
  EXPECT_EQ(AccessFor("GET", "/v1/events/a%2F..%2F..%2Ftracker.js"), Access::kRead);
  EXPECT_EQ(AccessFor("GET", "/v1/events/a/../../tracker.js"), Access::kRead);
  EXPECT_EQ(AccessFor("PUT", "/v1/schemas/..%2Ftracker.js"), Access::kAdmin);
  EXPECT_EQ(AccessFor("GET", "/v1/%61dmin/digest"), Access::kAdmin);
  EXPECT_EQ(AccessFor("GET", "/v1/tracker.js"), Access::kPublic);
  EXPECT_EQ(AccessFor("GET", "/v1/%74racker.js"), Access::kPublic);
  EXPECT_EQ(AccessFor("GET", "/v1/openapi.json"), Access::kPublic);
  EXPECT_EQ(AccessFor("GET", "/healthz"), Access::kPublic);
  EXPECT_EQ(AccessFor("GET", "/"), Access::kPublic);
  EXPECT_EQ(AccessFor("POST", "/v1/events"), Access::kIngest);
  EXPECT_EQ(AccessFor("POST", "/analytics"), Access::kIngest);
  EXPECT_EQ(AccessFor("GET", "/metrics"), Access::kRead);
  EXPECT_EQ(AccessFor("DELETE", "/v1/schemas/x"), Access::kAdmin);
  EXPECT_EQ(AccessFor("PATCH", "/v1/events"), Access::kAnyKey);
  EXPECT_EQ(AccessFor("GET", "/v1/events/%zz"), Access::kAnyKey);
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

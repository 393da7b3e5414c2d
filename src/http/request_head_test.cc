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

TEST(RequestHead, V1PathSegmentsArePercentDecoded) {
  auto segments = V1PathSegments("/v1/users/a%2Fb/events");
  ASSERT_TRUE(segments.ok());
  EXPECT_EQ(*segments, (std::vector<std::string>{"users", "a/b", "events"}));
  EXPECT_EQ(*V1PathSegments("/v1/"), (std::vector<std::string>{""}));
  EXPECT_EQ(V1PathSegments("/v1/users/%zz").status().message().substr(0, 5), "path:");
}

}  // namespace
}  // namespace tally

#include "http/rate_limiter.h"

#include <gtest/gtest.h>

namespace tally {
namespace {

using std::chrono::milliseconds;

TEST(RateLimiter, ABurstPassesThenTheClientWaitsForTheRate) {
  RateLimiter limiter(100, 100);
  const auto start = RateLimiter::Clock::now();
  EXPECT_FALSE(limiter.TryTake("a", 60, start).has_value());
  EXPECT_FALSE(limiter.TryTake("a", 40, start).has_value());
  auto wait = limiter.TryTake("a", 10, start);
  ASSERT_TRUE(wait.has_value());
  EXPECT_EQ(*wait, milliseconds(100));  // 10 events at 100 per second
  // Refused takes nothing; after the wait it passes.
  EXPECT_FALSE(limiter.TryTake("a", 10, start + milliseconds(100)).has_value());
  // Clients have their own buckets.
  EXPECT_FALSE(limiter.TryTake("b", 100, start).has_value());
}

TEST(RateLimiter, ABatchLargerThanTheBurstPassesOnAFullBucketAndLeavesDebt) {
  RateLimiter limiter(100, 100);
  const auto start = RateLimiter::Clock::now();
  EXPECT_FALSE(limiter.TryTake("a", 300, start).has_value());
  auto wait = limiter.TryTake("a", 1, start);
  ASSERT_TRUE(wait.has_value());
  EXPECT_EQ(*wait, milliseconds(2010));  // 200 in debt, then one more
  EXPECT_TRUE(limiter.TryTake("a", 300, start + milliseconds(2500)).has_value());
  EXPECT_FALSE(limiter.TryTake("a", 300, start + milliseconds(3000)).has_value());
}

TEST(RateLimiter, ZeroMeansNoLimit) {
  RateLimiter limiter(0, 0);
  EXPECT_FALSE(limiter.enabled());
  EXPECT_FALSE(limiter.TryTake("a", 1'000'000'000, RateLimiter::Clock::now()).has_value());
}

}  // namespace
}  // namespace tally

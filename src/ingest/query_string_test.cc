#include "ingest/query_string.h"

#include <gtest/gtest.h>

namespace tally {
namespace {

std::string Decoded(std::string_view encoded) {
  std::string out;
  EXPECT_TRUE(PercentDecode("f", encoded, &out).ok()) << encoded;
  return out;
}

TEST(PercentDecode, DecodesEscapesAndPlus) {
  EXPECT_EQ(Decoded("u%41"), "uA");
  EXPECT_EQ(Decoded("a+b"), "a b");
  EXPECT_EQ(Decoded("%2B%2b"), "++");
  EXPECT_EQ(Decoded("%e2%82%ac"), "\xe2\x82\xac");
  EXPECT_EQ(Decoded("%00"), std::string(1, '\0'));
  EXPECT_EQ(Decoded(""), "");
}

TEST(PercentDecode, APathsPlusIsItself) {
  std::string out;
  ASSERT_TRUE(PercentDecode("path", "a+b%2B%20c", &out, PlusSign::kItself).ok());
  EXPECT_EQ(out, "a+b+ c");
}

TEST(PercentDecode, RejectsBrokenEscapesNamingTheField) {
  for (std::string_view bad : {"%", "%4", "%zz", "a%g1", "%%41"}) {
    std::string out;
    Status status = PercentDecode("user", bad, &out);
    ASSERT_FALSE(status.ok()) << bad;
    EXPECT_EQ(status.message(), "user: invalid percent-encoding");
  }
}

TEST(ParseQueryString, SplitsNamesValuesAndFlagsInOrder) {
  auto params = ParseQueryString("timestamp=1&user=u%41&click&&x=");
  ASSERT_TRUE(params.ok());
  ASSERT_EQ(params->size(), 4u);
  EXPECT_EQ((*params)[0].name, "timestamp");
  EXPECT_EQ((*params)[1].value, "uA");
  EXPECT_EQ((*params)[2].name, "click");
  EXPECT_FALSE((*params)[2].has_equals);
  EXPECT_TRUE((*params)[3].has_equals);
  EXPECT_EQ((*params)[3].value, "");
}

TEST(ParseQueryString, DecodesNamesToo) {
  auto params = ParseQueryString("us%65r=a=b");
  ASSERT_TRUE(params.ok());
  EXPECT_EQ((*params)[0].name, "user");
  EXPECT_EQ((*params)[0].value, "a=b");
}

TEST(ParseQueryString, NamelessParameterIsAnError) {
  EXPECT_FALSE(ParseQueryString("=5").ok());
  EXPECT_FALSE(ParseQueryString("user=%zz").ok());
}

TEST(ParseBoundedInteger, AcceptsTheWholeRangeAndNothingElse) {
  EXPECT_EQ(*ParseBoundedInteger("t", "0", 0, 100), 0);
  EXPECT_EQ(*ParseBoundedInteger("t", "007", 0, 100), 7);
  EXPECT_EQ(*ParseBoundedInteger("t", "100", 0, 100), 100);
  EXPECT_EQ(*ParseBoundedInteger("t", "-5", -10, 10), -5);
  EXPECT_EQ(*ParseBoundedInteger("t", "-9223372036854775808", INT64_MIN, 0), INT64_MIN);
  EXPECT_EQ(ParseBoundedInteger("t", "101", 0, 100).status().message(), "t: out of range (0 to 100)");
  EXPECT_EQ(ParseBoundedInteger("t", "-1", 0, 100).status().message(), "t: out of range (0 to 100)");
  EXPECT_EQ(ParseBoundedInteger("t", "99999999999999999999999", 0, 100).status().message(),
            "t: out of range (0 to 100)");
  for (std::string_view bad : {"1.5", "+1", " 1", "1 ", "0x10", "1e3", "-", "abc"}) {
    EXPECT_EQ(ParseBoundedInteger("t", bad, 0, 100).status().message(), "t: not an integer") << bad;
  }
  EXPECT_EQ(ParseBoundedInteger("t", "", 0, 100).status().message(), "t: empty");
}

}  // namespace
}  // namespace tally

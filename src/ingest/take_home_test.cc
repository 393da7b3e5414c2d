#include "ingest/take_home.h"

#include <gtest/gtest.h>

namespace tally {
namespace {

std::string PostError(std::string_view query) {
  auto event = ParseTakeHomePost(query);
  EXPECT_FALSE(event.ok()) << query;
  return event.ok() ? "" : event.status().message();
}

std::string GetError(std::string_view query) {
  auto timestamp = ParseTakeHomeGet(query);
  EXPECT_FALSE(timestamp.ok()) << query;
  return timestamp.ok() ? "" : timestamp.status().message();
}

TEST(TakeHomePost, EventFormAndFlagFormMeanTheSame) {
  auto event_form = ParseTakeHomePost("timestamp=1793527200000&user=alice&event=click");
  auto flag_form = ParseTakeHomePost("timestamp=1793527200000&user=alice&click");
  ASSERT_TRUE(event_form.ok());
  ASSERT_TRUE(flag_form.ok());
  EXPECT_EQ(*event_form, *flag_form);
  EXPECT_EQ(event_form->type, "click");
  EXPECT_EQ(event_form->user_id, "alice");
  EXPECT_EQ(event_form->timestamp, 1793527200000);
  auto impression = ParseTakeHomePost("impression&user=bob&timestamp=0");
  ASSERT_TRUE(impression.ok());
  EXPECT_EQ(impression->type, "impression");
}

TEST(TakeHomePost, UserIsPercentDecodedAndPlusIsASpace) {
  EXPECT_EQ(ParseTakeHomePost("timestamp=1&user=u%41&event=click")->user_id, "uA");
  EXPECT_EQ(ParseTakeHomePost("timestamp=1&user=a+b&event=click")->user_id, "a b");
  EXPECT_EQ(ParseTakeHomePost("timestamp=1&user=" + std::string(256, 'x') + "&click")->user_id.size(), 256u);
}

TEST(TakeHomePost, EveryBadInputNamesTheParameter) {
  EXPECT_EQ(PostError("user=a&event=click"), "timestamp: missing");
  EXPECT_EQ(PostError("timestamp=&user=a&event=click"), "timestamp: empty");
  EXPECT_EQ(PostError("timestamp=abc&user=a&event=click"), "timestamp: not an integer");
  EXPECT_EQ(PostError("timestamp=1.5&user=a&event=click"), "timestamp: not an integer");
  EXPECT_EQ(PostError("timestamp=-1&user=a&event=click"), "timestamp: out of range (0 to 253402300799999)");
  EXPECT_EQ(PostError("timestamp=253402300800000&user=a&event=click"),
            "timestamp: out of range (0 to 253402300799999)");
  EXPECT_EQ(PostError("timestamp=1&timestamp=2&user=a&event=click"), "timestamp: repeated");
  EXPECT_EQ(PostError("timestamp=1&event=click"), "user: missing");
  EXPECT_EQ(PostError("timestamp=1&user=&event=click"), "user: empty");
  EXPECT_EQ(PostError("timestamp=1&user=a&user=b&event=click"), "user: repeated");
  EXPECT_EQ(PostError("timestamp=1&user=" + std::string(257, 'x') + "&event=click"),
            "user: longer than 256 bytes");
  EXPECT_EQ(PostError("timestamp=1&user=%zz&event=click"), "user: invalid percent-encoding");
  EXPECT_EQ(PostError("timestamp=1&user=a"),
            "event: missing (event=click|impression or a click/impression flag)");
  EXPECT_EQ(PostError("timestamp=1&user=a&event="), "event: empty");
  EXPECT_EQ(PostError("timestamp=1&user=a&event=purchase"), "event: must be click or impression");
  EXPECT_EQ(PostError("timestamp=1&user=a&event=click&event=click"), "event: repeated");
  EXPECT_EQ(PostError("timestamp=1&user=a&event=click&click"), "event: given both as event= and as a flag");
  EXPECT_EQ(PostError("timestamp=1&user=a&click&impression"), "event: both click and impression given");
  EXPECT_EQ(PostError("timestamp=1&user=a&click&click"), "event: repeated");
  EXPECT_EQ(PostError("timestamp=1&user=a&click=yes"), "click: a flag takes no value");
  EXPECT_EQ(PostError("timestamp=1&user=a&click&colour=red"), "colour: unknown parameter");
  EXPECT_EQ(PostError("timestamp=1&user=a&click&%0A=1"), "?: unknown parameter");
}

TEST(TakeHomeGet, ReadsOneTimestamp) {
  EXPECT_EQ(*ParseTakeHomeGet("timestamp=1793530799999"), 1793530799999);
  EXPECT_EQ(*ParseTakeHomeGet("timestamp=0"), 0);
  EXPECT_EQ(GetError(""), "timestamp: missing");
  EXPECT_EQ(GetError("timestamp"), "timestamp: empty");
  EXPECT_EQ(GetError("timestamp=x"), "timestamp: not an integer");
  EXPECT_EQ(GetError("timestamp=1&timestamp=1"), "timestamp: repeated");
  EXPECT_EQ(GetError("timestamp=1&user=a"), "user: unknown parameter");
}

}  // namespace
}  // namespace tally

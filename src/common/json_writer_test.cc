#include "common/json_writer.h"

#include <gtest/gtest.h>
#include <simdjson.h>

namespace tally {
namespace {

std::string Quoted(std::string_view text) {
  std::string out;
  AppendJsonString(text, &out);
  return out;
}

TEST(JsonWriter, EscapesQuotesBackslashesAndControlCharacters) {
  EXPECT_EQ(Quoted("plain"), R"("plain")");
  EXPECT_EQ(Quoted("a\"b\\c"), R"("a\"b\\c")");
  EXPECT_EQ(Quoted("line\nbreak\ttab\r"), R"("line\nbreak\ttab\r")");
  EXPECT_EQ(Quoted(std::string("nul\0x", 5)), R"("nul\u0000x")");
  EXPECT_EQ(Quoted("\x1f"), R"("\u001f")");
}

TEST(JsonWriter, KeepsValidUtf8AndReplacesInvalidBytes) {
  EXPECT_EQ(Quoted("\xe2\x82\xac \xf0\x9f\x98\x80"), "\"\xe2\x82\xac \xf0\x9f\x98\x80\"");
  // Take-home user ids are any bytes after percent-decoding; the JSON must still be valid.
  EXPECT_EQ(Quoted("\xff"), R"("\ufffd")");
  EXPECT_EQ(Quoted("a\xe2\x82"), R"("a\ufffd\ufffd")");          // a truncated sequence
  EXPECT_EQ(Quoted("\xc0\xaf"), R"("\ufffd\ufffd")");            // an overlong encoding
  EXPECT_EQ(Quoted("\xed\xa0\x80"), R"("\ufffd\ufffd\ufffd")");  // a UTF-16 surrogate
}

TEST(JsonWriter, NestingPutsCommasWhereTheyBelong) {
  JsonWriter json;
  json.BeginObject().Key("a").Int(-1).Key("b").BeginArray().Uint(1).String("x").Null().Bool(true);
  json.BeginObject().EndObject().EndArray().Key("c").Raw(R"({"k":[1,2]})").EndObject();
  EXPECT_EQ(json.str(), R"({"a":-1,"b":[1,"x",null,true,{}],"c":{"k":[1,2]}})");
  simdjson::dom::parser parser;
  EXPECT_EQ(parser.parse(json.str()).error(), simdjson::SUCCESS);
}

TEST(JsonWriter, AnyBytesGiveJsonThatParses) {
  std::string all;
  for (int c = 0; c < 256; ++c) all.push_back(static_cast<char>(c));
  JsonWriter json;
  json.BeginObject().Key(all).String(all).EndObject();
  simdjson::dom::parser parser;
  EXPECT_EQ(parser.parse(json.str()).error(), simdjson::SUCCESS) << json.str();
}

}  // namespace
}  // namespace tally

#include "views/dictionary.h"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

namespace tally {
namespace {

// Keys of every length class the blocks hold: short ones, lengths whose varint takes two and three bytes,
// one longer than a block, and the empty key.
std::vector<std::string> SomeKeys() {
  std::vector<std::string> keys;
  for (int i = 0; i < 50'000; ++i) keys.push_back("u" + std::to_string(i * 7919));
  keys.push_back(std::string(127, 'a'));
  keys.push_back(std::string(128, 'a'));
  keys.push_back(std::string(16'384, 'b'));
  keys.push_back(std::string(200'000, 'c'));
  keys.push_back("");
  for (int i = 0; i < 1'000; ++i)
    keys.push_back(std::string(256, static_cast<char>('d' + i % 20)) + std::to_string(i));
  return keys;
}

TEST(Dictionary, NumbersKeysInTheOrderFirstSeenAndGivesThemBack) {
  const std::vector<std::string> keys = SomeKeys();
  Dictionary dictionary;
  for (size_t i = 0; i < keys.size(); ++i) ASSERT_EQ(dictionary.Intern(keys[i]), i) << i;
  ASSERT_EQ(dictionary.size(), keys.size());
  // Interning again, after the set grew many times, gives the same numbers and adds nothing.
  for (size_t i = 0; i < keys.size(); i += 7) ASSERT_EQ(dictionary.Intern(keys[i]), i);
  EXPECT_EQ(dictionary.size(), keys.size());
  for (size_t i = 0; i < keys.size(); ++i) {
    ASSERT_EQ(dictionary.KeyOf(static_cast<uint32_t>(i)), keys[i]) << i;
    ASSERT_EQ(dictionary.Find(keys[i]), i);
  }
  EXPECT_FALSE(dictionary.Find("u1").has_value());
  EXPECT_FALSE(dictionary.Find(std::string(129, 'a')).has_value());
  // A key given back stays where it is while more are added.
  const std::string_view first = dictionary.KeyOf(0);
  for (int i = 0; i < 20'000; ++i) dictionary.Intern("later-" + std::to_string(i));
  EXPECT_EQ(first.data(), dictionary.KeyOf(0).data());
  EXPECT_EQ(first, keys[0]);
}

TEST(Dictionary, AMovedDictionaryKeepsItsKeysAndNumbers) {
  const std::vector<std::string> keys = SomeKeys();
  Dictionary dictionary;
  dictionary.Reserve(keys.size());
  for (const std::string& key : keys) dictionary.Intern(key);
  Dictionary moved = std::move(dictionary);
  for (size_t i = 0; i < keys.size(); ++i) ASSERT_EQ(moved.Find(keys[i]), i);
  EXPECT_EQ(moved.Intern("new"), keys.size());
  Dictionary assigned;
  assigned.Intern("other");
  assigned = std::move(moved);
  EXPECT_EQ(assigned.Find("new"), keys.size());
  EXPECT_FALSE(assigned.Find("other").has_value());
  EXPECT_EQ(assigned.KeyOf(3), keys[3]);
  // What was moved from is empty and takes keys of its own without touching the other's (the state after a
  // move is the point).
  // NOLINTNEXTLINE(bugprone-use-after-move,clang-analyzer-cplusplus.Move)
  EXPECT_EQ(moved.size(), 0u);
  EXPECT_EQ(moved.Intern("again"), 0u);
  assigned.Intern("after");
  EXPECT_EQ(moved.KeyOf(0), "again");
  EXPECT_EQ(assigned.KeyOf(keys.size()), "new");
  EXPECT_EQ(assigned.KeyOf(keys.size() + 1), "after");
  EXPECT_FALSE(assigned.Find("again").has_value());
  // Moved into itself, it stays as it was.
  Dictionary& same = assigned;
  assigned = std::move(same);
  EXPECT_EQ(assigned.KeyOf(3), keys[3]);
  EXPECT_EQ(assigned.Find("after"), keys.size() + 1);
}

}  // namespace
}  // namespace tally

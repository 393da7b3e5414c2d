#include "views/cell.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <memory>
#include <set>
#include <string>
#include <vector>

namespace tally {
namespace {

std::shared_ptr<ColdChunkFile> UnlinkedColdFile() {
  std::string directory = ::testing::TempDir() + "/cell-XXXXXX";
  EXPECT_NE(::mkdtemp(directory.data()), nullptr);
  auto cold = ColdChunkFile::Create(directory);
  ::rmdir(directory.c_str());
  EXPECT_TRUE(cold.ok()) << cold.status().message();
  return cold.ok() ? std::shared_ptr<ColdChunkFile>(std::move(*cold)) : nullptr;
}

// Two cells given the same events, one frozen between them: the same counts and sets all along.
TEST(Cell, FrozenSetsAnswerAsTheHeapsAndAChangeThawsThem) {
  auto cold = UnlinkedColdFile();
  ASSERT_NE(cold, nullptr);
  Cell frozen, plain;
  for (uint32_t user = 0; user < 5000; ++user) {
    frozen.Add(user % 3, user * 7);
    plain.Add(user % 3, user * 7);
  }
  auto moved = frozen.Freeze(cold);
  ASSERT_TRUE(moved.ok()) << moved.status().message();
  EXPECT_TRUE(*moved);
  EXPECT_TRUE(frozen.frozen());
  EXPECT_GT(cold->bytes(), 0u);
  EXPECT_FALSE(*frozen.Freeze(cold));  // frozen already
  ASSERT_TRUE(frozen.frozen_chunk().has_value());
  EXPECT_EQ(frozen.frozen_chunk()->bytes, cold->bytes());
  EXPECT_EQ(frozen.users(), plain.users());
  EXPECT_EQ(frozen.users_by_type(), plain.users_by_type());
  EXPECT_EQ(*frozen.UsersOfType(2), *plain.UsersOfType(2));
  EXPECT_EQ(frozen.UsersOfType(5), nullptr);
  EXPECT_EQ(frozen.events(), plain.events());

  // A late event thaws the sets (the file's place is given back) and counts as on the heap.
  frozen.Add(1, 123'456);
  plain.Add(1, 123'456);
  EXPECT_FALSE(frozen.frozen());
  EXPECT_EQ(cold->bytes(), 0u);
  EXPECT_EQ(frozen.users(), plain.users());
  EXPECT_EQ(frozen.users_by_type(), plain.users_by_type());

  // So does a retraction.
  ASSERT_TRUE(*frozen.Freeze(cold));
  frozen.Remove(0, 0, false, false);
  plain.Remove(0, 0, false, false);
  EXPECT_FALSE(frozen.frozen());
  EXPECT_EQ(frozen.users(), plain.users());
  EXPECT_EQ(frozen.users_by_type(), plain.users_by_type());
  EXPECT_EQ(frozen.EventsOfType(0), plain.EventsOfType(0));

  // Frozen sets go back to the file when the cell goes.
  {
    Cell gone = std::move(frozen);
    ASSERT_TRUE(*gone.Freeze(cold));
    EXPECT_GT(cold->bytes(), 0u);
  }
  EXPECT_EQ(cold->bytes(), 0u);
}

// Events of more users than a fold takes at first, read now and then and some taken back: the sets and
// counts are those of a plain set kept beside, whatever the notes pending when each read comes.
TEST(Cell, SetsAreExactWhateverIsPendingWhenRead) {
  Cell cell;
  std::set<uint32_t> users;
  std::vector<std::set<uint32_t>> users_by_type(3);
  uint64_t events = 0;
  uint64_t random = 88172645463325252ULL;
  for (int i = 0; i < 200'000; ++i) {
    random ^= random << 13, random ^= random >> 7, random ^= random << 17;
    const auto user = static_cast<uint32_t>(random % 90'000 * 3);
    const auto type = static_cast<uint32_t>(random >> 40) % 3;
    cell.Add(type, user);
    users.insert(user);
    users_by_type[type].insert(user);
    ++events;
    if (i % 9'973 == 0) {
      EXPECT_EQ(cell.users().cardinality(), users.size()) << "after " << i + 1 << " events";
      // A user of only this event leaves (the caller tells from the timeline; here, from the sets).
      cell.Remove(type, user, false, false);
      users.erase(user);
      users_by_type[type].erase(user);
      --events;
    }
  }
  EXPECT_EQ(cell.events(), events);
  EXPECT_EQ(cell.users(), Roaring(users.size(), std::vector<uint32_t>(users.begin(), users.end()).data()));
  for (uint32_t type = 0; type < 3; ++type) {
    const std::vector<uint32_t> expected(users_by_type[type].begin(), users_by_type[type].end());
    ASSERT_NE(cell.UsersOfType(type), nullptr);
    EXPECT_EQ(*cell.UsersOfType(type), Roaring(expected.size(), expected.data())) << "type " << type;
  }
}

}  // namespace
}  // namespace tally

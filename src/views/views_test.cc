#include "views/views.h"

#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <map>
#include <random>
#include <set>

namespace tally {
namespace {

constexpr Millis kHourStart = 1793527200000;  // an hour boundary

Event Make(std::string type, std::string user, Millis timestamp) {
  Event event;
  event.type = std::move(type);
  event.user_id = std::move(user);
  event.timestamp = timestamp;
  return event;
}

void Apply(Views& views, LogRecord record) { views.Apply(record, LogPosition{}); }

// Each part of a sealed hour holds the rows it covers as they were sealed (a row retracted since, masked
// from the part, was current then) and its counted rows by user, as the hour's rows by user say.
void ExpectPartsHoldTheirRows(const ShardViews& shard) {
  for (const auto& [hour, data] : shard.hours()) {
    for (const SealedPart& part : data.parts) {
      const RowColumns& columns = part.index->rows;
      ASSERT_EQ(columns.rows(), part.rows.count()) << hour;
      std::set<uint32_t> users;
      for (uint32_t place = 0; place < columns.rows(); ++place) {
        const uint32_t index = part.rows.first + place;
        const EventRow& row = data.rows[index];
        const EventRow read = columns.Row(place);
        const bool masked = std::any_of(data.masked.begin(), data.masked.end(),
                                        [&](const MaskedRow& masked_row) { return masked_row.row == index; });
        EventRow as_sealed = row;
        if (masked) as_sealed.state = RowState::kCurrent;
        EXPECT_EQ(read, as_sealed) << hour << " " << index;
        users.insert(row.user);
      }
      for (uint32_t user : users) {
        std::vector<uint32_t> expected, read;
        data.by_user.ForEachOf(user, [&](uint32_t index) {
          if (index >= part.rows.first && index < part.rows.end) expected.push_back(index - part.rows.first);
        });
        std::sort(expected.begin(), expected.end());
        columns.ForEachOf(user, [&](uint32_t place) { read.push_back(place); });
        EXPECT_EQ(read, expected) << hour << " user " << user;
      }
    }
  }
}

TEST(Views, AnHourHoldsItsFirstAndLastMillisecondAndNothingElse) {
  Views views;
  Apply(views, Make("click", "a", kHourStart - 1));
  Apply(views, Make("click", "b", kHourStart));
  Apply(views, Make("impression", "c", kHourStart + kMillisPerHour - 1));
  Apply(views, Make("click", "d", kHourStart + kMillisPerHour));
  EXPECT_EQ(views.TakeHomeHour(HourOf(kHourStart)), (TakeHomeCounts{2, 1, 1}));
  EXPECT_EQ(views.TakeHomeHour(HourOf(kHourStart) - 1), (TakeHomeCounts{1, 1, 0}));
  EXPECT_EQ(views.TakeHomeHour(HourOf(kHourStart) + 1), (TakeHomeCounts{1, 1, 0}));
}

TEST(Views, AnEmptyHourIsZeros) {
  Views views;
  EXPECT_EQ(views.TakeHomeHour(0), (TakeHomeCounts{0, 0, 0}));
  Apply(views, Make("click", "a", 0));
  EXPECT_EQ(views.TakeHomeHour(HourOf(kMaxTimestampMillis)), (TakeHomeCounts{0, 0, 0}));
}

TEST(Views, OneUserClickingAndViewingIsOneUniqueUser) {
  Views views;
  for (int i = 0; i < 5; ++i) Apply(views, Make("click", "alice", kHourStart + i));
  for (int i = 0; i < 3; ++i) Apply(views, Make("impression", "alice", kHourStart + 100 + i));
  EXPECT_EQ(views.TakeHomeHour(HourOf(kHourStart)), (TakeHomeCounts{1, 5, 3}));
}

TEST(Views, OtherEventTypesCountTowardsUniqueUsersButNotClicksOrImpressions) {
  Views views;
  Apply(views, Make("page_view", "x", kHourStart));
  Apply(views, Make("click", "y", kHourStart));
  EXPECT_EQ(views.TakeHomeHour(HourOf(kHourStart)), (TakeHomeCounts{2, 1, 0}));
}

TEST(Views, RejectedRecordsChangeNoCount) {
  Views views;
  Apply(views, RejectedInput{1, "/analytics", "user: missing", "POST /analytics?x", ""});
  EXPECT_EQ(views.TakeHomeHour(0), (TakeHomeCounts{0, 0, 0}));
  EXPECT_EQ(views.global().rejected().size(), 1u);
  EXPECT_EQ(views.rows(), 0u);
}

TEST(Views, UniqueUsersAreExactAgainstASetOverManyRandomEvents) {
  Views views;
  std::mt19937_64 random(42);
  std::map<int64_t, std::set<std::string>> users_by_hour;
  std::map<int64_t, std::pair<uint64_t, uint64_t>> counts_by_hour;
  for (int i = 0; i < 50'000; ++i) {
    std::string user = "user-" + std::to_string(random() % 7'000);
    Millis timestamp = kHourStart + static_cast<Millis>(random() % (5 * kMillisPerHour));
    bool click = random() % 10 < 3;
    Apply(views, Make(click ? "click" : "impression", user, timestamp));
    users_by_hour[HourOf(timestamp)].insert(user);
    (click ? counts_by_hour[HourOf(timestamp)].first : counts_by_hour[HourOf(timestamp)].second)++;
  }
  for (auto& [hour, users] : users_by_hour) {
    EXPECT_EQ(views.TakeHomeHour(hour),
              (TakeHomeCounts{users.size(), counts_by_hour[hour].first, counts_by_hour[hour].second}));
  }
}

// What a checkpoint folds before its fork, a few hours at a time: every hour once, in order, and the
// answers stay the views' own (with events counted between two steps, as ingest may).
TEST(Views, PendingUsersAreFoldedAFewHoursAtATimeAndAnswersStayTheSame) {
  Views views;
  std::map<int64_t, std::set<std::string>> users_by_hour;
  auto add = [&](int i) {
    const std::string user = "user-" + std::to_string(i % 97);
    const Millis timestamp = kHourStart + (i % 5) * kMillisPerHour + i;
    Apply(views, Make("click", user, timestamp));
    users_by_hour[HourOf(timestamp)].insert(user);
  };
  for (int i = 0; i < 1000; ++i) add(i);
  const ShardViews& shard = views.shard(0);
  std::vector<int64_t> stops;
  for (std::optional<int64_t> next = INT64_MIN; next;) {
    next = shard.FoldPending(*next, 2);
    if (next) stops.push_back(*next);
    add(static_cast<int>(1000 + stops.size()));
  }
  const int64_t first = HourOf(kHourStart);
  EXPECT_EQ(stops, (std::vector<int64_t>{first + 2, first + 4}));
  for (const auto& [hour, users] : users_by_hour)
    EXPECT_EQ(views.TakeHomeHour(hour).unique_users, users.size());
}

// A cell notes its users and folds them into its bitmaps when its buffer fills or when it is read: at
// every point, whatever was added and taken back, it answers what a set would.
TEST(Cell, UsersAreExactWhetherPendingOrFolded) {
  std::mt19937_64 random(7);
  Cell cell;
  std::map<uint32_t, std::multiset<uint32_t>> by_type;  // type -> users, one per event
  auto expect_same = [&](const std::string& where) {
    std::set<uint32_t> all;
    for (const auto& [type, users] : by_type) {
      all.insert(users.begin(), users.end());
      EXPECT_EQ(cell.EventsOfType(type), users.size()) << where;
      const std::set<uint32_t> distinct(users.begin(), users.end());
      const Roaring* of_type = cell.UsersOfType(type);
      EXPECT_EQ(of_type == nullptr ? 0 : of_type->cardinality(), distinct.size()) << where;
      for (uint32_t user : distinct) EXPECT_TRUE(of_type != nullptr && of_type->contains(user)) << where;
    }
    EXPECT_EQ(cell.users().cardinality(), all.size()) << where;
  };
  for (int round = 0; round < 5; ++round) {
    // More than the buffer holds (it folds on its own on the way), or less (the read folds).
    const int adds = round % 2 == 0 ? 2500 : 300;
    for (int i = 0; i < adds; ++i) {
      const auto type = static_cast<uint32_t>(random() % 4);
      const auto user = static_cast<uint32_t>(random() % (round < 3 ? 500 : 200000));
      cell.Add(type, user);
      by_type[type].insert(user);
    }
    expect_same("after adds, round " + std::to_string(round));
    // Take some back, as a correction does, some of them still pending.
    for (uint32_t i = 0; i < 20; ++i) {
      cell.Add(1, 1000000 + i);
      by_type[1].insert(1000000 + i);
    }
    for (int i = 0; i < 50; ++i) {
      const auto type = static_cast<uint32_t>(random() % 4);
      auto& users = by_type[type];
      if (users.empty()) continue;
      auto it = std::next(users.begin(), static_cast<long>(random() % users.size()));
      const uint32_t user = *it;
      users.erase(it);
      bool stays = false;
      for (const auto& [other_type, other_users] : by_type) stays |= other_users.count(user) > 0;
      cell.Remove(type, user, stays, users.count(user) > 0);
    }
    expect_same("after removals, round " + std::to_string(round));
  }
  cell.Settle();
  expect_same("settled");
}

TEST(DimensionIndex, CountsEventsAndDistinctUsersPerKeyAndType) {
  // key 7: type 0 by users 1, 1, 2; type 3 by user 2. key 9: type 0 by user 5. Given in no order.
  DimensionIndex index = DimensionIndex::Build({{9, 0, 5}, {7, 0, 1}, {7, 3, 2}, {7, 0, 2}, {7, 0, 1}});
  ASSERT_EQ(index.key_count(), 2u);
  EXPECT_EQ(index.key_at(0), 7u);
  EXPECT_EQ(index.key_at(1), 9u);
  EXPECT_FALSE(index.Find(8).has_value());
  const size_t seven = *index.Find(7);
  EXPECT_EQ(index.Events(seven, std::nullopt), 4u);
  EXPECT_EQ(index.Events(seven, 0), 3u);
  EXPECT_EQ(index.Events(seven, 3), 1u);
  EXPECT_EQ(index.Events(seven, 1), 0u);
  Roaring users;
  index.AddUsers(seven, std::nullopt, &users);
  EXPECT_EQ(users, Roaring::bitmapOf(2, 1, 2));
  Roaring of_type_three;
  index.AddUsers(seven, 3, &of_type_three);
  EXPECT_EQ(of_type_three, Roaring::bitmapOf(1, 2));
  std::vector<std::pair<uint32_t, size_t>> groups;
  index.ForEachGroup(seven, [&](const DimensionIndex::Group& group) {
    groups.emplace_back(group.type, group.users.size());
  });
  EXPECT_EQ(groups, (std::vector<std::pair<uint32_t, size_t>>{{0, 2}, {3, 1}}));
  EXPECT_EQ(index.Events(*index.Find(9), std::nullopt), 1u);
  // Every key's events in one pass, keys without events of the type left out.
  auto each_key = [&](const DimensionIndex& of, std::optional<uint32_t> type) {
    std::vector<std::pair<uint32_t, uint64_t>> events;
    of.ForEachKeyEvents(type, [&](uint32_t key, uint64_t count) { events.emplace_back(key, count); });
    return events;
  };
  using KeyEvents = std::vector<std::pair<uint32_t, uint64_t>>;
  EXPECT_EQ(each_key(index, std::nullopt), (KeyEvents{{7, 4}, {9, 1}}));
  EXPECT_EQ(each_key(index, 0), (KeyEvents{{7, 3}, {9, 1}}));
  EXPECT_EQ(each_key(index, 3), (KeyEvents{{7, 1}}));
  EXPECT_EQ(each_key(index, 1), KeyEvents{});
  EXPECT_EQ(each_key(DimensionIndex::Build({}), std::nullopt), KeyEvents{});
  EXPECT_EQ(each_key(DimensionIndex(), 0), KeyEvents{});
  EXPECT_EQ(DimensionIndex::Build({}).key_count(), 0u);
  EXPECT_TRUE(index.Fits(10, 4));
  EXPECT_FALSE(index.Fits(9, 4));   // key 9 is not below 9
  EXPECT_FALSE(index.Fits(10, 3));  // type 3 is not below 3
  EXPECT_TRUE(DimensionIndex::Build({}).Fits(0, 0));
}

Event WithDimensions(std::string id, uint32_t version, std::string user, Millis timestamp,
                     std::string product) {
  Event event = Make(version % 2 == 0 ? "click" : "impression", std::move(user), timestamp);
  event.event_id = std::move(id);
  event.version = version;
  event.product_id = std::move(product);
  event.store_id = "store-" + std::to_string(timestamp % 3);
  return event;
}

// Views of `events` random events over five hours (the same for the same seed).
void ApplyRandomEvents(Views* views, uint64_t seed, int events, int ids, int users, int products) {
  std::mt19937_64 random(seed);
  for (int i = 0; i < events; ++i) {
    views->Apply(
        WithDimensions("id-" + std::to_string(random() % ids), 1 + static_cast<uint32_t>(random() % 3),
                       "user-" + std::to_string(random() % users),
                       kHourStart + static_cast<Millis>(random() % (5 * kMillisPerHour)),
                       "product-" + std::to_string(random() % products)),
        LogPosition{0, static_cast<uint32_t>(16 * i)});
  }
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

TEST(Views, SavedViewsLoadBackAndDamagedOnesDoNot) {
  Views views(3);
  ApplyRandomEvents(&views, 11, 3000, 2000, 300, 50);
  std::string saved;
  views.Save(&saved);
  auto loaded = Views::Load(saved, 3);
  ASSERT_TRUE(loaded.ok()) << loaded.status().message();
  EXPECT_EQ((*loaded)->Digest(), views.Digest());

  EXPECT_FALSE(Views::Load(saved, 3, SavedLayout::kFormer).ok());
  EXPECT_FALSE(Views::Load(saved, 2).ok());
  for (size_t cut : {size_t{0}, size_t{3}, saved.size() / 2, saved.size() - 1})
    EXPECT_FALSE(Views::Load(std::string_view(saved).substr(0, cut), 3).ok()) << cut;
}

// testdata/views-format15.bin: these views saved by the code of checkpoint format 15 (rows numbered in
// arrival order per shard, with a chain of each user's rows). Views saved in a layout before today's are
// refused: a start that finds such a checkpoint replays the log instead.
TEST(Views, ViewsSavedInAFormerLayoutAreRefused) {
  const std::string former = ReadFile(TESTDATA_DIR "/views-format15.bin");
  ASSERT_FALSE(former.empty());
  EXPECT_FALSE(Views::Load(former, 3, SavedLayout::kFormer).ok());
  EXPECT_FALSE(Views::Load(former, 3).ok());
}

// Saved views whose rows by user name another user's row (crafted: the checkpoint's checksum is right) load,
// but no timeline shows that row; a note of a row the hour does not have is refused.
TEST(Views, RowsByUserThatNameAnotherUsersRowShowNothingOfIt) {
  Views views(1);
  views.Apply(Make("click", "bob", kHourStart + 1), LogPosition{0, 16});
  views.Apply(Make("click", "alice", kHourStart + 2), LogPosition{0, 32});
  views.Apply(Make("click", "alice", kHourStart + 3), LogPosition{0, 48});
  const ShardViews& shard = views.shard(0);
  const uint32_t alice = *shard.users().Find("alice");
  EXPECT_EQ(shard.Timeline(alice), (std::vector<RowAt>{{HourOf(kHourStart), 1}, {HourOf(kHourStart), 2}}));
  std::string saved;
  views.Save(&saved);
  ASSERT_TRUE(Views::Load(saved, 1).ok());
  // Alice's newest row, as noted, becomes Bob's row, then a row the hour does not have.
  const uint64_t note = uint64_t{alice} << 32 | 2;
  const std::string_view image(reinterpret_cast<const char*>(&note), sizeof note);
  const size_t at = saved.find(image);
  ASSERT_NE(at, std::string::npos);
  ASSERT_EQ(saved.find(image, at + 1), std::string::npos);
  auto crafted = [&](uint64_t crafted_note) {
    std::string bytes = saved;
    std::memcpy(&bytes[at], &crafted_note, sizeof crafted_note);
    return Views::Load(bytes, 1);
  };
  auto bobs_row = crafted(uint64_t{alice} << 32 | 0);
  ASSERT_TRUE(bobs_row.ok()) << bobs_row.status().message();
  EXPECT_EQ((*bobs_row)->shard(0).Timeline(alice), (std::vector<RowAt>{{HourOf(kHourStart), 1}}));
  EXPECT_FALSE(crafted(uint64_t{alice} << 32 | 3).ok());
}

// Saved views with one field of one row out of its range (crafted: the checkpoint's checksum is right) are
// refused: a user, type, product or store the shard does not have, a state that is none, a time outside the
// row's hour, a log position not after the row's before it. The same row with its fields in range loads.
TEST(Views, ARowThatNamesWhatTheShardDoesNotHaveIsRefused) {
  Views views(1);
  views.Apply(Make("click", "alice", kHourStart + 1), LogPosition{0, 16});
  Event with_dimensions = Make("view", "bob", kHourStart + 2);
  with_dimensions.product_id = "p1";
  with_dimensions.store_id = "s1";
  views.Apply(with_dimensions, LogPosition{0, 32});
  views.Apply(Make("click", "alice", kHourStart + 3), LogPosition{0, 48});
  const ShardViews& shard = views.shard(0);
  const int64_t hour = HourOf(kHourStart);
  std::string saved;
  views.Save(&saved);
  ASSERT_TRUE(Views::Load(saved, 1).ok());
  const auto with_field = [&](uint32_t row, size_t offset, const void* value, size_t size) {
    const std::string_view image(reinterpret_cast<const char*>(&shard.Row({hour, row})), sizeof(EventRow));
    const size_t at = saved.find(image);
    EXPECT_NE(at, std::string::npos);
    EXPECT_EQ(saved.find(image, at + 1), std::string::npos);
    std::string crafted = saved;
    std::memcpy(&crafted[at + offset], value, size);
    return crafted;
  };
  const uint32_t two = 2, five = 5, nine = 9, none = kNoDimension;
  const auto bad_state = static_cast<RowState>(7);
  EXPECT_FALSE(Views::Load(with_field(2, offsetof(EventRow, user), &two, 4), 1).ok());
  EXPECT_FALSE(Views::Load(with_field(2, offsetof(EventRow, type), &five, 4), 1).ok());
  EXPECT_FALSE(Views::Load(with_field(1, offsetof(EventRow, product), &nine, 4), 1).ok());
  EXPECT_FALSE(Views::Load(with_field(1, offsetof(EventRow, store), &nine, 4), 1).ok());
  const size_t state_byte = 7;  // the top byte of the timestamp's word (little-endian)
  EXPECT_FALSE(Views::Load(with_field(2, state_byte, &bad_state, 1), 1).ok());
  const uint16_t weeks_earlier = 0;  // the timestamp's third and fourth bytes (0x968d here)
  EXPECT_FALSE(Views::Load(with_field(2, 2, &weeks_earlier, 2), 1).ok());
  const uint64_t earlier = shard.Row({hour, 0}).position;
  EXPECT_FALSE(Views::Load(with_field(1, offsetof(EventRow, position), &earlier, 8), 1).ok());
  // In range: another known user, no product.
  const uint32_t one = 1;
  EXPECT_TRUE(Views::Load(with_field(0, offsetof(EventRow, user), &one, 4), 1).ok());
  EXPECT_TRUE(Views::Load(with_field(1, offsetof(EventRow, product), &none, 4), 1).ok());
}

// A checkpoint is mapped copy-on-write: the loaded rows and hours' row lists stay where the file is
// mapped, take the views' later writes, and leave the file as it was.
TEST(Views, RowsLoadedFromACopyOnWriteMappingAreUsedInPlace) {
  Views views(1);
  ApplyRandomEvents(&views, 5, 12000, 9000, 400, 30);
  std::string saved;
  views.Save(&saved);
  char directory[] = "/tmp/views-test-XXXXXX";
  ASSERT_NE(::mkdtemp(directory), nullptr);
  const std::string path = std::string(directory) + "/saved";
  std::ofstream(path, std::ios::binary).write(saved.data(), static_cast<std::streamsize>(saved.size()));
  {
    auto mapping = MappedFile::Open(path, MappedFile::Reading::kWhole, MappedFile::Writes::kCopiedOnWrite);
    ASSERT_TRUE(mapping.ok()) << mapping.status().message();
    const std::string_view bytes = (*mapping)->bytes();
    auto loaded = Views::Load(bytes, 1, kSavedLayout, *mapping);
    ASSERT_TRUE(loaded.ok()) << loaded.status().message();
    EXPECT_EQ((*loaded)->Digest(), views.Digest());
    auto inside = [&](const void* address) {
      return bytes.data() <= address && address < bytes.data() + bytes.size();
    };
    const ShardViews& shard = (*loaded)->shard(0);
    const auto busiest = std::max_element(shard.hours().begin(), shard.hours().end(), [](auto& a, auto& b) {
      return a.second.rows.size() < b.second.rows.size();
    });
    const auto& rows = busiest->second.rows;
    ASSERT_GT(rows.size(), 2 * rows.kChunkSize);
    EXPECT_TRUE(inside(&rows[0]));
    EXPECT_TRUE(inside(&rows[rows.kChunkSize - 1]));
    EXPECT_FALSE(inside(&rows[rows.size() - 1]));  // the last chunk, not whole, was copied
    EXPECT_GT(mapping->use_count(), 2);

    // Corrections of the first events write to their rows: the answers are those of views that were
    // never saved, the file stays as it was.
    for (Views* target : {loaded->get(), &views}) {
      for (int i = 0; i < 300; ++i) {
        target->Apply(WithDimensions("id-" + std::to_string(i), 9, "user-" + std::to_string(i % 7),
                                     kHourStart + i, "product-1"),
                      LogPosition{1, static_cast<uint32_t>(16 * i)});
      }
    }
    EXPECT_EQ((*loaded)->Digest(), views.Digest());
    EXPECT_EQ(ReadFile(path), saved);
    loaded->reset();
    EXPECT_EQ(mapping->use_count(), 1);  // the rows went with the views
  }
  std::remove(path.c_str());
  ::rmdir(directory);
}

TEST(Views, SealingChangesNoDigestAndARetractionIsMaskedFromTheIndex) {
  Views sealed(3), plain(3);
  std::mt19937_64 random(7);
  for (int i = 0; i < 4000; ++i) {
    const Event event =
        WithDimensions("id-" + std::to_string(random() % 3000), 1 + static_cast<uint32_t>(random() % 3),
                       "user-" + std::to_string(random() % 300),
                       kHourStart + static_cast<Millis>(random() % (4 * kMillisPerHour)),
                       "product-" + std::to_string(random() % 50));
    sealed.Apply(event, LogPosition{0, static_cast<uint32_t>(16 + i)});
    plain.Apply(event, LogPosition{0, static_cast<uint32_t>(16 + i)});
    if (i % 500 == 499) sealed.SealHours(0);
  }
  EXPECT_EQ(sealed.Digest(), plain.Digest());
  for (uint32_t shard = 0; shard < sealed.shard_count(); ++shard)
    ExpectPartsHoldTheirRows(sealed.shard(shard));

  // A correction of an event in a sealed hour is masked from the index of the part that holds it until
  // the part is sealed again. (The hour's parts merged into one first.)
  const Event first = WithDimensions("fresh", 1, "user-1", kHourStart + 5, "product-1");
  sealed.Apply(first, LogPosition{1, 16});
  plain.Apply(first, LogPosition{1, 16});
  for (uint32_t pass = 0; pass < ShardViews::kLateRowsQuietFactor + 2; ++pass) sealed.SealHours(1);
  const ShardViews& shard = sealed.shard(sealed.ShardOf("user-1"));
  const HourData& hour = shard.hours().at(HourOf(kHourStart));
  ASSERT_TRUE(hour.sealed());
  EXPECT_TRUE(hour.SealedWhole());
  const auto first_row = static_cast<uint32_t>(hour.rows.size() - 1);
  const Event second = WithDimensions("fresh", 2, "user-1", kHourStart + 6, "product-2");
  sealed.Apply(second, LogPosition{1, 100});
  plain.Apply(second, LogPosition{1, 100});
  ASSERT_EQ(hour.parts.size(), 1u);
  const std::shared_ptr<const SealedHour> index = hour.parts[0].index;
  ASSERT_EQ(hour.masked.size(), 1u);
  EXPECT_EQ(hour.masked[0].row, first_row);
  EXPECT_EQ(hour.masked[0].part, 0u);
  EXPECT_EQ(shard.hours().at(HourOf(kHourStart)).RowsBesideSeal(), 2u);  // the masked row, the correction's
  EXPECT_EQ(sealed.Digest(), plain.Digest());
  ExpectPartsHoldTheirRows(shard);
  EXPECT_EQ(index->rows.Row(first_row).state, RowState::kCurrent);
  EXPECT_EQ(hour.rows[first_row].state, RowState::kSuperseded);
  // It waits as an hour with a few late rows does (ShardViews::kLateRowsQuietFactor passes), then is
  // sealed anew, without the mask.
  sealed.SealHours(1);
  sealed.SealHours(1);
  ASSERT_EQ(hour.parts.size(), 1u);
  EXPECT_EQ(hour.parts[0].index, index);
  EXPECT_EQ(hour.masked.size(), 1u);
  EXPECT_TRUE(hour.WaitsToMerge());
  EXPECT_EQ(sealed.tiers().late_rows_hours, 1u);
  EXPECT_EQ(sealed.Digest(), plain.Digest());
  for (uint32_t pass = 0; pass < ShardViews::kLateRowsQuietFactor; ++pass) sealed.SealHours(1);
  ASSERT_EQ(hour.parts.size(), 1u);
  EXPECT_NE(hour.parts[0].index, index);
  EXPECT_TRUE(hour.SealedWhole());
  EXPECT_TRUE(hour.masked.empty());
  EXPECT_EQ(sealed.Digest(), plain.Digest());
  ExpectPartsHoldTheirRows(shard);
  EXPECT_EQ(hour.parts[0].index->rows.Row(first_row).state, RowState::kSuperseded);
}

// A row waits in its shard's buffer until it fills or anything reads the hours; either way an hour holds
// its rows in log order and its cell counts exactly what is current, corrections (of rows still waiting
// and of rows folded long ago) and reads in between included.
TEST(Views, AnHourHoldsItsRowsInLogOrderWhetherTheyWaitedOrNot) {
  Views views;
  std::mt19937_64 random(11);
  struct Current {
    std::string user;
    bool click = false;
    int64_t hour = 0;
  };
  std::map<std::string, Current> current;         // by event id
  std::map<int64_t, std::vector<uint64_t>> rows;  // by hour: the positions of its rows, in order
  for (int i = 0; i < 60'000; ++i) {
    // Mostly new ids; some re-sent (a duplicate, counted nowhere) or corrected (version 2, a new row).
    const bool again = i > 0 && random() % 20 == 0;
    const std::string id = "id-" + std::to_string(again ? random() % i : i);
    const uint32_t version = again && random() % 2 == 0 ? 2 : 1;
    const Millis timestamp = kHourStart + static_cast<Millis>(random() % (400 * kMillisPerHour));
    const Event event =
        WithDimensions(id, version, "user-" + std::to_string(random() % 5000), timestamp, "p");
    const LogPosition position{0, 16 + static_cast<uint32_t>(i)};
    const ApplyOutcome outcome = views.Apply(event, position);
    rows[HourOf(timestamp)].push_back(position.Packed());
    if (outcome == ApplyOutcome::kDuplicate) continue;
    current[id] = Current{event.user_id, version % 2 == 0, HourOf(timestamp)};
    if (i % 7919 == 0) {  // a read now and then folds what waits
      EXPECT_EQ(views.shard(0).hours().at(HourOf(timestamp)).rows.size(), rows[HourOf(timestamp)].size());
    }
  }
  std::map<int64_t, std::set<std::string>> users;
  std::map<int64_t, TakeHomeCounts> counts;
  for (const auto& [id, event] : current) {
    users[event.hour].insert(event.user);
    ++(event.click ? counts[event.hour].clicks : counts[event.hour].impressions);
  }
  const auto& hours = views.shard(0).hours();
  ASSERT_EQ(hours.size(), rows.size());
  for (const auto& [hour, expected] : rows) {
    const HourData& data = hours.at(hour);
    std::vector<uint64_t> positions;
    for (const EventRow& row : data.rows) positions.push_back(row.position);
    EXPECT_EQ(positions, expected) << hour;
    counts[hour].unique_users = users[hour].size();
    EXPECT_EQ(views.TakeHomeHour(hour), counts[hour]) << hour;
  }
}

// A function that applies its argument's number of new events to `views`, numbered on from call to call:
// event n is `prefix`n, of user n % `users` and product n % `products`, n ms into the first hour.
auto EventsIntoTheFirstHour(Views* views, std::string prefix, int users, int products) {
  return [=, next = 0](int count) mutable {
    for (int i = 0; i < count; ++i, ++next) {
      views->Apply(WithDimensions(prefix + std::to_string(next), 1, "user-" + std::to_string(next % users),
                                  kHourStart + next, "product-" + std::to_string(next % products)),
                   LogPosition{0, static_cast<uint32_t>(16 + next)});
    }
  };
}

TEST(Views, ABusyHourIsSealedEachTimeItsUnsealedRowsDouble) {
  Views views;
  ShardViews& shard = views.shard_to_seal(0);
  const int64_t hour = HourOf(kHourStart);
  auto apply = EventsIntoTheFirstHour(&views, "b", 9, 5);
  constexpr uint32_t kNeverQuiet = 1'000'000;
  apply(63);
  shard.SealHours(kNeverQuiet, 64);
  EXPECT_FALSE(shard.hours().at(hour).sealed());  // 63 rows: fewer than 64
  apply(37);
  shard.SealHours(kNeverQuiet, 64);
  EXPECT_EQ(shard.hours().at(hour).sealed_rows(), 100u);
  apply(99);
  shard.SealHours(kNeverQuiet, 64);
  EXPECT_EQ(shard.hours().at(hour).sealed_rows(), 100u);  // 99 new rows: fewer than the 100 sealed
  apply(1);
  shard.SealHours(kNeverQuiet, 64);
  EXPECT_EQ(shard.hours().at(hour).sealed_rows(), 200u);
  shard.SealHours(kNeverQuiet, 0);  // busy sealing off, nothing quiet: nothing happens
  EXPECT_EQ(shard.hours().at(hour).sealed_rows(), 200u);
}

// A sealed hour that receives a few late events (at most 1 row in 32 of its seal's) is not sealed again at
// the usual quiet: its late rows are scanned beside the index, and it waits 60 times as long, so a trickle
// of late events does not seal the whole hour again for each. More late rows become a part of their own
// at the usual quiet, merged with the last parts while those hold at most twice as many rows; an hour in
// several parts waits 60 times as long, then its parts are merged into one. Answers count every part and
// every row beside them all along.
TEST(Views, LateRowsWaitBesideTheSealOrBecomeAPartAndTheHoursPartsAreMergedLater) {
  Views views;
  ShardViews& shard = views.shard_to_seal(0);
  const int64_t hour = HourOf(kHourStart);
  auto apply = EventsIntoTheFirstHour(&views, "l", 40, 3);
  const HourData& data = [&]() -> const HourData& {
    apply(64);
    return shard.hours().at(hour);
  }();
  constexpr uint32_t kQuiet = 2;
  auto passes = [&](int count) {
    for (int i = 0; i < count; ++i) shard.SealHours(kQuiet);
  };
  auto tiers = [&] {
    const Views::Tiers t = views.tiers();
    return std::vector<uint64_t>{t.hot_hours, t.sealed_hours, t.late_rows_hours, t.sealed_parts};
  };
  using Parts = std::vector<std::pair<uint32_t, uint32_t>>;
  auto parts = [&] {
    Parts rows;
    for (const SealedPart& part : data.parts) rows.emplace_back(part.rows.first, part.rows.end);
    return rows;
  };
  // The events and users by product of the parts' indexes and the rows after them together: every row's.
  auto parts_answer_as_the_rows_do = [&] {
    const SealedHour rebuilt = shard.BuildSealedHour(hour);
    for (uint32_t product = 0; product < 3; ++product) {
      uint64_t events = 0;
      Roaring users;
      for (const SealedPart& part : data.parts) {
        if (auto at = part.index->by_product.Find(product)) {
          events += part.index->by_product.Events(*at, std::nullopt);
          part.index->by_product.AddUsers(*at, std::nullopt, &users);
        }
      }
      for (uint32_t i = data.sealed_rows(); i < data.rows.size(); ++i) {
        const EventRow& row = data.rows[i];
        if (row.state != RowState::kCurrent || row.product != product) continue;
        ++events;
        users.add(row.user);
      }
      const size_t at = *rebuilt.by_product.Find(product);
      EXPECT_EQ(events, rebuilt.by_product.Events(at, std::nullopt)) << product;
      Roaring expected_users;
      rebuilt.by_product.AddUsers(at, std::nullopt, &expected_users);
      EXPECT_EQ(users, expected_users) << product;
    }
    ExpectPartsHoldTheirRows(shard);
  };
  passes(kQuiet + 1);
  ASSERT_EQ(parts(), (Parts{{0, 64}}));
  EXPECT_EQ(tiers(), (std::vector<uint64_t>{0, 1, 0, 1}));

  apply(2);  // 2 late rows: 64 / 32
  EXPECT_EQ(tiers(), (std::vector<uint64_t>{1, 0, 0, 1}));
  passes(kQuiet + 1);  // quiet, but they wait
  EXPECT_EQ(parts(), (Parts{{0, 64}}));
  EXPECT_TRUE(data.WaitsToMerge());
  EXPECT_EQ(tiers(), (std::vector<uint64_t>{0, 0, 1, 1}));
  parts_answer_as_the_rows_do();
  passes(ShardViews::kLateRowsQuietFactor * kQuiet - kQuiet - 1);
  EXPECT_EQ(parts(), (Parts{{0, 64}}));  // quiet for 60 x 2 passes but one: still waiting
  passes(1);
  EXPECT_EQ(parts(), (Parts{{0, 66}}));
  EXPECT_EQ(tiers(), (std::vector<uint64_t>{0, 1, 0, 1}));

  apply(1);  // a late row again: waiting, then another late row ends the wait's quiet and restarts it
  passes(kQuiet + 1);
  EXPECT_TRUE(data.WaitsToMerge());
  apply(1);
  EXPECT_EQ(tiers(), (std::vector<uint64_t>{1, 0, 0, 1}));  // (a read folds the rows in: then it is hot)
  passes(kQuiet + 1);
  EXPECT_EQ(parts(), (Parts{{0, 66}}));
  EXPECT_TRUE(data.WaitsToMerge());

  apply(1);  // 3 late rows: more than 66 / 32, a part of their own at the usual quiet
  passes(kQuiet);
  EXPECT_EQ(parts(), (Parts{{0, 66}}));
  passes(1);
  EXPECT_EQ(parts(), (Parts{{0, 66}, {66, 69}}));
  EXPECT_EQ(tiers(), (std::vector<uint64_t>{0, 1, 0, 2}));
  parts_answer_as_the_rows_do();

  apply(3);  // 3 more: the last part's 3 are no more than twice as many, merged with them
  passes(kQuiet + 1);
  EXPECT_EQ(parts(), (Parts{{0, 66}, {66, 72}}));
  apply(9);  // 9 more: the last part's 6 and these, 15, are fewer than half the first part's 66
  passes(kQuiet + 1);
  EXPECT_EQ(parts(), (Parts{{0, 66}, {66, 81}}));
  parts_answer_as_the_rows_do();

  // The hour waits in parts 60 times the quiet, then they are merged into one.
  EXPECT_TRUE(data.WaitsToMerge());
  passes(ShardViews::kLateRowsQuietFactor * kQuiet - kQuiet - 1);
  EXPECT_EQ(parts(), (Parts{{0, 66}, {66, 81}}));
  passes(1);
  EXPECT_EQ(parts(), (Parts{{0, 81}}));
  EXPECT_EQ(tiers(), (std::vector<uint64_t>{0, 1, 0, 1}));
  parts_answer_as_the_rows_do();

  apply(41);  // 41 late rows: at least half the 81 sealed, merged with them at once
  passes(kQuiet + 1);
  EXPECT_EQ(parts(), (Parts{{0, 122}}));
  apply(10);  // with no quiet asked for (--seal-after 0), the next pass seals them
  shard.SealHours(0);
  EXPECT_EQ(parts(), (Parts{{0, 122}, {122, 132}}));
  parts_answer_as_the_rows_do();
}

// Hours quiet at once (a backfill) are sealed oldest first, as many per pass as fit in the rows allowed
// (always one, however large), the others at the next passes.
TEST(Views, APassSealsHoursUpToTheRowsAllowedAndLeavesTheRestForTheNext) {
  Views views;
  ShardViews& shard = views.shard_to_seal(0);
  for (int i = 0; i < 50; ++i) {  // 10 rows in each of 5 hours
    views.Apply(WithDimensions("q" + std::to_string(i), 1, "user-" + std::to_string(i % 7),
                               kHourStart + (i % 5) * kMillisPerHour, "product-1"),
                LogPosition{0, static_cast<uint32_t>(16 + i)});
  }
  const int64_t first = HourOf(kHourStart);
  auto sealed_hours = [&] {
    std::vector<int64_t> hours;
    for (const auto& [hour, data] : shard.hours()) {
      if (data.sealed()) hours.push_back(hour - first);
    }
    return hours;
  };
  auto seal = [&](uint64_t max_rows) {
    std::vector<SealJob> jobs = shard.CollectSealJobs(0, 0, max_rows);
    for (SealJob& job : jobs) job.Build();
    shard.InstallSealed(jobs);
  };
  // A job whose hour saw a retraction since it was collected is not installed.
  {
    std::vector<SealJob> jobs = shard.CollectSealJobs(0, 0, 1);
    ASSERT_EQ(jobs.size(), 1u);
    jobs[0].Build();
    views.Apply(WithDimensions("q0", 2, "user-0", kHourStart, "product-2"), LogPosition{1, 16});
    EXPECT_EQ(shard.InstallSealed(jobs), std::vector<bool>{false});
    EXPECT_TRUE(sealed_hours().empty());
  }
  seal(25);  // two hours make 20 rows, the third reaches 30
  EXPECT_EQ(sealed_hours(), (std::vector<int64_t>{0, 1, 2}));
  seal(1);
  EXPECT_EQ(sealed_hours(), (std::vector<int64_t>{0, 1, 2, 3}));
  seal(UINT64_MAX);
  EXPECT_EQ(sealed_hours(), (std::vector<int64_t>{0, 1, 2, 3, 4}));
}

TEST(Views, ASealedFileNamingAProductTheShardDoesNotHaveIsNotInstalled) {
  Views views;
  views.Apply(WithDimensions("a", 1, "user-1", kHourStart, "product-1"), LogPosition{0, 16});
  ShardViews& shard = views.shard_to_seal(0);
  const int64_t hour = HourOf(kHourStart);
  const uint64_t digest = shard.RowsDigest(hour, 0, 1);
  auto fitting = std::make_shared<SealedHour>(shard.BuildSealedHour(hour));
  auto foreign = std::make_shared<SealedHour>(*fitting);
  foreign->by_product = DimensionIndex::Build({{7, 0, 0}});  // product 7: the shard has one product
  EXPECT_FALSE(shard.InstallSealedFile(hour, {{0, 1, digest}, foreign}));
  EXPECT_FALSE(shard.InstallSealedFile(hour, {{0, 1, digest + 1}, fitting}));
  EXPECT_FALSE(shard.InstallSealedFile(hour, {{0, 2, digest}, fitting}));
  EXPECT_FALSE(shard.InstallSealedFile(hour, {{1, 1, digest}, fitting}));  // (no rows)
  EXPECT_TRUE(shard.InstallSealedFile(hour, {{0, 1, digest}, fitting}));
  ASSERT_EQ(shard.hours().at(hour).parts.size(), 1u);
  EXPECT_EQ(shard.hours().at(hour).parts[0].index, fitting);
}

// Saved views note each part of an hour's seal and the rows masked from it. Views loaded from them and
// saved again before every part's file is installed (a checkpoint while a start installs the files) still
// note the parts not installed yet, with their masks.
TEST(Views, PartsNotedInSavedViewsStayNotedUntilTheirFilesAreInstalled) {
  Views views;
  ShardViews& shard = views.shard_to_seal(0);
  const int64_t hour = HourOf(kHourStart);
  auto apply = EventsIntoTheFirstHour(&views, "n", 9, 4);
  apply(64);
  shard.SealHours(0);
  apply(10);  // more than 64 / 32: a part of their own
  shard.SealHours(0);
  // A correction of an event of the second part (the same user): its row there is masked.
  views.Apply(WithDimensions("n70", 2, "user-" + std::to_string(70 % 9), kHourStart + 70, "product-x"),
              LogPosition{1, 16});
  const HourData& sealed = shard.hours().at(hour);
  ASSERT_EQ(sealed.parts.size(), 2u);
  ASSERT_EQ(sealed.masked.size(), 1u);
  EXPECT_EQ(sealed.masked[0].part, 1u);
  const HourData::Seal expected = sealed.SealToNote();
  ASSERT_EQ(expected.parts.size(), 2u);
  ASSERT_EQ(expected.masked_rows.size(), 1u);
  std::string saved;
  views.Save(&saved);
  auto loaded = Views::Load(saved, 1);
  ASSERT_TRUE(loaded.ok()) << loaded.status().message();
  ShardViews& loaded_shard = (*loaded)->shard_to_seal(0);
  auto notes = [&] {
    const HourData::Seal seal = loaded_shard.hours().at(hour).SealToNote();
    return std::make_pair(seal.parts, seal.masked_rows);
  };
  EXPECT_EQ(notes(), std::make_pair(expected.parts, expected.masked_rows));
  // The first part installed: the second is still noted, with its mask.
  EXPECT_TRUE(loaded_shard.InstallSealedFile(hour, sealed.parts[0]));
  EXPECT_EQ(notes(), std::make_pair(expected.parts, expected.masked_rows));
  EXPECT_EQ(loaded_shard.HowSealedFileFits(hour, sealed.parts[1].rows, *sealed.parts[1].index),
            SealedFileFit::kAsNoted);
  EXPECT_TRUE(loaded_shard.InstallSealedFile(hour, sealed.parts[1]));
  EXPECT_EQ(notes(), std::make_pair(expected.parts, expected.masked_rows));
  ASSERT_EQ(loaded_shard.hours().at(hour).masked.size(), 1u);
  EXPECT_EQ(loaded_shard.hours().at(hour).masked[0].part, 1u);
  // Loaded again, the first part installed, then a row of the hour retracted: only what is installed is
  // noted, and the second part's file is told by the digest of its rows, which its masked row's
  // retraction changed: it no longer fits.
  auto again = Views::Load(saved, 1);
  ASSERT_TRUE(again.ok()) << again.status().message();
  ShardViews& again_shard = (*again)->shard_to_seal(0);
  EXPECT_TRUE(again_shard.InstallSealedFile(hour, sealed.parts[0]));
  (*again)->Apply(WithDimensions("n3", 2, "user-3", kHourStart + 3, "product-x"), LogPosition{1, 32});
  const HourData::Seal noted = again_shard.hours().at(hour).SealToNote();
  EXPECT_EQ(noted.parts, std::vector<PartRows>{sealed.parts[0].rows});
  EXPECT_EQ(noted.masked_rows.size(), 1u);  // the row retracted now, of the first part
  EXPECT_FALSE(again_shard.InstallSealedFile(hour, sealed.parts[1]));
}

// Saved views note each sealed hour's rows and their digest: loaded, they vouch for a file of that seal
// without a digest of the rows, until a row of the hour is retracted.
TEST(Views, ASealNotedInSavedViewsVouchesForItsFileUntilARowOfTheHourIsRetracted) {
  Views views(1);
  ApplyRandomEvents(&views, 31, 3000, 2000, 300, 50);
  const Millis first_hour_event = kHourStart + 17;
  views.Apply(WithDimensions("moved-later", 1, "user-1", first_hour_event, "product-1"), LogPosition{1, 16});
  views.shard_to_seal(0).SealHours(0);
  std::string saved;
  views.Save(&saved);
  auto loaded = Views::Load(saved, 1);
  ASSERT_TRUE(loaded.ok()) << loaded.status().message();
  ShardViews& shard = (*loaded)->shard_to_seal(0);
  const auto& sealed_hours = views.shard(0).hours();
  ASSERT_EQ(sealed_hours.size(), 5u);
  auto fit = [&](int64_t hour, uint64_t digest_change = 0) {
    const SealedPart& part = sealed_hours.at(hour).parts.at(0);
    PartRows rows = part.rows;
    rows.digest += digest_change;
    return shard.HowSealedFileFits(hour, rows, *part.index);
  };
  for (const auto& [hour, data] : sealed_hours) {
    ASSERT_EQ(data.parts.size(), 1u);
    EXPECT_EQ(data.parts[0].rows.digest, views.shard(0).RowsDigest(hour, 0, data.sealed_rows()));
    EXPECT_EQ(shard.hours().at(hour).noted_seal.parts, std::vector<PartRows>{data.parts[0].rows});
    EXPECT_EQ(fit(hour), SealedFileFit::kAsNoted) << hour;
    EXPECT_EQ(fit(hour, 1), SealedFileFit::kNo) << hour;
  }
  // A correction moves an event of the first hour to the last: its row in the first hour is retracted.
  (*loaded)->Apply(WithDimensions("moved-later", 2, "user-1", kHourStart + 4 * kMillisPerHour, "product-1"),
                   LogPosition{1, 32});
  const int64_t first = HourOf(first_hour_event);
  EXPECT_EQ(fit(first), SealedFileFit::kNo);
  for (const auto& [hour, data] : sealed_hours) {
    if (hour != first) {
      EXPECT_EQ(fit(hour), SealedFileFit::kAsNoted) << hour;  // (a row added: not changed)
    }
  }
  // Views not loaded from saved ones note nothing: a file is told by the digest of its rows.
  auto fresh = std::make_unique<Views>(1);
  ApplyRandomEvents(fresh.get(), 31, 3000, 2000, 300, 50);
  fresh->Apply(WithDimensions("moved-later", 1, "user-1", first_hour_event, "product-1"), LogPosition{1, 16});
  EXPECT_EQ(fresh->shard_to_seal(0).HowSealedFileFits(first, sealed_hours.at(first).parts[0].rows,
                                                      *sealed_hours.at(first).parts[0].index),
            SealedFileFit::kByDigest);
}

// A log of records at positions 64 to a segment, applied to views from record `first` on.
struct RecordLog {
  std::vector<LogRecord> records;
  static LogPosition PositionOf(size_t index) {
    return {static_cast<uint32_t>(index / 64), static_cast<uint32_t>(16 + (index % 64) * 8)};
  }
  void ApplyTo(Views& views, size_t first = 0) const {
    for (size_t i = first; i < records.size(); ++i) views.Apply(records[i], PositionOf(i));
  }
  // The first record of the segment that holds `packed_position`: where a log trimmed to it starts.
  static size_t FirstOfSegment(uint64_t packed_position) {
    return static_cast<size_t>(LogPosition::Unpack(packed_position).segment) * 64;
  }
};

TEST(Views, RetentionDropsOldHoursAndAReplayOfTheTrimmedLogAgrees) {
  std::mt19937_64 random(11);
  const int64_t first_hour = HourOf(kHourStart);
  const int64_t first_kept_hour = first_hour + 5;
  RecordLog log;
  // An id's event time never changes (corrections move products): every row of an id falls in one hour.
  auto event = [&](int64_t hour_from, int64_t hours) {
    const uint64_t id = random() % 2000;
    const Millis timestamp =
        (hour_from + static_cast<int64_t>(id % static_cast<uint64_t>(hours))) * kMillisPerHour +
        static_cast<Millis>(id * 997 % kMillisPerHour);
    return WithDimensions("id-" + std::to_string(hour_from) + "-" + std::to_string(id),
                          1 + static_cast<uint32_t>(random() % 3), "user-" + std::to_string(random() % 150),
                          timestamp, "product-" + std::to_string(random() % 40));
  };
  log.records.push_back(SchemaChange{kHourStart, "signup", R"({"required":["plan"]})"});
  for (int i = 0; i < 3000; ++i) log.records.push_back(event(first_hour, 5));
  for (int i = 0; i < 500; ++i) log.records.push_back(event(first_kept_hour, 5));
  log.records.push_back(RejectedInput{kHourStart + kMillisPerHour, "/v1/events", "type: missing", "{}", ""});
  log.records.push_back(RejectedInput{(first_kept_hour + 1) * kMillisPerHour, "/v1/events", "x", "{}", ""});
  const size_t cut_at = log.records.size();
  log.records.push_back(RetentionCut{(first_kept_hour + 2) * kMillisPerHour, first_kept_hour});
  for (int i = 0; i < 1000; ++i) log.records.push_back(event(first_kept_hour, 5));

  Views full(3);
  log.ApplyTo(full);
  EXPECT_EQ(full.global().first_kept_hour(), first_kept_hour);
  ASSERT_TRUE(full.OldestHour().has_value());
  EXPECT_GE(*full.OldestHour(), first_kept_hour);
  for (int64_t hour = first_hour; hour < first_kept_hour; ++hour)
    EXPECT_EQ(full.TakeHomeHour(hour), (TakeHomeCounts{0, 0, 0}));
  EXPECT_EQ(full.global().rejected().size(), 1u);
  // The hours kept answer as if nothing had been dropped.
  Views uncut(3);
  for (size_t i = 0; i < log.records.size(); ++i) {
    if (i != cut_at) uncut.Apply(log.records[i], RecordLog::PositionOf(i));
  }
  uint64_t kept_events = 0;
  for (int64_t hour = first_kept_hour; hour < first_hour + 10; ++hour) {
    EXPECT_EQ(full.TakeHomeHour(hour), uncut.TakeHomeHour(hour)) << hour;
    kept_events += full.TakeHomeHour(hour).clicks + full.TakeHomeHour(hour).impressions;
  }
  EXPECT_GT(kept_events, 1000u);

  // The schema set first would keep the first segment: said again, the segments before the rows kept go.
  const std::optional<uint64_t> rows_needed = full.FirstPositionNeeded(false);
  ASSERT_TRUE(rows_needed.has_value());
  const std::vector<SchemaChange> restated =
      full.SchemasSetBefore(LogPosition{LogPosition::Unpack(*rows_needed).segment, 0}.Packed());
  ASSERT_EQ(restated.size(), 1u);
  EXPECT_EQ(restated[0].received_at, kHourStart);
  for (const SchemaChange& change : restated) {
    log.records.push_back(change);
    full.Apply(RecordView(change), RecordLog::PositionOf(log.records.size() - 1));
  }
  const std::optional<uint64_t> needed = full.FirstPositionNeeded();
  ASSERT_TRUE(needed.has_value());
  const size_t trimmed_from = RecordLog::FirstOfSegment(*needed);
  EXPECT_GT(trimmed_from, 0u);
  EXPECT_LE(trimmed_from, cut_at);

  Views trimmed(3);
  log.ApplyTo(trimmed, trimmed_from);
  EXPECT_EQ(trimmed.Digest(), full.Digest());
  EXPECT_EQ(trimmed.global().schemas().at("signup").updated_at, kHourStart);
  // A trimmed log that lost a record the views still need gives other answers.
  Views overtrimmed(3);
  log.ApplyTo(overtrimmed, trimmed_from + 64);
  EXPECT_NE(overtrimmed.Digest(), full.Digest());

  std::string saved;
  full.Save(&saved);
  auto loaded = Views::Load(saved, 3);
  ASSERT_TRUE(loaded.ok()) << loaded.status().message();
  EXPECT_EQ((*loaded)->Digest(), full.Digest());
  EXPECT_EQ((*loaded)->FirstPositionNeeded(), needed);
  EXPECT_EQ((*loaded)->global().first_kept_hour(), first_kept_hour);
}

TEST(Views, TheIdOfADroppedEventIsForgotten) {
  Views views(2);
  const int64_t hour = HourOf(kHourStart);
  views.Apply(WithDimensions("a", 1, "user-1", kHourStart, "p"), LogPosition{0, 16});
  views.Apply(WithDimensions("b", 1, "user-2", kHourStart, "p"), LogPosition{0, 24});
  // A correction moved "b" into a kept hour before the cut: it stays known.
  EXPECT_EQ(
      views.Apply(WithDimensions("b", 2, "user-2", kHourStart + 2 * kMillisPerHour, "p"), LogPosition{0, 28}),
      ApplyOutcome::kCorrection);
  views.Apply(RecordView(RetentionCut{kHourStart + 3 * kMillisPerHour, hour + 1}), LogPosition{0, 32});
  EXPECT_TRUE(views.RowsOfId("a").empty());
  EXPECT_EQ(views.RowsOfId("b").size(), 1u);  // its dropped first version is not listed
  EXPECT_EQ(
      views.Apply(WithDimensions("b", 2, "user-2", kHourStart + 2 * kMillisPerHour, "p"), LogPosition{0, 40}),
      ApplyOutcome::kDuplicate);
  // "a" sent again for a kept hour is a new event; its correction replaces it.
  EXPECT_EQ(
      views.Apply(WithDimensions("a", 1, "user-1", kHourStart + 2 * kMillisPerHour, "p"), LogPosition{0, 48}),
      ApplyOutcome::kAccepted);
  EXPECT_EQ(
      views.Apply(WithDimensions("a", 2, "user-1", kHourStart + 2 * kMillisPerHour, "p"), LogPosition{0, 64}),
      ApplyOutcome::kCorrection);
  EXPECT_EQ(views.TakeHomeHour(hour), (TakeHomeCounts{0, 0, 0}));
  EXPECT_EQ(views.TakeHomeHour(hour + 2), (TakeHomeCounts{2, 2, 0}));
  EXPECT_EQ(views.RowsOfId("a").size(), 2u);
  const ShardViews& shard = views.shard(views.ShardOf("user-1"));
  EXPECT_EQ(shard.Timeline(*shard.users().Find("user-1")).size(), 1u);
}

// Rows of dropped hours leave their users' timelines, whatever rows came before or after them (one dated
// far ahead, corrections across the cut), and a saved and loaded copy agrees.
TEST(Views, DroppedRowsLeaveTimelines) {
  Views views;
  const int64_t hour = HourOf(kHourStart);
  uint32_t next = 0;
  auto apply = [&](const Event& event) { return views.Apply(event, LogPosition{0, 16 + 8 * next++}); };
  apply(WithDimensions("old-1", 1, "user-1", kHourStart, "p"));
  apply(WithDimensions("ahead", 1, "user-1", kMaxTimestampMillis, "p"));  // the first row no cut drops
  for (int i = 0; i < 50; ++i) {
    apply(WithDimensions("old-" + std::to_string(i + 2), 1, "user-1", kHourStart + i, "p"));
    apply(WithDimensions("kept-" + std::to_string(i), 1, "user-1", kHourStart + 2 * kMillisPerHour + i, "p"));
  }
  // Corrections: one from a dropped hour into a kept one, one the other way.
  apply(WithDimensions("old-3", 2, "user-1", kHourStart + 3 * kMillisPerHour, "p"));
  apply(WithDimensions("kept-4", 2, "user-1", kHourStart + 10, "p"));
  views.Apply(RecordView(RetentionCut{kHourStart + 3 * kMillisPerHour, hour + 1}), LogPosition{1, 16});
  const ShardViews& shard = views.shard(views.ShardOf("user-1"));
  const uint32_t user = *shard.users().Find("user-1");
  std::vector<RowAt> timeline = shard.Timeline(user);
  ASSERT_EQ(timeline.size(), 51u);  // 49 kept, "old-3" moved into a kept hour, "ahead"
  for (RowAt at : timeline) EXPECT_GE(at.hour, hour + 1);
  EXPECT_GT(shard.hours().begin()->first, hour);
  // Another correction after the cut.
  EXPECT_EQ(apply(WithDimensions("kept-5", 2, "user-1", kHourStart + 2 * kMillisPerHour + 5, "p")),
            ApplyOutcome::kCorrection);
  std::string saved;
  views.Save(&saved);
  auto loaded = Views::Load(saved, 1);
  ASSERT_TRUE(loaded.ok()) << loaded.status().message();
  const ShardViews& again = (*loaded)->shard(0);
  EXPECT_EQ(again.Timeline(user), shard.Timeline(user));
  EXPECT_EQ((*loaded)->Digest(), views.Digest());
}

TEST(Views, RowsOfDroppedHoursGoAndTheirIdsAreForgotten) {
  Views views;
  const int64_t hour = HourOf(kHourStart);
  uint32_t next = 0;
  auto apply = [&](const LogRecord& record) {
    return views.Apply(record, LogPosition{next / 1000, 16 + next++ % 1000});
  };
  for (int i = 0; i < 10'000; ++i)
    apply(
        WithDimensions("old-" + std::to_string(i), 1, "user-" + std::to_string(i % 99), kHourStart + i, "p"));
  for (int i = 0; i < 100; ++i)
    apply(WithDimensions("new-" + std::to_string(i), 1, "user-" + std::to_string(i),
                         kHourStart + kMillisPerHour, "p"));
  apply(RetentionCut{kHourStart + 2 * kMillisPerHour, hour + 1});
  const ShardViews& shard = views.shard(0);
  EXPECT_EQ(shard.RowCount(), 100u);  // the dropped hour's rows went with it
  EXPECT_EQ(views.global().ids().size(), 100u);
  // A released event sent again for a kept hour is new; its correction replaces it.
  EXPECT_EQ(apply(WithDimensions("old-7", 1, "user-7", kHourStart + kMillisPerHour + 7, "p")),
            ApplyOutcome::kAccepted);
  EXPECT_EQ(apply(WithDimensions("old-7", 2, "user-7", kHourStart + kMillisPerHour + 7, "p")),
            ApplyOutcome::kCorrection);
  EXPECT_EQ(views.TakeHomeHour(hour + 1), (TakeHomeCounts{100, 1, 100}));
  EXPECT_EQ(views.RowsOfId("old-7").size(), 2u);
  std::string saved;
  views.Save(&saved);
  auto loaded = Views::Load(saved, 1);
  ASSERT_TRUE(loaded.ok()) << loaded.status().message();
  EXPECT_EQ((*loaded)->Digest(), views.Digest());
  EXPECT_EQ((*loaded)->shard(0).RowCount(), 102u);
  EXPECT_EQ((*loaded)->TakeHomeHour(hour + 1), (TakeHomeCounts{100, 1, 100}));
}

}  // namespace
}  // namespace tally

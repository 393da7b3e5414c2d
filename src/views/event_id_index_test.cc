#include "views/event_id_index.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <cctype>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <set>
#include <string>

#include "common/byte_sink.h"
#include "views/chunked_vector.h"
#include "views/saved_bytes.h"

namespace tally {
namespace {

RowRef Row(uint32_t shard, int64_t hour, uint64_t position) {
  return {shard, static_cast<int32_t>(hour), position};
}

// Each test runs with the default hash set and with one so small that almost every id is in the runs.
class EventIdIndexTest : public ::testing::TestWithParam<size_t> {};
INSTANTIATE_TEST_SUITE_P(HotIds, EventIdIndexTest, ::testing::Values(EventIdIndex::kDefaultHotIds, 7));

TEST_P(EventIdIndexTest, FindsEveryIdAndKeepsRowsInOrder) {
  EventIdIndex index(GetParam());
  std::map<std::string, uint32_t> expected;
  // Enough ids to fill several arena blocks and grow the set many times; lengths from 1 to 128 bytes.
  for (uint32_t i = 0; i < 200'000; ++i) {
    std::string id = "id-" + std::to_string(i) + std::string(i % 120, 'x');
    auto [number, inserted] = index.FindOrInsert(id, Row(i % 7, i % 50, i), 1);
    ASSERT_TRUE(inserted);
    ASSERT_EQ(number, i);
    if (i % 997 == 0) expected[id] = i;
  }
  EXPECT_EQ(index.size(), 200'000u);
  for (const auto& [id, number] : expected) {
    ASSERT_EQ(index.Find(id), number) << id;
    EXPECT_EQ(index.Text(number), id);
    EXPECT_EQ(index.Rows(number), std::vector<RowRef>{Row(number % 7, number % 50, number)});
    EXPECT_EQ(index.current_version(number), 1u);
  }
  EXPECT_FALSE(index.Find("id-").has_value());
  EXPECT_FALSE(index.Find("id-0x").has_value());
  auto [again, inserted] = index.FindOrInsert("id-5xxxxx", Row(0, 0, 999'999), 9);
  EXPECT_FALSE(inserted);
  EXPECT_EQ(again, 5u);
  // A duplicate keeps the current row; a correction on another shard replaces it.
  index.AddDuplicate(5, Row(3, 0, 300'000));
  index.AddCorrection(5, Row(6, 7, 300'001), 2);
  EXPECT_EQ(index.Rows(5), (std::vector<RowRef>{Row(5, 5, 5), Row(3, 0, 300'000), Row(6, 7, 300'001)}));
  EXPECT_EQ(index.current(5), Row(6, 7, 300'001));
  EXPECT_EQ(index.current_version(5), 2u);
  EXPECT_EQ(index.Find(std::string(128, 'z')), std::nullopt);
  EXPECT_TRUE(index.FindOrInsert(std::string(128, 'z'), Row(0, 3, 0), 1).second);
  EXPECT_EQ(index.Text(*index.Find(std::string(128, 'z'))), std::string(128, 'z'));
}

TEST_P(EventIdIndexTest, UuidsAreKeptIn16BytesAndNeverConfusedWithOtherIds) {
  EventIdIndex index(GetParam());
  const std::string uuid = "0196f3a2-7c1e-7d40-9a4b-1f2e3d4c5b6a";
  std::string upper = uuid;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  // The 16 bytes the UUID packs into, as an id of its own; and texts one character off a UUID.
  const std::string packed_bytes("\x01\x96\xf3\xa2\x7c\x1e\x7d\x40\x9a\x4b\x1f\x2e\x3d\x4c\x5b\x6a", 16);
  const std::vector<std::string> ids = {uuid,
                                        upper,
                                        packed_bytes,
                                        "0196f3a2-7c1e-7d40-9a4b-1f2e3d4c5b6g",
                                        "0196f3a2-7c1e-7d40-9a4b_1f2e3d4c5b6a",
                                        "0196f3a2-7c1e-7d40-9a4b-1f2e3d4c5b6",
                                        "00000000-0000-0000-0000-000000000000"};
  for (uint32_t i = 0; i < ids.size(); ++i) {
    auto [number, inserted] = index.FindOrInsert(ids[i], Row(0, i, i), 1);
    EXPECT_TRUE(inserted) << ids[i];
    EXPECT_EQ(number, i);
  }
  for (uint32_t i = 0; i < ids.size(); ++i) {
    EXPECT_EQ(index.Find(ids[i]), i) << ids[i];
    EXPECT_EQ(index.Text(i), ids[i]);
    EXPECT_FALSE(index.FindOrInsert(ids[i], Row(0, 0, 99), 1).second);
  }
  EXPECT_EQ(index.Find("0196f3a2-7c1e-7d40-9a4b-1f2e3d4c5b6b"), std::nullopt);
}

TEST_P(EventIdIndexTest, ForgetsTheIdsOfDroppedHoursAndGivesTheirNumbersToNewOnes) {
  EventIdIndex index(GetParam());
  // Ids in hours 0..9; some corrected into another hour (later or earlier).
  for (uint32_t i = 0; i < 1000; ++i) index.FindOrInsert("id-" + std::to_string(i), Row(0, i % 10, i), 1);
  index.AddCorrection(*index.Find("id-1"), Row(0, 8, 1001), 2);  // hour 1 -> 8: kept
  index.AddCorrection(*index.Find("id-8"), Row(0, 2, 1002), 2);  // hour 8 -> 2: forgotten
  index.AddDuplicate(*index.Find("id-3"), Row(0, 0, 1003));
  index.ForgetBefore(5);
  EXPECT_EQ(index.size(), 500u);
  for (uint32_t i = 0; i < 1000; ++i) {
    const std::string id = "id-" + std::to_string(i);
    const bool kept = (i % 10 >= 5 && i != 8) || i == 1;
    ASSERT_EQ(index.Find(id).has_value(), kept) << id;
    if (kept) {
      EXPECT_EQ(index.Text(*index.Find(id)), id);
    }
  }
  EXPECT_EQ(index.current_version(*index.Find("id-1")), 2u);
  EXPECT_EQ(index.hour(*index.Find("id-1")), 8);
  // New ids take the freed numbers; a forgotten id sent again is new.
  std::set<uint32_t> numbers;
  for (uint32_t i = 0; i < 501; ++i) {
    auto [number, inserted] = index.FindOrInsert("new-" + std::to_string(i), Row(1, 20, i), 1);
    ASSERT_TRUE(inserted);
    numbers.insert(number);
  }
  EXPECT_EQ(*numbers.rbegin(), 1000u);  // the 500 freed numbers, then one more
  auto [again, inserted] = index.FindOrInsert("id-3", Row(1, 20, 600), 1);
  EXPECT_TRUE(inserted);
  EXPECT_EQ(index.Rows(again), std::vector<RowRef>{Row(1, 20, 600)});
  size_t visited = 0;
  index.ForEach([&](uint32_t) { ++visited; });
  EXPECT_EQ(visited, index.size());
  EXPECT_EQ(index.size(), 1002u);
}

TEST_P(EventIdIndexTest, TheTextsOfADayShareAnArenaFreedWithTheDaysLastHour) {
  EventIdIndex index(GetParam());
  // Ids in the 48 hours of days 0 and 1.
  for (uint32_t i = 0; i < 4800; ++i) index.FindOrInsert("id-" + std::to_string(i), Row(0, i % 48, i), 1);
  EXPECT_EQ(index.arenas(), 2u);
  // A correction within its day keeps its text where it is; one into another day moves it there.
  index.AddCorrection(*index.Find("id-5"), Row(0, 20, 5000), 2);   // hour 5 -> 20
  index.AddCorrection(*index.Find("id-6"), Row(0, 30, 5001), 2);   // hour 6 -> 30 (day 1)
  index.AddCorrection(*index.Find("id-40"), Row(0, 50, 5002), 2);  // hour 40 -> 50 (day 2)
  EXPECT_EQ(index.arenas(), 3u);
  EXPECT_EQ(index.hour(*index.Find("id-5")), 20);
  // An hour's ids are forgotten at once; their day's arena stays while the day has a kept hour.
  index.ForgetBefore(12);
  EXPECT_EQ(index.arenas(), 3u);
  for (uint32_t i = 0; i < 4800; ++i) {
    const std::string id = "id-" + std::to_string(i);
    const int64_t hour = i == 5 ? 20 : i == 6 ? 30 : i == 40 ? 50 : i % 48;
    ASSERT_EQ(index.Find(id).has_value(), hour >= 12) << id;
    if (hour >= 12) {
      ASSERT_EQ(index.Text(*index.Find(id)), id);
    }
  }
  index.ForgetBefore(30);
  EXPECT_EQ(index.arenas(), 2u);  // day 0's went with its last hour
  EXPECT_EQ(index.Text(*index.Find("id-6")), "id-6");
  EXPECT_EQ(index.Text(*index.Find("id-40")), "id-40");
  EXPECT_FALSE(index.Find("id-5").has_value());
  EXPECT_EQ(index.size(), 4800u / 48 * 18 + 1);  // hours 30..47, and id-40 in hour 50
}

TEST_P(EventIdIndexTest, EveryIdSentAgainIsFoundWhereverItIs) {
  EventIdIndex index(GetParam());
  for (uint32_t i = 0; i < 30'000; ++i) {
    ASSERT_TRUE(index.FindOrInsert("first-" + std::to_string(i), Row(0, 0, i), 1).second);
  }
  // Each sent again, interleaved with new ids: found under its number, whether in the set or a run.
  for (uint32_t i = 0; i < 30'000; ++i) {
    auto [number, inserted] = index.FindOrInsert("first-" + std::to_string(i), Row(0, 0, 99), 1);
    ASSERT_FALSE(inserted) << i;
    ASSERT_EQ(number, i);
    ASSERT_TRUE(index.FindOrInsert("second-" + std::to_string(i), Row(0, 0, i), 1).second);
  }
  EXPECT_EQ(index.size(), 60'000u);
  for (uint32_t i = 0; i < 30'000; ++i) ASSERT_FALSE(index.Find("third-" + std::to_string(i)).has_value());
  if (GetParam() < 100) {
    EXPECT_GT(index.runs().size(), 59'900u);
    EXPECT_LE(index.runs().runs(), 16u);  // merged as they grow: about log2(60 000 / 7)
  }
}

// Fingerprints of the hash are saved in checkpoints and the cold file, so it is the same in every process
// and on every machine (a hash salted per process lost every id in the runs at a restart).
TEST(EventIdIndex, TheHashOfAnIdIsTheSameInEveryProcess) {
  EXPECT_EQ(EventIdIndex::HashOf("e1-42"), 0x37bcd5962d001db9ull);
  EXPECT_EQ(EventIdIndex::HashOf("7f1b3c2e-9a4d-4e6f-8b1a-2c3d4e5f6a7b"), 0x532eec0f5cdfc1e9ull);
}

std::string Uuid(uint64_t i) {
  char text[40];
  std::snprintf(text, sizeof(text), "%08x-%04x-4%03x-8%03x-%012llx", static_cast<unsigned>(i * 2654435761u),
                static_cast<unsigned>(i & 0xFFFF), static_cast<unsigned>(i % 4096),
                static_cast<unsigned>(i % 997), static_cast<unsigned long long>(i));
  return text;
}

// A checkpoint's index: the same numbers, texts, rows and versions after a load, whether the ids were in
// the hash set or the runs, forgotten by retention (their numbers free), corrected into another hour, or
// kept in an hour whose texts fill several arena regions; and a cut save does not load.
TEST_P(EventIdIndexTest, ASavedIndexLoadsBackTheSame) {
  EventIdIndex index(GetParam());
  std::vector<std::string> texts;
  for (uint32_t i = 0; i < 80'000; ++i) {  // 20 000 an hour: 1.2 MiB of texts, two arena regions
    texts.push_back(i % 2 == 0 ? Uuid(i) : "id-" + std::to_string(i) + std::string(100, 'x'));
    const auto [number, inserted] = index.FindOrInsert(texts.back(), Row(i % 3, 100 + i % 4, i), 1);
    ASSERT_TRUE(inserted && number == i);
    if (i % 10 == 0) index.AddDuplicate(number, Row(i % 3, 0, 100'000 + i));
    if (i % 15 == 0) index.AddCorrection(number, Row((i + 1) % 3, 104, 200'000 + i), 2);
  }
  index.ForgetBefore(101);  // the ids of hour 100 go, their numbers free
  for (uint32_t i = 0; i < 100; ++i) index.FindOrInsert("late-" + std::to_string(i), Row(0, 105, i), 1);

  std::string saved;
  {
    StringSink sink(&saved);
    saved::Writer writer(&sink);
    index.Save(&writer);
    ASSERT_TRUE(sink.Flush().ok());
  }
  EventIdIndex loaded(GetParam());
  saved::Reader reader(saved);
  ASSERT_TRUE(loaded.Load(&reader, nullptr, 3));
  EXPECT_TRUE(reader.AtEnd());
  EXPECT_EQ(loaded.size(), index.size());
  for (uint32_t i = 0; i < texts.size(); ++i) {
    const auto number = index.Find(texts[i]);
    ASSERT_EQ(loaded.Find(texts[i]), number) << texts[i];
    if (!number) continue;
    EXPECT_EQ(loaded.Text(*number), texts[i]);
    EXPECT_EQ(loaded.Rows(*number), index.Rows(*number));
    EXPECT_EQ(loaded.current_version(*number), index.current_version(*number));
    EXPECT_EQ(loaded.hour(*number), index.hour(*number));
  }
  EXPECT_EQ(loaded.Find("late-7"), index.Find("late-7"));
  EXPECT_FALSE(loaded.Find(Uuid(999'999)).has_value());
  // New ids take the same (freed) numbers in both.
  for (uint32_t i = 0; i < 50; ++i) {
    const std::string id = "new-" + std::to_string(i);
    EXPECT_EQ(loaded.FindOrInsert(id, Row(1, 106, i), 1), index.FindOrInsert(id, Row(1, 106, i), 1));
  }
  std::string saved_again, saved_loaded;
  for (auto [from, to] : {std::pair{&index, &saved_again}, std::pair{&loaded, &saved_loaded}}) {
    StringSink sink(to);
    saved::Writer writer(&sink);
    from->Save(&writer);
    ASSERT_TRUE(sink.Flush().ok());
  }
  EXPECT_EQ(saved_loaded, saved_again);

  for (size_t cut : {size_t{0}, size_t{7}, saved.size() / 3, saved.size() / 2, saved.size() - 1}) {
    EventIdIndex partial(GetParam());
    saved::Reader cut_reader(std::string_view(saved).substr(0, cut));
    EXPECT_FALSE(partial.Load(&cut_reader, nullptr, 3)) << cut;
  }
  EventIdIndex misfit(GetParam());
  saved::Reader misfit_reader(saved);
  EXPECT_FALSE(misfit.Load(&misfit_reader, nullptr, 2));
}

// An index whose columns and texts moved to a kept cold file is saved as their places there, and loads by
// adopting them from the file (as a restart does): the same ids, texts and rows.
TEST(EventIdIndex, AnIndexInAKeptColdFileIsSavedAsItsPlacesAndAdoptedBack) {
  std::string directory = ::testing::TempDir() + "/ids-cold-XXXXXX";
  ASSERT_NE(::mkdtemp(directory.data()), nullptr);
  struct Removed {
    const std::string& path;
    ~Removed() { std::filesystem::remove_all(path); }
  } removed{directory};
  auto opened = ColdChunkFile::Open(directory);
  ASSERT_TRUE(opened.ok());
  std::shared_ptr<ColdChunkFile> cold = std::move(*opened);
  cold->FinishLoad();
  EventIdIndex index(1000);
  std::vector<std::string> texts;
  for (uint32_t i = 0; i < 60'000; ++i) {
    // (Texts of 16 and 105 or so bytes: an hour's fill more than one arena region, and not exactly.)
    texts.push_back(i % 2 == 0 ? Uuid(i) : "id-" + std::to_string(i) + std::string(100, 'y'));
    index.FindOrInsert(texts.back(), Row(i % 2, 100 + i % 3, i), 1);
    if (i % 1000 == 0) index.AddCorrection(i, Row(0, 102, 100'000 + i), 2);
  }
  ASSERT_TRUE(index.MoveColdChunks(cold, 0, 200).ok());
  ASSERT_TRUE(index.MoveColdChunks(cold, 0, 200).ok());  // the hours are quiet now: their last regions too
  std::string inline_bytes, referring;
  for (auto [bytes, refer] : {std::pair{&inline_bytes, false}, std::pair{&referring, true}}) {
    StringSink sink(bytes);
    saved::Writer writer(&sink, refer);
    index.Save(&writer);
    ASSERT_TRUE(sink.Flush().ok());
  }
  EXPECT_LT(referring.size(), inline_bytes.size() / 3);
  // Not even the ids' places among the texts are copied (they alone would be 8 bytes an id).
  EXPECT_LT(referring.size(), texts.size() * 2);
  ASSERT_TRUE(cold->Sync().ok());

  auto reopened = ColdChunkFile::Open(directory);  // as the next start does
  ASSERT_TRUE(reopened.ok());
  std::shared_ptr<ColdChunkFile> again = std::move(*reopened);
  EventIdIndex loaded(1000);
  saved::Reader reader(referring);
  reader.AdoptFrom(again);
  ASSERT_TRUE(loaded.Load(&reader, nullptr, 2));
  EXPECT_TRUE(reader.AtEnd());
  const std::atomic<bool> load_over{true};
  EXPECT_TRUE(again->VerifyAdopted(load_over).ok());
  EXPECT_GT(again->bytes(), inline_bytes.size() / 2);
  again->FinishLoad();
  for (uint32_t i = 0; i < texts.size(); ++i) {
    const auto number = loaded.Find(texts[i]);
    ASSERT_EQ(number, index.Find(texts[i])) << texts[i];
    EXPECT_EQ(loaded.Text(*number), texts[i]);
    EXPECT_EQ(loaded.Rows(*number), index.Rows(*number));
  }
  std::string loaded_inline;
  {
    StringSink sink(&loaded_inline);
    saved::Writer writer(&sink);
    loaded.Save(&writer);
    ASSERT_TRUE(sink.Flush().ok());
  }
  EXPECT_EQ(loaded_inline, inline_bytes);
  // The next pass moves nothing that a checkpoint then copies: the next start adopts it all again.
  ASSERT_TRUE(loaded.MoveColdChunks(again, 0, 200).ok());
  std::string referring_again;
  {
    StringSink sink(&referring_again);
    saved::Writer writer(&sink, true);
    loaded.Save(&writer);
    ASSERT_TRUE(sink.Flush().ok());
  }
  EXPECT_LT(referring_again.size(), texts.size() * 2);
  // Without the file, the places are refused.
  EventIdIndex without(1000);
  saved::Reader no_file(referring);
  EXPECT_FALSE(without.Load(&no_file, nullptr, 2));
}

TEST(ChunkedVector, KeepsElementsInPlaceAcrossChunks) {
  ChunkedVector<uint64_t, 4> values;  // chunks of 16
  std::vector<const uint64_t*> addresses;
  for (uint64_t i = 0; i < 1000; ++i) {
    values.push_back(i * 3);
    addresses.push_back(&values[i]);
  }
  ASSERT_EQ(values.size(), 1000u);
  for (uint64_t i = 0; i < 1000; ++i) {
    EXPECT_EQ(values[i], i * 3);
    EXPECT_EQ(&values[i], addresses[i]);  // never moved
  }
  uint64_t expected = 0;
  for (uint64_t value : values) {
    EXPECT_EQ(value, expected);
    expected += 3;
  }
  EXPECT_EQ(values.back(), 999u * 3);
}

TEST(ChunkedVector, ElementsAppendedInPlaceAreUsedWhereTheyAreInWholeChunks) {
  std::vector<uint64_t> saved(100);
  for (size_t i = 0; i < saved.size(); ++i) saved[i] = i * 5;
  auto mapping = std::make_shared<int>(0);  // stands for the mapping the elements are in
  {
    ChunkedVector<uint64_t, 4> values;  // chunks of 16
    values.StartAfterReleased(5);       // the first chunk's first 5 were released
    values.AppendInPlace(saved.data(), saved.size(), mapping);
    ASSERT_EQ(values.size(), 105u);
    for (size_t i = 5; i < 105; ++i) ASSERT_EQ(values[i], (i - 5) * 5) << i;
    // 11 to the first chunk's end and the last 9 copied; the 5 whole chunks between used in place.
    EXPECT_NE(&values[15], &saved[10]);
    for (size_t i = 16; i < 96; ++i) EXPECT_EQ(&values[i], &saved[i - 5]) << i;
    EXPECT_NE(&values[96], &saved[91]);
    EXPECT_EQ(mapping.use_count(), 6);  // the mapping lives as long as its chunks
    values[20] = 7;                     // a write goes where the element is
    EXPECT_EQ(saved[15], 7u);
    values.push_back(1);
    EXPECT_EQ(values[105], 1u);
    values.ReleaseBefore(48);
    EXPECT_EQ(mapping.use_count(), 4);

    ChunkedVector<uint64_t, 4> from_start;
    from_start.AppendInPlace(&saved[1], 40, mapping);
    EXPECT_EQ(&from_start[0], &saved[1]);
    EXPECT_EQ(&from_start[16], &saved[17]);
    ChunkedVector<uint64_t, 4> unaligned;  // copied
    unaligned.AppendInPlace(reinterpret_cast<char*>(saved.data()) + 1, 40, mapping);
    uint64_t expected = 0;
    std::memcpy(&expected, reinterpret_cast<char*>(saved.data()) + 1 + 8 * 39, 8);
    EXPECT_EQ(unaligned[39], expected);
    EXPECT_EQ(mapping.use_count(), 6);
  }
  EXPECT_EQ(mapping.use_count(), 1);
}

}  // namespace
}  // namespace tally

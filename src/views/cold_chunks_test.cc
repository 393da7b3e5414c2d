#include "views/cold_chunks.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>

#include "common/byte_sink.h"
#include "views/chunked_vector.h"
#include "views/saved_bytes.h"
#include "views/views.h"

namespace tally {
namespace {

std::string MakeTempDirectory() {
  std::string pattern = ::testing::TempDir() + "/cold-chunks-XXXXXX";
  EXPECT_NE(::mkdtemp(pattern.data()), nullptr);
  return pattern;
}

// A directory of kept cold files, removed when the test ends.
struct KeptDirectory {
  const std::string path = MakeTempDirectory();
  ~KeptDirectory() { std::filesystem::remove_all(path); }
};

std::shared_ptr<ColdChunkFile> MakeColdFile() {
  const std::string directory = MakeTempDirectory();
  auto cold = ColdChunkFile::Create(directory);
  ::rmdir(directory.c_str());  // the file is unlinked: the directory is empty, and goes now
  EXPECT_TRUE(cold.ok()) << cold.status().message();
  return cold.ok() ? std::shared_ptr<ColdChunkFile>(std::move(*cold)) : nullptr;
}

// The line of /proc/self/maps for the mapping holding `address`: which file backs it, if any.
std::string MappingOf(const void* address) {
  const auto at = reinterpret_cast<uintptr_t>(address);
  std::ifstream maps("/proc/self/maps");
  for (std::string line; std::getline(maps, line);) {
    const uintptr_t start = std::stoull(line.substr(0, line.find('-')), nullptr, 16);
    const uintptr_t end = std::stoull(line.substr(line.find('-') + 1), nullptr, 16);
    if (start <= at && at < end) return line;
  }
  return {};
}

TEST(ColdChunkFile, AMovedChunkReadsTheSameFromTheFileAndTakesWrites) {
  auto cold = MakeColdFile();
  ASSERT_NE(cold, nullptr);
  std::vector<uint32_t> values(2048);
  for (size_t i = 0; i < values.size(); ++i) values[i] = static_cast<uint32_t>(i * 7);
  auto mapped = cold->MoveIn(values.data(), values.size() * sizeof(uint32_t));
  ASSERT_TRUE(mapped.ok()) << mapped.status().message();
  auto* moved = static_cast<uint32_t*>(*mapped);
  EXPECT_NE(MappingOf(moved).find("cold-chunks"), std::string::npos) << MappingOf(moved);  // not anonymous
  for (size_t i = 0; i < values.size(); ++i) ASSERT_EQ(moved[i], i * 7);
  moved[5] = 1;  // copied into anonymous memory, the file unchanged
  EXPECT_EQ(moved[5], 1u);
  EXPECT_EQ(cold->bytes(), 8192u);

  // A released place is used again by the next chunk of its size.
  cold->Release(moved, 8192);
  EXPECT_EQ(cold->bytes(), 0u);
  auto again = cold->MoveIn(values.data(), 8192);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(static_cast<uint32_t*>(*again)[5], 35u);
  cold->Release(*again, 8192);

  EXPECT_FALSE(cold->MoveIn(values.data(), 100).ok());  // not whole pages
}

// A forked process (a checkpoint's writer) keeps seeing the chunks as they were at the fork while the
// server releases them and moves others in; a place given back is used again only once two checkpoints
// begun after it are committed (the two a start may load).
TEST(ColdChunkFile, APlaceGivenBackWaitsForTwoCheckpointsBegunAfter) {
  const KeptDirectory kept;
  const std::string& directory = kept.path;
  auto opened = ColdChunkFile::Open(directory);
  ASSERT_TRUE(opened.ok()) << opened.status().message();
  std::shared_ptr<ColdChunkFile> cold = std::move(*opened);
  EXPECT_FALSE(cold->MoveIn(std::string(4096, 'x').data(), 4096).ok());  // not before the load is over
  cold->FinishLoad();
  std::vector<uint32_t> first(1024, 0xAAAAAAAA), second(1024, 0xBBBBBBBB);
  auto mapped = cold->MoveIn(first.data(), 4096);
  ASSERT_TRUE(mapped.ok());
  const auto* chunk = static_cast<const uint32_t*>(*mapped);
  int go[2];
  ASSERT_EQ(::pipe(go), 0);
  const uint64_t checkpoint = cold->BeginCheckpoint();
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    char byte = 0;
    (void)::read(go[0], &byte, 1);  // the server has released the chunk and moved another in
    for (size_t i = 0; i < 1024; ++i) {
      if (chunk[i] != 0xAAAAAAAA) ::_exit(1);
    }
    ::_exit(0);
  }
  cold->Release(const_cast<uint32_t*>(chunk), 4096);
  auto other = cold->MoveIn(second.data(), 4096);
  ASSERT_TRUE(other.ok());
  EXPECT_NE(*other, static_cast<const void*>(chunk));  // the place is not used again yet
  ASSERT_EQ(::write(go[1], "x", 1), 1);
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "the child saw the chunk change";
  ::close(go[0]);
  ::close(go[1]);
  cold->Committed(checkpoint);  // the checkpoint of the fork refers to the place: kept
  const uint64_t next = cold->BeginCheckpoint();
  cold->Committed(next);  // the one before may still be loaded (if this one is damaged): kept
  auto third = cold->MoveIn(first.data(), 4096);
  ASSERT_TRUE(third.ok());
  EXPECT_NE(*third, static_cast<const void*>(chunk));
  cold->Committed(cold->BeginCheckpoint());  // now two checkpoints begun after it are written
  auto fourth = cold->MoveIn(first.data(), 4096);
  ASSERT_TRUE(fourth.ok());
  EXPECT_EQ(*fourth, static_cast<const void*>(chunk));
}

// At a start, the places the loaded checkpoint does not refer to may be the older kept checkpoint's: they
// wait for two checkpoints, unless the start says the first one committed replaces every other (then one),
// while a place the loaded checkpoint refers to and a later one gives back always waits for two.
TEST(ColdChunkFile, AStartsGapsWaitForOneCheckpointWhenItReplacesEveryOther) {
  for (const auto others : {ColdChunkFile::OtherCheckpoints::kReplacedByTheNext,
                            ColdChunkFile::OtherCheckpoints::kMayReferToThem}) {
    const KeptDirectory kept;
    std::vector<uint32_t> values(1024, 7);
    std::vector<ColdChunkFile::Place> places;
    {
      auto cold = ColdChunkFile::Open(kept.path);
      ASSERT_TRUE(cold.ok());
      (*cold)->FinishLoad();
      for (int i = 0; i < 3; ++i) {
        auto mapped = (*cold)->MoveIn(values.data(), 4096);
        ASSERT_TRUE(mapped.ok());
        places.push_back(*(*cold)->PlaceOf(*mapped, 4096));
      }
      ASSERT_TRUE((*cold)->Sync().ok());
      (*cold)->Closing();
    }
    auto opened = ColdChunkFile::Open(kept.path);  // the next start's checkpoint refers to chunks 0 and 2
    ASSERT_TRUE(opened.ok());
    std::shared_ptr<ColdChunkFile> cold = std::move(*opened);
    cold->BeginLoad();
    auto first = cold->Adopt(places[0].offset, 4096, places[0].crc);
    ASSERT_TRUE(first.ok() && cold->Adopt(places[2].offset, 4096, places[2].crc).ok());
    cold->FinishLoad(others);
    const char* gap = static_cast<const char*>(*first) + (places[1].offset - places[0].offset);  // chunk 1's
    cold->Release(*first, 4096);  // given back after the load
    auto placed_at = [&] {
      auto mapped = cold->MoveIn(values.data(), 4096);
      EXPECT_TRUE(mapped.ok());
      return mapped.ok() ? static_cast<const char*>(*mapped) : nullptr;
    };
    EXPECT_NE(placed_at(), gap);
    cold->Committed(cold->BeginCheckpoint());
    const char* after_one = placed_at();
    cold->Committed(cold->BeginCheckpoint());
    const char* after_two = placed_at();
    const char* after_three = placed_at();
    if (others == ColdChunkFile::OtherCheckpoints::kReplacedByTheNext) {
      EXPECT_EQ(after_one, gap);
      EXPECT_EQ(after_two, static_cast<const char*>(*first));  // chunk 0's place: two checkpoints later
    } else {
      EXPECT_NE(after_one, gap);
      EXPECT_EQ(after_two, static_cast<const char*>(*first));  // both places at once
      EXPECT_EQ(after_three, gap);
    }
    cold->Closing();
  }
}

// A kept file's chunks are found again by a later process at the place a checkpoint saved, and checked
// against their checksum; a place outside the file, or two chunks in one place, are refused.
TEST(ColdChunkFile, AKeptFilesChunksAreAdoptedAtTheirPlaceAndChecked) {
  const KeptDirectory kept;
  const std::string& directory = kept.path;
  std::vector<uint32_t> values(4096);
  for (size_t i = 0; i < values.size(); ++i) values[i] = static_cast<uint32_t>(i * 3);
  std::vector<ColdChunkFile::Place> places;
  {
    auto cold = ColdChunkFile::Open(directory);
    ASSERT_TRUE(cold.ok());
    (*cold)->FinishLoad();
    for (int i = 0; i < 3; ++i) {
      values[0] = static_cast<uint32_t>(i);
      auto mapped = (*cold)->MoveIn(values.data(), 16384);
      ASSERT_TRUE(mapped.ok());
      auto place = (*cold)->PlaceOf(*mapped, 16384);
      ASSERT_TRUE(place.has_value());
      places.push_back(*place);
    }
    EXPECT_FALSE((*cold)->PlaceOf(values.data(), 16384).has_value());  // not in the file
    ASSERT_TRUE((*cold)->Sync().ok());
    (*cold)->Closing();
  }
  const std::atomic<bool> load_over{true};
  {
    auto cold = ColdChunkFile::Open(directory);
    ASSERT_TRUE(cold.ok());
    (*cold)->BeginLoad();
    for (int i = 0; i < 3; ++i) {
      auto chunk = (*cold)->Adopt(places[i].offset, 16384, places[i].crc);
      ASSERT_TRUE(chunk.ok()) << chunk.status().message();
      EXPECT_EQ(static_cast<const uint32_t*>(*chunk)[0], static_cast<uint32_t>(i));
      EXPECT_EQ(static_cast<const uint32_t*>(*chunk)[4095], 4095u * 3);
    }
    EXPECT_TRUE((*cold)->VerifyAdopted(load_over).ok());
    EXPECT_FALSE((*cold)->Adopt(places[1].offset, 16384, places[1].crc).ok());        // twice
    EXPECT_FALSE((*cold)->Adopt(places[1].offset + 4096, 4096, places[1].crc).ok());  // inside another
    // Past the end (the file grows by whole huge pages of zeros, so its end is not the last chunk's).
    const auto file_bytes = std::filesystem::file_size(directory + "/" + ColdChunkFile::kChunksName);
    EXPECT_EQ(file_bytes % ColdChunkFile::kHugePageBytes, 0u);
    EXPECT_FALSE((*cold)->Adopt(file_bytes, 4096, 0).ok());
    EXPECT_FALSE((*cold)->Adopt(100, 4096, 0).ok());  // not a page's start
    EXPECT_EQ((*cold)->bytes(), 3u * 16384);
    (*cold)->Closing();
  }
  // A byte of the file changed: its chunk no longer matches.
  const int fd = ::open((directory + "/" + ColdChunkFile::kChunksName).c_str(), O_WRONLY);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::pwrite(fd, "z", 1, static_cast<off_t>(places[2].offset + 777)), 1);
  ::close(fd);
  auto cold = ColdChunkFile::Open(directory);
  ASSERT_TRUE(cold.ok());
  (*cold)->BeginLoad();
  for (int i = 0; i < 3; ++i) ASSERT_TRUE((*cold)->Adopt(places[i].offset, 16384, places[i].crc).ok());
  EXPECT_FALSE((*cold)->VerifyAdopted(load_over).ok());
  (*cold)->Closing();
}

TEST(ChunkedVector, ChunksMovedToTheColdFileKeepTheirElementsAndTakeWrites) {
  auto cold = MakeColdFile();
  ASSERT_NE(cold, nullptr);
  ChunkedVector<uint64_t, 9> values;  // chunks of 512, one page each
  for (uint64_t i = 0; i < 3000; ++i) values.push_back(i * i);
  auto moved = values.MoveToCold(2000, cold);
  ASSERT_TRUE(moved.ok()) << moved.status().message();
  EXPECT_EQ(*moved, 3u);  // the chunks wholly before element 2000
  EXPECT_EQ(cold->bytes(), 3u * 4096);
  EXPECT_EQ(*values.MoveToCold(2000, cold), 0u);  // moved already
  EXPECT_NE(MappingOf(&values[0]).find("cold-chunks"), std::string::npos);
  EXPECT_EQ(MappingOf(&values[2999]).find("cold-chunks"), std::string::npos);
  for (uint64_t i = 0; i < 3000; ++i) ASSERT_EQ(values[i], i * i) << i;
  values[100] = 7;  // the page is copied back to the heap; the chunk moves again
  values.NoteWritten(100);
  EXPECT_EQ(*values.MoveToCold(2000, cold), 1u);
  EXPECT_NE(MappingOf(&values[100]).find("cold-chunks"), std::string::npos);
  EXPECT_EQ(cold->bytes(), 3u * 4096);
  for (uint64_t i = 3000; i < 4000; ++i) values.push_back(i);
  EXPECT_EQ(values[100], 7u);
  EXPECT_EQ(values[3999], 3999u);
  values.ReleaseBefore(1024);  // two moved chunks given back
  EXPECT_EQ(cold->bytes(), 1u * 4096);
  EXPECT_EQ(values[1500], 1500u * 1500u);
}

// A quiet sequence's last chunk, not full, moves too (its rest zeros in the file); a checkpoint refers to
// it as to any chunk, a load adopts it with the elements it held, and an element appended after either
// move is a write to a moved chunk: the chunk is saved whole again, and moves again.
TEST(ChunkedVector, ALastChunkNotFullMovesIsReferredToAndTakesAppends) {
  const KeptDirectory kept;
  auto save = [&](const ChunkedVector<uint64_t, 9>& from) {
    std::string bytes;
    StringSink sink(&bytes);
    saved::Writer writer(&sink, /*refer_to_cold=*/true);
    writer.InMemory(from, 0);
    EXPECT_TRUE(sink.Flush().ok());
    return bytes;
  };
  std::string referred;
  {
    auto cold = ColdChunkFile::Open(kept.path);
    ASSERT_TRUE(cold.ok()) << cold.status().message();
    (*cold)->FinishLoad();
    std::shared_ptr<ColdChunkFile> file = std::move(*cold);
    ChunkedVector<uint64_t, 9> values;
    for (uint64_t i = 0; i < 700; ++i) values.push_back(i + 1);
    EXPECT_EQ(*values.MoveToCold(values.size(), file), 1u);  // the whole chunk only
    EXPECT_EQ(*values.MoveToCold(values.size(), file, /*with_last=*/true), 1u);
    EXPECT_NE(MappingOf(&values[699]).find("cold-chunks"), std::string::npos);
    EXPECT_EQ((&values[699])[1], 0u);      // the rest of the chunk: zeros
    EXPECT_LT(save(values).size(), 100u);  // two places, no elements
    values.push_back(701);                 // into the moved chunk: saved whole again, and moved again
    EXPECT_GT(save(values).size(), 188u * sizeof(uint64_t));
    EXPECT_EQ(*values.MoveToCold(values.size(), file, true), 1u);
    referred = save(values);
    EXPECT_LT(referred.size(), 100u);
    ASSERT_TRUE(file->Sync().ok());
    file->Closing();
  }
  auto cold = ColdChunkFile::Open(kept.path);
  ASSERT_TRUE(cold.ok()) << cold.status().message();
  std::shared_ptr<ColdChunkFile> file = std::move(*cold);
  file->BeginLoad();
  ChunkedVector<uint64_t, 9> loaded;
  saved::Reader reader(referred);
  reader.AdoptFrom(file);
  ASSERT_TRUE(reader.InMemory(&loaded, UINT32_MAX, nullptr));
  const std::atomic<bool> load_over{true};
  EXPECT_TRUE(file->VerifyAdopted(load_over).ok());
  file->FinishLoad();
  ASSERT_EQ(loaded.size(), 701u);
  for (uint64_t i = 0; i < 701; ++i) ASSERT_EQ(loaded[i], i + 1) << i;
  loaded.push_back(9);  // into the adopted chunk
  EXPECT_EQ(loaded[701], 9u);
  EXPECT_GT(save(loaded).size(), 190u * sizeof(uint64_t));  // saved whole again
  file->Closing();
}

TEST(ArenaRegion, WrittenBytesMoveToTheColdFileInPlaceWhenQuietOrMany) {
  auto cold = MakeColdFile();
  ASSERT_NE(cold, nullptr);
  std::vector<char> expected(ArenaRegion::kBytes);
  for (size_t i = 0; i < expected.size(); ++i) expected[i] = static_cast<char>(i * 31 + i / 4096);
  {
    ArenaRegion region;
    char* const data = region.data();
    std::memcpy(data, expected.data(), 10'000);
    EXPECT_EQ(*region.MoveToCold(10'000, false, cold), 0u);  // still being written to, and few
    auto moved = region.MoveToCold(10'000, true, cold);
    ASSERT_TRUE(moved.ok()) << moved.status().message();
    EXPECT_EQ(*moved, 12'288u);  // three whole pages
    EXPECT_EQ(region.data(), data);
    EXPECT_NE(MappingOf(data).find("cold-chunks"), std::string::npos) << MappingOf(data);
    EXPECT_EQ(std::memcmp(data, expected.data(), 10'000), 0);
    EXPECT_EQ(*region.MoveToCold(10'000, true, cold), 0u);  // nothing new

    // Appending copies the last, partly used page back; many more bytes move again, all of them.
    std::memcpy(data + 10'000, expected.data() + 10'000, 20'000);
    EXPECT_EQ(*region.MoveToCold(30'000, false, cold), 0u);
    const size_t used = 30'000 + ArenaRegion::kBusyMoveBytes;
    std::memcpy(data + 30'000, expected.data() + 30'000, ArenaRegion::kBusyMoveBytes);
    moved = region.MoveToCold(used, false, cold);
    ASSERT_TRUE(moved.ok());
    EXPECT_GE(*moved, used);
    EXPECT_EQ(cold->bytes(), *moved);  // the first copy's place was given back
    EXPECT_NE(MappingOf(data + used - 1).find("cold-chunks"), std::string::npos);
    EXPECT_EQ(std::memcmp(data, expected.data(), used), 0);
    // A full region moves, however little is new.
    std::memcpy(data + used, expected.data() + used, ArenaRegion::kBytes - used);
    EXPECT_EQ(*region.MoveToCold(ArenaRegion::kBytes, false, cold), ArenaRegion::kBytes);
    EXPECT_EQ(std::memcmp(data, expected.data(), ArenaRegion::kBytes), 0);
    EXPECT_EQ(cold->bytes(), ArenaRegion::kBytes);
  }
  EXPECT_EQ(cold->bytes(), 0u);  // given back with the region
}

Event RandomEvent(std::mt19937_64& random, int i) {
  Event event;
  event.event_id = "id-" + std::to_string(random() % 20'000);
  event.version = 1 + static_cast<uint32_t>(random() % 3);
  event.type = i % 3 == 0 ? "click" : "impression";
  event.user_id = "user-" + std::to_string(random() % 500);
  event.product_id = "product-" + std::to_string(random() % 300);
  event.store_id = "store-" + std::to_string(random() % 7);
  event.timestamp = 1793527200000 + static_cast<Millis>(random() % (48 * kMillisPerHour));
  return event;
}

// The views read and change the same whether their chunks are on the heap or in the cold file: late
// events, duplicates and corrections of moved rows and ids and of hours whose user sets are frozen, and a
// retention cut.
TEST(ColdChunkFile, ViewsWithTheirChunksMovedGiveTheSameAnswers) {
  auto cold = MakeColdFile();
  ASSERT_NE(cold, nullptr);
  Views moved(2), plain(2);
  std::mt19937_64 random(3);
  for (int i = 0; i < 60'000; ++i) {
    LogRecord record = RandomEvent(random, i);
    if (i == 50'000) record = RetentionCut{1793527200000 + 60 * kMillisPerHour, HourOf(1793527200000) + 6};
    const LogPosition position{static_cast<uint32_t>(i / 1000), static_cast<uint32_t>(16 + i % 1000)};
    ASSERT_EQ(moved.Apply(record, position), plain.Apply(record, position)) << i;
    if (i % 7000 == 6999) {
      moved.SealHours(0);
      plain.SealHours(0);
      for (uint32_t shard = 0; shard < moved.shard_count(); ++shard)
        ASSERT_TRUE(moved.shard_to_seal(shard).MoveColdChunks(cold).ok());
      ASSERT_TRUE(moved.MoveColdIds(cold, 1000, HourOf(1793527200000) + i / 1500).ok());
      ASSERT_GT(cold->bytes(), 0u);
      ASSERT_GT(moved.tiers().frozen_hours, 0u) << i;
      ASSERT_EQ(plain.tiers().frozen_hours, 0u);
      ASSERT_EQ(moved.Digest(), plain.Digest()) << i;
    }
  }
  EXPECT_EQ(moved.Digest(), plain.Digest());
  for (int64_t hour = HourOf(1793527200000); hour < HourOf(1793527200000) + 48; ++hour)
    EXPECT_EQ(moved.TakeHomeHour(hour), plain.TakeHomeHour(hour)) << hour;
  // The same rows, byte for byte, and the same rows by user (merged when each was searched or quiet).
  for (uint32_t shard = 0; shard < moved.shard_count(); ++shard) {
    const auto& moved_hours = moved.shard(shard).hours();
    const auto& plain_hours = plain.shard(shard).hours();
    ASSERT_EQ(moved_hours.size(), plain_hours.size());
    for (const auto& [hour, data] : plain_hours) {
      const HourData& moved_data = moved_hours.at(hour);
      ASSERT_EQ(moved_data.rows.size(), data.rows.size()) << hour;
      for (size_t i = 0; i < data.rows.size(); ++i)
        ASSERT_EQ(std::memcmp(&moved_data.rows[i], &data.rows[i], sizeof(EventRow)), 0) << hour << " " << i;
      auto notes = [](const UserRows& by_user) {
        std::vector<uint64_t> all(by_user.recent().begin(), by_user.recent().end());
        all.insert(all.end(), by_user.merged().begin(), by_user.merged().end());
        std::sort(all.begin(), all.end());
        return all;
      };
      EXPECT_EQ(notes(moved_data.by_user), notes(data.by_user)) << hour;
    }
  }
}

}  // namespace
}  // namespace tally

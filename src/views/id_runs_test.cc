#include "views/id_runs.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>

namespace tally {
namespace {

// A hash whose fingerprint (its high 32 bits) is `fingerprint`.
uint64_t HashWith(uint32_t fingerprint) { return uint64_t{fingerprint} << 32 | 0x9e37; }

// Every number the runs hold for a fingerprint.
std::set<uint32_t> NumbersOf(const IdRuns& runs, uint32_t fingerprint) {
  std::set<uint32_t> numbers;
  runs.Find(HashWith(fingerprint), [&](uint32_t number) {
    numbers.insert(number);
    return false;
  });
  return numbers;
}

TEST(IdRuns, FindsEveryEntryOfEveryRunAndNoOther) {
  IdRuns runs;
  std::mt19937 random(7);
  std::map<uint32_t, std::set<uint32_t>> expected;  // fingerprint -> numbers
  uint32_t number = 0;
  // Runs of many sizes; fingerprints at both ends of their range, clustered ones and shared ones.
  for (size_t batch = 0; batch < 300; ++batch) {
    std::vector<IdRuns::Entry> entries;
    for (size_t i = 0; i < batch % 37 + 1; ++i) {
      uint32_t fingerprint = static_cast<uint32_t>(random());
      if (i % 5 == 1) fingerprint = 0;
      if (i % 5 == 2) fingerprint = UINT32_MAX;
      if (i % 5 == 3) fingerprint = 1000 + static_cast<uint32_t>(random() % 50);
      entries.push_back({fingerprint, number});
      expected[fingerprint].insert(number++);
    }
    runs.Add(entries);
  }
  EXPECT_EQ(runs.size(), number);
  EXPECT_LE(runs.runs(), 12u);
  for (const auto& [fingerprint, numbers] : expected) {
    ASSERT_TRUE(runs.MayContain(HashWith(fingerprint)));
    ASSERT_EQ(NumbersOf(runs, fingerprint), numbers) << fingerprint;
    // The number the caller confirms is the one found.
    const uint32_t wanted = *numbers.rbegin();
    EXPECT_EQ(runs.Find(HashWith(fingerprint), [&](uint32_t n) { return n == wanted; }), wanted);
  }
  size_t absent_passed = 0;
  for (uint32_t i = 0; i < 100'000; ++i) {
    const auto fingerprint = static_cast<uint32_t>(random());
    if (expected.contains(fingerprint)) continue;
    EXPECT_TRUE(NumbersOf(runs, fingerprint).empty()) << fingerprint;
    absent_passed += runs.MayContain(HashWith(fingerprint)) ? 1 : 0;
  }
  // The filter lets few absent fingerprints through (about 0.1 % at this load).
  EXPECT_LT(absent_passed, 1000u);
}

TEST(IdRuns, KeepIfLeavesOneRunOfWhatIsKept) {
  IdRuns runs;
  for (uint32_t batch = 0; batch < 50; ++batch) {
    std::vector<IdRuns::Entry> entries;
    for (uint32_t i = 0; i < 100; ++i) entries.push_back({(batch * 100 + i) * 2654435761U, batch * 100 + i});
    runs.Add(entries);
  }
  runs.KeepIf([](uint32_t number) { return number % 3 == 0; });
  EXPECT_EQ(runs.runs(), 1u);
  EXPECT_EQ(runs.size(), 1667u);
  size_t dropped_passed = 0;
  for (uint32_t number = 0; number < 5000; ++number) {
    const std::set<uint32_t> found = NumbersOf(runs, number * 2654435761U);
    EXPECT_EQ(found.contains(number), number % 3 == 0) << number;
    if (number % 3 != 0) dropped_passed += runs.MayContain(HashWith(number * 2654435761U)) ? 1 : 0;
  }
  // The filter was made again without the dropped ones.
  EXPECT_LT(dropped_passed, 30u);
  runs.KeepIf([](uint32_t) { return false; });
  EXPECT_EQ(runs.size(), 0u);
  EXPECT_FALSE(runs.MayContain(HashWith(0)));
}

std::shared_ptr<ColdChunkFile> TestColdFile() {
  std::string directory = ::testing::TempDir() + "/id-runs-XXXXXX";
  if (::mkdtemp(directory.data()) == nullptr) return nullptr;
  auto created = ColdChunkFile::Create(directory);
  ::rmdir(directory.c_str());  // the file is unlinked: the directory is empty, and goes now
  return created.ok() ? std::shared_ptr<ColdChunkFile>(std::move(*created)) : nullptr;
}

// `count` entries of random fingerprints, numbered on from `all` (which they join), added as one run.
void AddRandomRun(IdRuns& runs, std::mt19937& random, std::vector<IdRuns::Entry>& all, size_t count) {
  std::vector<IdRuns::Entry> entries;
  for (size_t i = 0; i < count; ++i) {
    entries.push_back({static_cast<uint32_t>(random()), static_cast<uint32_t>(all.size())});
    all.push_back(entries.back());
  }
  runs.Add(entries);
}

TEST(IdRuns, RunsInTheColdFileAreFoundAsOnTheHeap) {
  const std::shared_ptr<ColdChunkFile> cold = TestColdFile();
  ASSERT_NE(cold, nullptr);
  IdRuns runs;
  std::mt19937 random(11);
  std::vector<IdRuns::Entry> all;
  auto add = [&](size_t count) { AddRandomRun(runs, random, all, count); };
  add(20'000);
  auto moved = runs.MoveToCold(cold);
  ASSERT_TRUE(moved.ok());
  EXPECT_GT(*moved, 0u);
  EXPECT_GT(cold->bytes(), 0u);
  // Later runs, and the merges that rewrite the moved ones, go to the file as they are written.
  for (int i = 0; i < 8; ++i) add(10'000);
  EXPECT_GE(cold->bytes(), (runs.size() * sizeof(IdRuns::Entry)) / 2);
  for (const IdRuns::Entry& entry : all) {
    ASSERT_EQ(runs.Find(HashWith(entry.fingerprint), [&](uint32_t n) { return n == entry.number; }),
              entry.number);
  }
  // Retention's rewrite goes to the file too, and gives the old runs' places back.
  const uint64_t before = cold->bytes();
  runs.KeepIf([](uint32_t number) { return number % 2 == 0; });
  EXPECT_LT(cold->bytes(), before);
  EXPECT_GE(cold->bytes(), (runs.size() * sizeof(IdRuns::Entry)) / 2);
  for (const IdRuns::Entry& entry : all) {
    ASSERT_EQ(runs.Find(HashWith(entry.fingerprint), [&](uint32_t n) { return n == entry.number; }),
              entry.number % 2 == 0 ? std::optional<uint32_t>(entry.number) : std::nullopt);
  }
}

// Each run more than twice the next one: what the merges keep.
void ExpectEachRunMoreThanTwiceTheNext(const std::vector<size_t>& sizes) {
  for (size_t i = 0; i + 1 < sizes.size(); ++i) {
    EXPECT_GT(sizes[i], 2 * sizes[i + 1]) << "run " << i << " of " << sizes.size();
  }
}

// A merge taken out is written on another thread while this one adds runs, finds every entry and moves
// chunks to the cold file, as ingest and the sealing passes do while the server's merge runs (a race
// would show under ThreadSanitizer); put back, it leaves the same entries in fewer runs.
TEST(IdRuns, AMergeWrittenOnAnotherThreadLeavesEveryEntryFoundMeanwhileAndAfter) {
  const std::shared_ptr<ColdChunkFile> cold = TestColdFile();
  ASSERT_NE(cold, nullptr);
  IdRuns runs;
  runs.MergeInBackground();
  std::mt19937 random(5);
  std::vector<IdRuns::Entry> all;
  auto add = [&](size_t count) { AddRandomRun(runs, random, all, count); };
  auto expect_all_found = [&] {
    for (const IdRuns::Entry& entry : all) {
      ASSERT_TRUE(runs.MayContain(HashWith(entry.fingerprint)));
      ASSERT_EQ(runs.Find(HashWith(entry.fingerprint), [&](uint32_t n) { return n == entry.number; }),
                entry.number);
    }
  };
  ASSERT_TRUE(runs.MoveToCold(cold).ok());
  for (int i = 0; i < 6; ++i) add(10'000);
  EXPECT_EQ(runs.runs(), 6u);  // nothing merged by Add
  std::optional<IdRuns::Merge> merge = runs.TakeMerge();
  ASSERT_TRUE(merge.has_value());
  EXPECT_TRUE(runs.merge_out());
  EXPECT_FALSE(runs.TakeMerge().has_value());  // one at a time
  std::thread writer([&] { merge->Write(); });
  for (int i = 0; i < 5; ++i) {
    add(10'000);
    ASSERT_TRUE(runs.MoveToCold(cold).ok());
    expect_all_found();
  }
  writer.join();
  EXPECT_EQ(runs.runs(), 11u);
  runs.PutMerge(*merge);
  EXPECT_FALSE(runs.merge_out());
  EXPECT_EQ(runs.runs(), 6u);  // six runs merged into one, the five added meanwhile after it
  merge.reset();
  expect_all_found();
  for (merge = runs.TakeMerge(); merge; merge = runs.TakeMerge()) {
    merge->Write();
    runs.PutMerge(*merge);
  }
  EXPECT_EQ(runs.size(), all.size());
  EXPECT_LE(runs.runs(), 2u);
  expect_all_found();
  // The filter outgrown by the ids added meanwhile was made again for twice them, off the lock too.
  EXPECT_GE(runs.filter_bytes(), 2 * all.size() * 10 / 8);
  std::set<uint32_t> held;
  for (const IdRuns::Entry& entry : all) held.insert(entry.fingerprint);
  size_t absent_passed = 0;
  for (uint32_t i = 0; i < 100'000; ++i) {
    const auto fingerprint = static_cast<uint32_t>(random());
    if (!held.contains(fingerprint)) absent_passed += runs.MayContain(HashWith(fingerprint)) ? 1 : 0;
  }
  EXPECT_LT(absent_passed, 1000u);
}

// The binary counter's rule: after the merges, each run is more than twice the next one, whether Add
// merged at once or the merges were taken out after each run, and there are about log2 of the runs added.
TEST(IdRuns, MergesKeepEachRunMoreThanTwiceTheNext) {
  for (const bool in_background : {false, true}) {
    IdRuns runs;
    if (in_background) runs.MergeInBackground();
    uint32_t number = 0;
    for (uint32_t batch = 0; batch < 40; ++batch) {
      std::vector<IdRuns::Entry> entries;
      for (uint32_t i = 0; i < 100 + batch % 7; ++i, ++number)
        entries.push_back({number * 2654435761U, number});
      runs.Add(entries);
      for (auto merge = runs.TakeMerge(); merge; merge = runs.TakeMerge()) {
        merge->Write();
        runs.PutMerge(*merge);
      }
      ExpectEachRunMoreThanTwiceTheNext(runs.run_sizes());
    }
    EXPECT_EQ(runs.size(), number);
    EXPECT_LE(runs.runs(), 6u);  // log2(40) + 1
    for (uint32_t n = 0; n < number; ++n) ASSERT_EQ(NumbersOf(runs, n * 2654435761U), std::set<uint32_t>{n});
  }
}

// Retention makes the runs again while a merge is out: the merge, written from the runs as they were, is
// dropped when put back, and what retention kept stays as it was.
TEST(IdRuns, AMergeOfRunsMadeAgainSinceIsDropped) {
  IdRuns runs;
  runs.MergeInBackground();
  for (uint32_t batch = 0; batch < 4; ++batch) {
    std::vector<IdRuns::Entry> entries;
    for (uint32_t i = 0; i < 100; ++i) entries.push_back({(batch * 100 + i) * 2654435761U, batch * 100 + i});
    runs.Add(entries);
  }
  std::optional<IdRuns::Merge> merge = runs.TakeMerge();
  ASSERT_TRUE(merge.has_value());
  runs.KeepIf([](uint32_t number) { return number % 2 == 0; });
  merge->Write();
  runs.PutMerge(*merge);
  EXPECT_EQ(runs.runs(), 1u);
  EXPECT_EQ(runs.size(), 200u);
  for (uint32_t number = 0; number < 400; ++number) {
    EXPECT_EQ(NumbersOf(runs, number * 2654435761U).contains(number), number % 2 == 0) << number;
  }
  EXPECT_FALSE(runs.TakeMerge().has_value());  // one run: nothing to merge
}

// A stop gives a merge up (the server's stop does not wait for it): put back, it changes nothing, and the
// same merge is taken again.
TEST(IdRuns, AMergeGivenUpChangesNothingAndIsTakenAgain) {
  IdRuns runs;
  runs.MergeInBackground();
  std::mt19937 random(3);
  std::vector<IdRuns::Entry> all;
  for (int i = 0; i < 4; ++i) AddRandomRun(runs, random, all, 30'000);  // past the filter's first 65 536
  const std::vector<size_t> before = runs.run_sizes();
  const size_t filter_before = runs.filter_bytes();
  std::optional<IdRuns::Merge> merge = runs.TakeMerge();
  ASSERT_TRUE(merge.has_value());
  const std::atomic<bool> stop{true};
  merge->Write(&stop);
  runs.PutMerge(*merge);
  EXPECT_EQ(runs.run_sizes(), before);
  EXPECT_EQ(runs.filter_bytes(), filter_before);
  merge = runs.TakeMerge();
  ASSERT_TRUE(merge.has_value());
  merge->Write();
  runs.PutMerge(*merge);
  EXPECT_EQ(runs.runs(), 1u);
  EXPECT_GT(runs.filter_bytes(), filter_before);
  for (const IdRuns::Entry& entry : all) {
    ASSERT_EQ(runs.Find(HashWith(entry.fingerprint), [&](uint32_t n) { return n == entry.number; }),
              entry.number);
  }
}

// A server's stop while the runs need a merge: MergeBeside gives it up and returns, the runs as they were
// (it took the same merge again and gave it up again, forever, and the stop waited for it).
TEST(IdRuns, MergingBesideReturnsOnceStoppedAndChangesNothing) {
  IdRuns runs;
  std::mt19937 random(4);
  std::vector<IdRuns::Entry> all;
  runs.MergeInBackground();
  for (int i = 0; i < 4; ++i) AddRandomRun(runs, random, all, 30'000);  // past the filter's first 65 536
  const std::vector<size_t> before = runs.run_sizes();
  std::mutex lock;
  const std::atomic<bool> stop{true};
  std::atomic<bool> returned{false};
  std::thread merging([&] {
    runs.MergeBeside(lock, &stop);
    returned = true;
  });
  for (int waited = 0; waited < 3000 && !returned; ++waited)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  if (!returned) {
    ADD_FAILURE() << "MergeBeside did not return within 30 s of a stop";
    std::_Exit(1);  // (the thread cannot be joined)
  }
  merging.join();
  EXPECT_EQ(runs.run_sizes(), before);
  EXPECT_FALSE(runs.merge_out());
}

}  // namespace
}  // namespace tally

// Micro-benchmarks of the hot paths. Run with bench/micro.sh (Release build, repetitions, medians).
#include <benchmark/benchmark.h>

#include <malloc.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "ingest/json_events.h"
#include "ingest/take_home.h"
#include "log/crc32c.h"
#include "log/record.h"
#include "log/segment_log.h"
#include "query/stats.h"
#include "tools/tally/event_mix.h"
#include "views/cell.h"
#include "views/dictionary.h"
#include "views/event_blocks.h"
#include "views/views.h"

namespace tally {
namespace {

constexpr Millis kNow = 1793527200000 + 1800000;

// Advances a xorshift64 sequence and returns its next number: cheap, and the same numbers on every run.
uint64_t NextRandom(uint64_t* state) {
  *state ^= *state << 13;
  *state ^= *state >> 7;
  *state ^= *state << 17;
  return *state;
}

EventMixOptions Mix(uint64_t users) {
  EventMixOptions options;
  options.now = kNow;
  options.users = users;
  options.late_share = 0;
  return options;
}

std::string NdjsonBody(int events) {
  EventMix mix(Mix(200'000));
  std::string body;
  for (int i = 0; i < events; ++i) {
    mix.AppendJson(&body);
    body.push_back('\n');
  }
  return body;
}

std::vector<Event> ParsedEvents(int events, uint64_t users) {
  EventMix mix(Mix(users));
  std::string body;
  for (int i = 0; i < events; ++i) {
    mix.AppendJson(&body);
    body.push_back('\n');
  }
  JsonLimits limits;
  limits.max_events = static_cast<size_t>(events);  // one body of them all (a request takes far fewer)
  auto inputs = ParseEventsBody(body, BodyFormat::kNdjson, limits);
  if (!inputs.ok()) {
    std::fprintf(stderr, "ParsedEvents: %s\n", inputs.status().message().c_str());
    std::abort();
  }
  std::vector<Event> parsed;
  for (const EventInput& input : *inputs) parsed.push_back(ToEvent(input.event));
  return parsed;
}

void BM_TakeHomePostParse(benchmark::State& state) {
  const std::string query = "timestamp=1793528100000&user=user-123456&event=click";
  for (auto _ : state) benchmark::DoNotOptimize(ParseTakeHomePost(query));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_TakeHomePostParse);

void BM_JsonBatchParse(benchmark::State& state) {
  const std::string body = NdjsonBody(1000);
  EventsParser parser;  // kept from body to body, as each server thread keeps its own
  for (auto _ : state) benchmark::DoNotOptimize(parser.Parse(body, BodyFormat::kNdjson));
  state.SetItemsProcessed(state.iterations() * 1000);
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * body.size()));
}
BENCHMARK(BM_JsonBatchParse);

void BM_RecordEncode(benchmark::State& state) {
  const std::vector<Event> events = ParsedEvents(1000, 200'000);
  std::string frames;
  for (auto _ : state) {
    frames.clear();
    for (const Event& event : events) AppendEventFrame(event, &frames);
    benchmark::DoNotOptimize(frames.data());
  }
  state.SetItemsProcessed(state.iterations() * 1000);
}
BENCHMARK(BM_RecordEncode);

// Applying one million distinct events (1 % of them repeat an earlier id, as EventMix draws them) to
// views that already hold range(0) events of another seed: the cost grows with what is held.
void BM_ViewApply(benchmark::State& state) {
  static const std::vector<Event> events = ParsedEvents(1'000'000, 200'000);
  auto views = std::make_unique<Views>();
  EventMixOptions earlier = Mix(200'000);
  earlier.seed = 7;
  EventMix mix(earlier);
  for (int64_t i = 0; i < state.range(0); i += 1000) {
    std::string body;
    for (int j = 0; j < 1000; ++j) {
      mix.AppendJson(&body);
      body.push_back('\n');
    }
    auto inputs = ParseEventsBody(body, BodyFormat::kNdjson);  // kept alive: the loop walks into it
    for (const EventInput& input : *inputs) views->Apply(RecordView(input.event), LogPosition{});
  }
  size_t next = 0;
  for (auto _ : state) views->Apply(events[next++], LogPosition{});
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ViewApply)->Arg(0)->Arg(5'000'000)->Iterations(1'000'000);

// A canonical UUID made from `i` (the form SDKs send), different for each i.
std::string UuidOf(uint64_t i) {
  uint64_t high = i * 0x9E3779B97F4A7C15ULL, low = (i ^ 0x5851F42D4C957F2DULL) * 0xD6E8FEB86659FD93ULL;
  std::string text;
  constexpr char kHex[] = "0123456789abcdef";
  for (int digit = 0; digit < 32; ++digit) {
    if (digit == 8 || digit == 12 || digit == 16 || digit == 20) text.push_back('-');
    uint64_t& half = digit < 16 ? high : low;
    text.push_back(kHex[half >> 60]);
    half <<= 4;
  }
  return text;
}

// The event-id index holding range(0) ids, then one million more, each new id followed by a re-send of
// an id from anywhere before it one time in a hundred: nanoseconds an id, the longest single insert, and
// the heap the index holds per id (glibc's count of bytes in use) once the cold part has moved to the
// cold chunk file. range(1) 0: the runs are merged by the insert that fills the hot set; 1: as in
// tallyd, by another thread every 100 ms (the sealing passes), which takes each merge and puts it back
// under the lock the inserts take, and writes it without.
void BM_EventIdIndexNewIds(benchmark::State& state) {
  const bool merged_in_background = state.range(1) != 0;
  for (auto _ : state) {
    state.PauseTiming();
    const size_t heap_before = mallinfo2().uordblks + mallinfo2().hblkhd;
    auto index = std::make_unique<EventIdIndex>();
    // As in tallyd: what is not hot moves to the cold chunk file after each pass (here, every million).
    auto cold = ColdChunkFile::Create("/tmp");
    if (!cold.ok()) {
      state.SkipWithError(cold.status().message().c_str());
      return;
    }
    const std::shared_ptr<ColdChunkFile> cold_file = std::move(*cold);
    std::mutex lock;  // the order lock
    auto move_cold = [&] {
      std::lock_guard held(lock);
      (void)index->MoveColdChunks(cold_file, size_t{1} << 19, 1);
    };
    std::atomic<bool> stop{false};
    std::thread merger;
    if (merged_in_background) {
      index->runs_to_merge().MergeInBackground();
      merger = std::thread([&] {
        while (!stop.load()) {
          index->runs_to_merge().MergeBeside(lock);
          std::this_thread::sleep_for(std::chrono::milliseconds(100));
        }
      });
    }
    auto insert = [&](std::string_view id, RowRef row) {
      std::lock_guard held(lock);
      return index->FindOrInsert(id, row, 1);
    };
    const auto held = static_cast<uint64_t>(state.range(0));
    for (uint64_t i = 0; i < held; ++i) {
      insert(UuidOf(i), RowRef{0, 0, i});
      if (i % 1'000'000 == 0) move_cold();
    }
    move_cold();
    std::vector<std::string> ids;
    for (uint64_t i = held; i < held + 1'000'000; ++i) ids.push_back(UuidOf(i));
    std::vector<std::string> resent;
    for (uint64_t i = 0; i < 10'000; ++i) resent.push_back(UuidOf((i * 7919) % (held + 1)));
    state.ResumeTiming();
    const auto start = std::chrono::steady_clock::now();
    double longest = 0;
    for (size_t i = 0; i < ids.size(); ++i) {
      const auto before = std::chrono::steady_clock::now();
      benchmark::DoNotOptimize(insert(ids[i], RowRef{0, 1}));
      const std::chrono::duration<double, std::milli> took = std::chrono::steady_clock::now() - before;
      longest = std::max(longest, took.count());
      if (i % 100 == 0) benchmark::DoNotOptimize(insert(resent[i / 100], RowRef{0, 2}));
      if (i % 100'000 == 0) move_cold();
    }
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    state.PauseTiming();
    stop = true;
    if (merger.joinable()) merger.join();
    ids.clear();
    ids.shrink_to_fit();
    resent.clear();
    move_cold();
    const size_t heap_after = mallinfo2().uordblks + mallinfo2().hblkhd;
    state.counters["ns_per_new_id"] = seconds * 1e9 / 1'000'000;
    state.counters["longest_insert_ms"] = longest;
    state.counters["heap_bytes_per_id"] =
        static_cast<double>(heap_after - heap_before) / static_cast<double>(index->size());
    state.counters["runs"] = static_cast<double>(index->runs().runs());
    index.reset();
    state.ResumeTiming();
  }
}
BENCHMARK(BM_EventIdIndexNewIds)
    ->ArgsProduct({{1'000'000, 16'000'000, 20'000'000}, {0, 1}})  // 16 M: the new ids cross 2^25
    ->Iterations(1)
    ->Unit(benchmark::kMillisecond);

// A shard's user dictionary as the batch path uses it: range(0) users known, each batch of 1 000 events
// naming users drawn from all of them (1 in 100 new), their slots asked for first, then numbered in turn
// (Views::RunShardSteps), each key hashed once (range(2) = 1, Dictionary::Hashed) or for each of the two
// (0). range(1): 0 the load generator's ids ("u123456"), 1 UUIDs, as SDKs send them.
void BM_DictionaryIntern(benchmark::State& state) {
  const auto users = static_cast<uint64_t>(state.range(0));
  auto key_of = [&](uint64_t i) { return state.range(1) == 0 ? "u" + std::to_string(i) : UuidOf(i); };
  const bool hashed_once = state.range(2) == 1;
  Dictionary dictionary;
  for (uint64_t i = 0; i < users; ++i) dictionary.Intern(key_of(i));
  constexpr size_t kBatch = 1000;
  uint64_t random = 88172645463325252ULL, next_new = users;
  std::vector<std::string> batch(kBatch);
  std::vector<Dictionary::Hashed> keys(kBatch);
  for (auto _ : state) {
    state.PauseTiming();
    for (std::string& key : batch) {
      NextRandom(&random);
      key = key_of(random % 100 == 0 ? next_new++ : random % users);
    }
    state.ResumeTiming();
    if (hashed_once) {
      for (size_t i = 0; i < kBatch; ++i) {
        keys[i] = Dictionary::HashOf(batch[i]);
        dictionary.Prefetch(keys[i]);
      }
      for (const Dictionary::Hashed& key : keys) benchmark::DoNotOptimize(dictionary.Intern(key));
    } else {
      for (const std::string& key : batch) dictionary.Prefetch(key);
      for (const std::string& key : batch) benchmark::DoNotOptimize(dictionary.Intern(key));
    }
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * kBatch));
}
BENCHMARK(BM_DictionaryIntern)
    ->Args({250'000, 0, 0})
    ->Args({250'000, 0, 1})
    ->Args({1'000'000, 0, 0})
    ->Args({1'000'000, 0, 1})
    ->Args({1'000'000, 1, 0})
    ->Args({1'000'000, 1, 1});

// GET /analytics: one hour holding range(0) events of 200 000 users.
void BM_HourQuery(benchmark::State& state) {
  const std::vector<Event> events = ParsedEvents(100'000, 200'000);
  Views views;
  for (int64_t i = 0; i < state.range(0); ++i) {
    Event event = events[static_cast<size_t>(i) % events.size()];
    event.event_id.clear();  // count every application, as take-home events do
    event.user_id = std::string("u").append(std::to_string(i % 200'000));
    views.Apply(event, LogPosition{});
  }
  for (auto _ : state) benchmark::DoNotOptimize(views.TakeHomeHour(HourOf(kNow)));
  state.counters["events_in_hour"] = static_cast<double>(state.range(0));
}
BENCHMARK(BM_HourQuery)->Arg(1'000'000);

// An hour's cell taking events as a shuffled backfill brings them: range(0) events of range(1) users
// (numbers spread over 250 000, as a shop's users among a shard's), of 4 types; the users read at the end.
void BM_CellAdd(benchmark::State& state) {
  const auto events = static_cast<size_t>(state.range(0));
  const auto users = static_cast<uint64_t>(state.range(1));
  std::vector<uint64_t> notes(events);
  uint64_t random = 88172645463325252ULL;
  for (uint64_t& note : notes) {
    NextRandom(&random);
    const uint64_t user = (random % users) * (250'000 / users);
    note = (random >> 40) % 4 << 32 | user;
  }
  for (auto _ : state) {
    Cell cell;
    for (const uint64_t note : notes)
      cell.Add(static_cast<uint32_t>(note >> 32), static_cast<uint32_t>(note));
    benchmark::DoNotOptimize(cell.users().cardinality());
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(events));
}
BENCHMARK(BM_CellAdd)->Args({7'000, 5'000})->Args({125'000, 60'000})->Args({1'000'000, 250'000});

// Exact unique users over 24 hours holding range(0) events in all, 1 000 000 users: the union of 24
// hourly user sets (GET /v1/stats?bucket=all over a day).
void BM_UniqueUsers24Hours(benchmark::State& state) {
  static std::unique_ptr<Views> views;
  static int64_t built_for = -1;
  if (built_for != state.range(0)) {
    views = std::make_unique<Views>();
    Event event;
    event.type = "impression";
    uint64_t random = 42;
    for (int64_t i = 0; i < state.range(0); ++i) {
      NextRandom(&random);
      event.user_id = std::string("u").append(std::to_string(random % 1'000'000));
      event.timestamp =
          1793491200000 + (i % 24) * kMillisPerHour + static_cast<Millis>(random % kMillisPerHour);
      views->Apply(event, LogPosition{});
    }
    built_for = state.range(0);
  }
  const StatsRequest request{1793491200000, 1793491200000 + 24 * kMillisPerHour, Bucket::kAll, {}};
  for (auto _ : state) benchmark::DoNotOptimize(ComputeStats(*views, request));
  state.counters["events"] = static_cast<double>(state.range(0));
}
BENCHMARK(BM_UniqueUsers24Hours)->Arg(2'400'000)->Arg(24'000'000)->Unit(benchmark::kMillisecond);

// Top 10 products of one hour of a shop (7 000 events, 20 000 products, 250 000 users), in process: the
// hour hot (Arg 0: its rows scanned) or sealed (Arg 1: its index read), or sealed and then 1 event in 32
// corrected into the next hour (Arg 2: its index read through the seal's mask, as full as it gets before
// the hour is sealed again).
void BM_TopProductsOneHour(benchmark::State& state) {
  Views views;
  Event event;
  uint64_t random = 7;
  std::vector<Event> corrections;
  for (int i = 0; i < 7'000; ++i) {
    NextRandom(&random);
    event.type = random % 10 < 3 ? "click" : "impression";
    event.user_id = std::string("u").append(std::to_string(random % 250'000));
    event.product_id = std::string("p").append(std::to_string((random >> 20) % 20'000));
    event.store_id = std::string("s").append(std::to_string((random >> 40) % 200));
    event.timestamp = 1793491200000 + static_cast<Millis>(random % kMillisPerHour);
    event.event_id = std::string("e").append(std::to_string(i));
    views.Apply(event, LogPosition{});
    if (i % 32 == 0) {
      corrections.push_back(event);
      corrections.back().version = 2;
      corrections.back().timestamp += kMillisPerHour;
    }
  }
  if (state.range(0) >= 1) views.SealHours(0);
  if (state.range(0) == 2) {
    for (const Event& correction : corrections) views.Apply(correction, LogPosition{});
  }
  const TopRequest request{TopDimension::kProduct, 1793491200000, 1793491200000 + kMillisPerHour,
                           std::nullopt, 10};
  for (auto _ : state) benchmark::DoNotOptimize(ComputeTop(views, request));
}
BENCHMARK(BM_TopProductsOneHour)->Arg(0)->Arg(1)->Arg(2)->Unit(benchmark::kMicrosecond);

// The whole events of one sealed hour of a shard (20 000 events of the shop's mix), as its file holds them:
// one event read by number, each from another block (Arg 0: every read decompresses a block), or the next
// one (Arg 1: a timeline's events in one block, decompressed once). The counter is
// the blocks' bytes per event.
void BM_SealedEventRead(benchmark::State& state) {
  constexpr uint32_t kEvents = 20'000;
  EventBlocksWriter writer;
  size_t frame_bytes = 0;
  for (const Event& event : ParsedEvents(kEvents, 250'000)) {
    std::string frame;
    AppendEventFrame(event, &frame);
    frame_bytes += frame.size();
    writer.Add(std::string_view(frame).substr(kFrameHeaderBytes));
  }
  const std::string section = *writer.Finish();
  auto words = std::make_shared<std::vector<uint32_t>>((section.size() + 3) / 4);
  std::memcpy(words->data(), section.data(), section.size());
  const EventBlocks blocks =
      *EventBlocks::FromBytes({reinterpret_cast<const char*>(words->data()), section.size()}, words);
  EventBlocks::Reader reader;
  uint32_t record = 0;
  for (auto _ : state) {
    if (state.range(0) == 0) {
      record = (record + 7'919) % kEvents;
      benchmark::DoNotOptimize(blocks.Payload(record, &reader));
    } else {
      record = (record + 1) % kEvents;
      benchmark::DoNotOptimize(blocks.Payload(record, &reader));
    }
  }
  state.counters["bytes_per_event"] = static_cast<double>(section.size()) / kEvents;
  state.counters["frame_bytes_per_event"] = static_cast<double>(frame_bytes) / kEvents;
}
BENCHMARK(BM_SealedEventRead)->Arg(0)->Arg(1);

// Writing those events' blocks, per event (what a sealing pass adds for each event it seals).
void BM_SealedEventWrite(benchmark::State& state) {
  std::vector<std::string> frames;
  for (const Event& event : ParsedEvents(20'000, 250'000)) AppendEventFrame(event, &frames.emplace_back());
  EventBlocksWriter writer;
  for (auto _ : state) {
    for (const std::string& frame : frames) writer.Add(std::string_view(frame).substr(kFrameHeaderBytes));
    benchmark::DoNotOptimize(writer.Finish());
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * frames.size()));
}
BENCHMARK(BM_SealedEventWrite)->Unit(benchmark::kMillisecond);

// The same events read one by one from a file of their frames, as a read from the log does (two read
// calls, the frame's checksum), the file in the page cache.
void BM_LogEventRead(benchmark::State& state) {
  constexpr uint32_t kEvents = 20'000;
  std::string frames;
  std::vector<uint32_t> offsets;
  for (const Event& event : ParsedEvents(kEvents, 250'000)) {
    offsets.push_back(static_cast<uint32_t>(frames.size()));
    AppendEventFrame(event, &frames);
  }
  char path[] = "/tmp/tally-micro-log-XXXXXX";
  const int fd = ::mkstemp(path);
  if (fd < 0 || ::write(fd, frames.data(), frames.size()) != static_cast<ssize_t>(frames.size()))
    std::abort();
  uint32_t record = 0;
  for (auto _ : state) {
    record = (record + 7'919) % kEvents;
    benchmark::DoNotOptimize(ReadPayloadAt(fd, path, offsets[record]));
  }
  ::close(fd);
  ::unlink(path);
}
BENCHMARK(BM_LogEventRead);

// Reading a file that is in the page cache, as a start reads the cold chunk file: the CRC-32C of 256 MiB
// through a new mapping whose pages are all mapped first (MADV_POPULATE_READ, as a start maps the file),
// the file written 64 KiB at a time (0) or a huge page (2 MiB) at a time (1), or through a 1 MiB buffer
// (2: pread of the first). The page cache keeps a file in folios no larger than the writes that made
// them; a huge page's folio is mapped by one entry, the others by an entry per 4 KiB page, and on a
// virtual machine with shadow page tables the first read of each such page is a trip to the hypervisor.
void BM_PageCacheRead(benchmark::State& state) {
  constexpr size_t kBytes = size_t{256} << 20;
  const auto how = state.range(0);
  const size_t write_bytes = how == 1 ? size_t{2} << 20 : size_t{64} << 10;
  char path[] = "/tmp/tally-micro-pages-XXXXXX";
  const int fd = ::mkstemp(path);
  if (fd < 0) std::abort();
  {
    std::vector<char> bytes(write_bytes);
    for (size_t at = 0; at < kBytes; at += write_bytes) {
      for (size_t i = 0; i < write_bytes; i += 64) bytes[i] = static_cast<char>(at + i);
      if (::write(fd, bytes.data(), write_bytes) != static_cast<ssize_t>(write_bytes)) std::abort();
    }
  }
  std::vector<char> buffer(size_t{1} << 20);
  for (auto _ : state) {
    uint32_t crc = 0;
    if (how == 2) {
      for (size_t at = 0; at < kBytes; at += buffer.size()) {
        if (::pread(fd, buffer.data(), buffer.size(), static_cast<off_t>(at)) !=
            static_cast<ssize_t>(buffer.size()))
          std::abort();
        crc = Crc32c({buffer.data(), buffer.size()}, crc);
      }
    } else {
      void* mapped = ::mmap(nullptr, kBytes, PROT_READ, MAP_PRIVATE, fd, 0);
      if (mapped == MAP_FAILED) std::abort();
      ::madvise(mapped, kBytes, MADV_POPULATE_READ);
      crc = Crc32c({static_cast<const char*>(mapped), kBytes});
      ::munmap(mapped, kBytes);
    }
    benchmark::DoNotOptimize(crc);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * kBytes));
  ::close(fd);
  ::unlink(path);
}
BENCHMARK(BM_PageCacheRead)->Arg(0)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace tally

BENCHMARK_MAIN();

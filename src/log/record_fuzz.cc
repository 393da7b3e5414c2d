// libFuzzer target: the log's bytes as recovery finds them after a crash or damage. Frames are decoded
// (stream batches too), and a segment whose tail is the fuzzer's bytes is recovered: the records written
// before must all come back, and a second recovery must find nothing more to cut. Where the bytes hold
// damage with intact records after it, recovery must refuse and leave the file as it was; skipping the
// damage (--skip-damaged-records) must then keep the records before it and leave an intact log.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <string_view>

#include "log/record.h"
#include "log/segment_log.h"

namespace {

namespace fs = std::filesystem;

void DecodeFrames(std::string_view bytes, int depth) {
  tally::FrameView frame;
  while (!bytes.empty() && tally::ReadFrame(bytes, &frame) == tally::FrameCheck::kComplete) {
    if (tally::IsStreamBatch(frame.payload)) {
      auto batch = tally::ParseStreamBatch(frame.payload);
      if (batch.ok() && depth == 0) DecodeFrames(batch->frames, depth + 1);
    } else {
      (void)tally::DecodePayload(frame.payload);
    }
    bytes.remove_prefix(frame.frame_bytes);
  }
}

constexpr int kRecordsBefore = 3;

std::string ReadWholeFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

uint64_t Recover(const std::string& directory, uint64_t* cut_bytes, bool skip_damaged = false) {
  uint64_t visited = 0;
  tally::RecoveryReport report;
  tally::LogOptions options{directory};
  options.skip_damaged_records = skip_damaged;
  auto log = tally::SegmentLog::Open(
      options, [&](uint64_t, tally::LogPosition, std::string_view) { return ++visited, tally::Status::Ok(); },
      &report);
  *cut_bytes = report.cut_bytes;
  return log.ok() ? visited : UINT64_MAX;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  DecodeFrames(bytes, 0);

  static const std::string root = (fs::path(fs::exists("/dev/shm") ? "/dev/shm" : fs::temp_directory_path()) /
                                   ("tally-record-fuzz-" + std::to_string(::getpid())))
                                      .string();
  fs::remove_all(root);
  {
    tally::RecoveryReport report;
    auto log = tally::SegmentLog::Open(
        {root}, [](uint64_t, tally::LogPosition, std::string_view) { return tally::Status::Ok(); }, &report);
    if (!log.ok()) return 0;
    std::string frames;
    for (int i = 0; i < kRecordsBefore; ++i) {
      tally::Event event;
      event.type = "click";
      event.user_id = "user-" + std::to_string(i);
      event.timestamp = 1'700'000'000'000 + i;
      tally::AppendEventFrame(event, &frames);
    }
    if (!(*log)->Append(frames, kRecordsBefore).ok()) return 0;
  }
  auto segments = tally::SegmentLog::ListSegments(root);
  if (!segments.ok() || segments->size() != 1) __builtin_trap();
  const std::string path = root + "/" + (*segments)[0];
  std::ofstream(path, std::ios::binary | std::ios::app)
      .write(bytes.data(), static_cast<std::streamsize>(size));

  const std::string written = ReadWholeFile(path);
  uint64_t cut = 0;
  uint64_t first = Recover(root, &cut);
  if (first == UINT64_MAX) {
    if (ReadWholeFile(path) != written) __builtin_trap();
    first = Recover(root, &cut, /*skip_damaged=*/true);
    if (first == UINT64_MAX) __builtin_trap();
  }
  // The fuzzer's bytes may hold whole valid frames after ours; they are records too.
  if (first != UINT64_MAX && first < kRecordsBefore) __builtin_trap();
  if (first != UINT64_MAX) {
    uint64_t cut_again = 0;
    const uint64_t second = Recover(root, &cut_again);
    if (second != first || cut_again != 0) __builtin_trap();
  }
  fs::remove_all(root);
  return 0;
}

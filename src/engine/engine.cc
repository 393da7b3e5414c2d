#include "engine/engine.h"

#include <spdlog/spdlog.h>

#include "common/clock.h"
#include "common/files.h"
#include "engine/checkpoint.h"
#include "segments/sealed_hour_file.h"

#include <fcntl.h>
#include <malloc.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <span>
#include <thread>
#include <tuple>

namespace tally {

void IngestBatch::Add(const EventView& event) {
  frame_offsets_.push_back(static_cast<uint32_t>(frames_.size()));
  AppendEventFrame(event, &frames_);
  late_events_.push_back(HourOf(event.timestamp) < HourOf(event.received_at));
}

void IngestBatch::Add(const RejectedInput& rejected) {
  frame_offsets_.push_back(static_cast<uint32_t>(frames_.size()));
  AppendRejectedFrame(rejected, &frames_);
  late_events_.push_back(false);
}

void IngestBatch::Add(const SchemaChange& change) {
  frame_offsets_.push_back(static_cast<uint32_t>(frames_.size()));
  AppendSchemaChangeFrame(change, &frames_);
  late_events_.push_back(false);
}

void IngestBatch::Add(const RetentionCut& cut) {
  frame_offsets_.push_back(static_cast<uint32_t>(frames_.size()));
  AppendRetentionCutFrame(cut, &frames_);
  late_events_.push_back(false);
}

void IngestBatch::Clear() {
  frames_.clear();
  frame_offsets_.clear();
  late_events_.clear();
}

Result<DecodedFrames> DecodeFrames(std::string_view frames) {
  DecodedFrames decoded;
  size_t at = 0;
  while (at < frames.size()) {
    FrameView frame;
    if (ReadFrame(frames.substr(at), &frame) != FrameCheck::kComplete)
      return Status::Corruption("batch: a frame at byte " + std::to_string(at) + " is damaged or cut");
    auto record = DecodePayloadView(frame.payload);
    if (!record.ok()) return record.status();
    decoded.offsets.push_back(static_cast<uint32_t>(at));
    decoded.records.push_back(std::move(*record));
    at += frame.frame_bytes;
  }
  return decoded;
}

namespace {

constexpr uint64_t kColdBytesPerTrim = uint64_t{256} << 20;
// A pass that sealed this many rows made copies of them (their entries by product and store, their
// columns, and the files' blocks): their heap goes back to the system after the pass, as after chunks moved.
constexpr uint64_t kSealedRowsPerTrim = uint64_t{1} << 20;

// The records of `rows` (a part's), in their order, as a sealed hour file's events (EventBlocks). Those of
// the first `previous->records()` rows are taken from `previous` (the part this one replaces: the same
// records), the others read through mappings of their log segments, kept in `segments` for a sealing pass:
// a read call per record would cost more than compressing it.
Result<std::string> EventsOfRecords(
    const SegmentLog& log, const RowColumns& rows, const EventBlocks* previous,
    absl::flat_hash_map<uint32_t, std::shared_ptr<const MappedFile>>* segments) {
  EventBlocksWriter writer;
  uint32_t first = 0;
  if (previous != nullptr && previous->records() <= rows.rows()) {
    // A damaged block of the previous seal: all of them are read from the log instead.
    if (writer.AddRecordsOf(*previous).ok()) first = previous->records();
  }
  // An hour's events are spread through the log (a cache miss each): asked for well ahead, many of them
  // are on their way at once.
  constexpr size_t kAhead = 16;
  auto prefetch = [&](uint64_t packed) {
    const LogPosition position = LogPosition::Unpack(packed);
    auto it = segments->find(position.segment);
    if (it != segments->end() && it->second != nullptr && position.offset < it->second->bytes().size())
      __builtin_prefetch(it->second->bytes().data() + position.offset);
  };
  for (uint32_t i = first; i < rows.rows(); ++i) {
    if (i + kAhead < rows.rows()) prefetch(rows.Position(i + kAhead));
    const LogPosition position = LogPosition::Unpack(rows.Position(i));
    std::shared_ptr<const MappedFile>& segment = (*segments)[position.segment];
    FrameView frame;
    auto read = [&] {
      return segment != nullptr && position.offset < segment->bytes().size() &&
             ReadFrame(segment->bytes().substr(position.offset), &frame) == FrameCheck::kComplete;
    };
    if (!read()) {  // not mapped yet, or mapped before the record was written (the newest segment grows)
      auto mapped = log.MapSegment(position.segment);
      if (!mapped.ok()) return mapped.status();
      segment = std::move(*mapped);
      if (!read()) {
        return Status::Corruption("log segment " + std::to_string(position.segment) +
                                  ": no whole record at byte " + std::to_string(position.offset));
      }
    }
    writer.Add(frame.payload);
  }
  return writer.Finish();
}

// The materializer's loop over a log being read (a start, `tally replay`): records are gathered into
// batches and applied as live batches are, each batch's event ids and users prefetched together. The
// payloads are copied into one buffer that never grows while a batch is gathered (the log's mapping of a
// segment may be gone by the time the batch is applied), so the records decoded from it stay valid.
class LogApplier {
 public:
  LogApplier(Views* views, uint64_t* applied) : views_(views), applied_(applied) {
    buffer_.reserve(kBufferBytes);
  }
  LogApplier(const LogApplier&) = delete;
  LogApplier& operator=(const LogApplier&) = delete;

  SegmentLog::RecordVisitor Visitor() {
    return [this](uint64_t lsn, LogPosition position, std::string_view payload) {
      return Visit(lsn, position, payload);
    };
  }
  // Applies the records gathered so far. Call it when the log's reading is over.
  void Flush() {
    if (!records_.empty()) views_->ApplyBatch(records_, positions_);
    records_.clear();
    positions_.clear();
    buffer_.clear();
  }

 private:
  // Room for the largest record (only the pages written cost memory).
  static constexpr size_t kBufferBytes = kMaxPayloadBytes;
  static constexpr size_t kBatchRecords = 1024;

  Status Visit(uint64_t lsn, LogPosition position, std::string_view payload) {
    // What came before a damaged record is applied, as it would be one record at a time.
    auto damaged = [&](const Status& status) {
      Flush();
      return Status::Corruption("record " + std::to_string(lsn) + ": " + status.message());
    };
    if (IsStreamBatch(payload)) {
      Flush();
      auto batch = ParseStreamBatch(payload);
      auto inner = batch.ok() ? DecodeFrames(batch->frames) : Result<DecodedFrames>(batch.status());
      if (!inner.ok()) return damaged(inner.status());
      std::vector<uint64_t> positions(inner->records.size());
      for (size_t i = 0; i < positions.size(); ++i) {
        positions[i] =
            LogPosition{position.segment,
                        position.offset + static_cast<uint32_t>(kFrameHeaderBytes + kStreamBatchHeaderBytes) +
                            inner->offsets[i]}
                .Packed();
      }
      views_->ApplyBatch(inner->records, positions);
      views_->set_stream_sequence(batch->sequence);
      if (applied_ != nullptr) ++*applied_;
      return Status::Ok();
    }
    if (payload.size() > kBufferBytes - buffer_.size()) Flush();
    const size_t at = buffer_.size();
    buffer_.append(payload);  // within the reserved room: the views of earlier records stay valid
    auto record = DecodePayloadView(std::string_view(buffer_).substr(at));
    if (!record.ok()) return damaged(record.status());
    records_.push_back(std::move(*record));
    positions_.push_back(position.Packed());
    if (records_.size() == kBatchRecords) Flush();
    if (applied_ != nullptr) ++*applied_;
    return Status::Ok();
  }

  Views* const views_;
  uint64_t* const applied_;
  std::string buffer_;
  std::vector<RecordView> records_;
  std::vector<uint64_t> positions_;
};

// The process that holds the directory writes its id into the lock file. A checkpoint process forked a moment
// before its server was killed shares the lock until it runs and sees its server gone (it exits at once):
// while the holder named in the file is no longer alive, the lock is waited for, not refused.
Result<int> LockDataDirectory(const std::string& data_dir) {
  if (::mkdir(data_dir.c_str(), 0755) != 0 && errno != EEXIST) {
    return Status::FromErrno("data directory " + data_dir, errno);
  }
  const std::string lock_path = data_dir + "/LOCK";
  int fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return Status::FromErrno("data directory " + data_dir + " is not writable", errno);
  constexpr auto kOrphanWait = std::chrono::seconds(10);
  const auto give_up = std::chrono::steady_clock::now() + kOrphanWait;
  while (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int saved = errno;
    char text[24] = {};
    const ssize_t got = ::pread(fd, text, sizeof(text) - 1, 0);
    pid_t holder = 0;
    if (got > 0) std::from_chars(text, text + got, holder);
    const bool holder_alive = holder <= 0 || ::kill(holder, 0) == 0 || errno == EPERM;
    if (saved != EWOULDBLOCK || holder_alive || std::chrono::steady_clock::now() > give_up) {
      ::close(fd);
      if (saved != EWOULDBLOCK) return Status::FromErrno("lock " + lock_path, saved);
      return Status::Unavailable("data directory " + data_dir + " is in use by another tallyd" +
                                 (holder > 0 ? " (process " + std::to_string(holder) + ")" : ""));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  const std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd, 0) != 0 ||
      ::pwrite(fd, pid.data(), pid.size(), 0) != static_cast<ssize_t>(pid.size())) {
    const int saved = errno;
    ::close(fd);
    return Status::FromErrno("lock " + lock_path, saved);
  }
  return fd;
}

// The views a checkpoint holds, its checksum checked on a thread of its own while they load, then the
// checksums of the chunks they adopt from the cold file, as they adopt them (and by this thread too once
// the load is over).
Result<std::unique_ptr<Views>> LoadCheckpoint(const CheckpointFile& file, const EngineOptions& options,
                                              const std::shared_ptr<ColdChunkFile>& cold) {
  auto payload = ReadCheckpoint(file);
  if (!payload.ok()) return payload.status();
  Status verified, chunks_verified, chunks_verified_after;
  Result<std::unique_ptr<Views>> loaded = Status::Internal("not loaded");
  std::atomic<bool> load_over{false};
  if (cold) cold->BeginLoad();
  {
    std::jthread verify([&] {
      verified = payload->Verify();
      if (cold) chunks_verified = cold->VerifyAdopted(load_over);
    });
    loaded =
        Views::Load(payload->bytes, options.shards, payload->layout, payload->file, cold, options.hot_id_set);
    load_over = true;
    if (cold) chunks_verified_after = cold->VerifyAdopted(load_over);
  }
  if (!verified.ok()) return verified;
  if (!chunks_verified.ok()) return chunks_verified;
  if (!chunks_verified_after.ok()) return chunks_verified_after;
  return loaded;
}

}  // namespace

Result<std::unique_ptr<Engine>> Engine::Open(const EngineOptions& options) {
  auto lock_fd = LockDataDirectory(options.data_dir);
  if (!lock_fd.ok()) return lock_fd.status();

  StartReport start;
  std::unique_ptr<Views> views;
  auto log_start = SegmentLog::FirstRecord(options.data_dir + "/log");
  if (!log_start.ok()) {
    ::close(*lock_fd);
    return log_start.status();
  }
  // Opened first: the checkpoints refer to its chunks.
  std::shared_ptr<ColdChunkFile> cold;
  const std::string checkpoints = options.data_dir + "/checkpoints";
  if (::mkdir(checkpoints.c_str(), 0755) != 0 && errno != EEXIST) {
    spdlog::warn("the views stay on the heap: mkdir {}: {}", checkpoints, std::strerror(errno));
  } else if (auto opened = ColdChunkFile::Open(checkpoints); opened.ok()) {
    cold = std::move(*opened);
  } else {
    spdlog::warn("the views stay on the heap: {}", opened.status().message());
  }
  for (const CheckpointFile& file : ListCheckpoints(options.data_dir + "/checkpoints")) {
    if (file.lsn < *log_start) {
      start.checkpoints_skipped.push_back(file.path + ": covers " + std::to_string(file.lsn) +
                                          " records, retention deleted the log's first " +
                                          std::to_string(*log_start));
      continue;
    }
    auto loaded = LoadCheckpoint(file, options, cold);
    if (!loaded.ok()) {
      start.checkpoints_skipped.push_back(file.path + ": " + loaded.status().message());
      continue;
    }
    views = std::move(*loaded);
    start.checkpoint_lsn = file.lsn;
    start.checkpoint_path = file.path;
    break;
  }
  if (!views) views = std::make_unique<Views>(options.shards, options.hot_id_set);

  LogOptions log_options{options.data_dir + "/log", options.segment_bytes, options.skip_damaged_records};
  // Checkpoints covering damaged records describe a log that is about to change: they are set aside first
  // (a crash after the repair must not find them), and the views are rebuilt from the log.
  bool checkpoint_covers_damage = false;
  log_options.before_skipping_damage = [&](uint64_t records_before_damage) -> Status {
    if (start.checkpoint_lsn > records_before_damage) checkpoint_covers_damage = true;
    bool moved = false;
    for (const CheckpointFile& file : ListCheckpoints(options.data_dir + "/checkpoints")) {
      if (file.lsn <= records_before_damage) continue;
      moved = true;
      const std::string aside = file.path + ".covers-damaged-log";
      if (::rename(file.path.c_str(), aside.c_str()) != 0)
        return Status::FromErrno("rename " + file.path, errno);
      start.checkpoints_skipped.push_back(file.path + ": covers damaged records; moved to " + aside);
    }
    return moved ? SyncDirectory(options.data_dir + "/checkpoints") : Status::Ok();
  };
  // Reads the log from `first_lsn` on, applying it to `views`.
  auto open_log = [&](uint64_t first_lsn) {
    LogApplier applier(views.get(), &start.replayed);
    auto opened = SegmentLog::Open(log_options, applier.Visitor(), &start.log, first_lsn);
    applier.Flush();
    return opened;
  };
  auto log = open_log(start.checkpoint_lsn);
  // Drops the checkpoint's views and applies the whole log to fresh ones.
  auto rebuild_from_log_alone = [&] {
    log->reset();
    views = std::make_unique<Views>(options.shards, options.hot_id_set);
    start.checkpoint_lsn = 0;
    start.checkpoint_path.clear();
    start.replayed = 0;
    start.log = RecoveryReport{};
    log = open_log(0);
  };
  if (log.ok() && checkpoint_covers_damage) {
    // The log was repaired; this open finds it intact.
    const RecoveryReport repaired = start.log;
    rebuild_from_log_alone();
    start.log.skipped_bytes = repaired.skipped_bytes;
    start.log.skipped_saved_to = repaired.skipped_saved_to;
  }
  if (log.ok() && (*log)->next_lsn() < start.checkpoint_lsn) {
    // The checkpoint covers records the log no longer holds (a power loss took the log's unsynced tail
    // after the checkpoint was written): the log is the truth, so rebuild from it alone.
    start.checkpoints_skipped.push_back(start.checkpoint_path + ": covers " +
                                        std::to_string(start.checkpoint_lsn) + " records, the log holds " +
                                        std::to_string((*log)->next_lsn()));
    rebuild_from_log_alone();
  }
  if (!log.ok()) {
    ::close(*lock_fd);
    return log.status();
  }
  if (cold) {
    start.cold_chunk_bytes_adopted = cold->bytes();
    // Nothing skipped: the checkpoint loaded is the newest (or there is none), and the first one this
    // process commits leaves only the two of them.
    const bool replaced_by_the_next = start.checkpoints_skipped.empty();
    cold->FinishLoad(replaced_by_the_next ? ColdChunkFile::OtherCheckpoints::kReplacedByTheNext
                                          : ColdChunkFile::OtherCheckpoints::kMayReferToThem);
  }
  auto engine = std::unique_ptr<Engine>(
      new Engine(options.data_dir, *lock_fd, std::move(*log), std::move(views), std::move(start)));
  engine->sealed_files_pending_ = !ListSealedHourFiles(options.data_dir + "/segments").empty();
  if (cold) {
    engine->cold_ = std::move(cold);
    engine->hot_ids_ = options.hot_ids;
  }
  engine->last_checkpoint_lsn_.store(engine->start_.checkpoint_lsn);
  engine->stream_sequence_.store(engine->views_->global().stream_sequence());
  return engine;
}

Engine::Engine(std::string data_dir, int lock_fd, std::unique_ptr<SegmentLog> log,
               std::unique_ptr<Views> views, StartReport start)
    : data_dir_(std::move(data_dir)),
      lock_fd_(lock_fd),
      log_(std::move(log)),
      gates_(std::make_unique<ShardGate[]>(views->shard_count())),
      views_(std::move(views)),
      start_(std::move(start)) {
  if (views_->shard_count() > 1) {
    for (uint32_t shard = 0; shard < views_->shard_count(); ++shard)
      gates_[shard].thread = std::thread([this, shard] { RunShard(shard); });
  }
}

std::string Engine::SealedHourFilePath(uint32_t shard, int64_t hour, uint32_t first_row, bool pending) const {
  const SealedHourFileId id{shard, views_->shard_count(), hour, first_row};
  return data_dir_ + "/segments/" + (pending ? PendingSealedHourFileName(id) : SealedHourFileName(id));
}

SealedFilesReport Engine::InstallSealedHourFiles() {
  const auto started = std::chrono::steady_clock::now();
  SealedFilesReport report;
  // Each hour's files in the order of their first rows: a part is installed after the one it follows.
  struct Found {
    SealedHourFileId id;
    std::string path;
  };
  std::vector<Found> found;
  for (std::string& path : ListSealedHourFiles(data_dir_ + "/segments")) {
    const std::optional<SealedHourFileId> id = ParseSealedHourFileName(path);
    found.push_back({id.value_or(SealedHourFileId{}), std::move(path)});
  }
  std::sort(found.begin(), found.end(), [](const Found& a, const Found& b) {
    return std::tie(a.id.shard, a.id.shard_count, a.id.hour, a.id.first_row) <
           std::tie(b.id.shard, b.id.shard_count, b.id.hour, b.id.first_row);
  });
  std::vector<std::span<const Found>> hours;  // of `found`
  for (size_t first = 0, end = 0; first < found.size(); first = end) {
    for (end = first + 1; end < found.size() && found[end].id.shard == found[first].id.shard &&
                          found[end].id.shard_count == found[first].id.shard_count &&
                          found[end].id.hour == found[first].id.hour;
         ++end) {
    }
    hours.emplace_back(found.data() + first, end - first);
  }
  report.files = found.size();
  const int64_t first_kept_hour =
      ReadGlobal([](const GlobalViews& global) { return global.first_kept_hour(); });
  // Whether the file at `path` was installed, and why not.
  auto install = [&](const std::string& path) -> std::pair<SealedFileFit, std::string> {
    auto file = OpenSealedHourFile(path);  // (reads and checks all but its events' blocks: off the locks)
    if (!file.ok()) return {SealedFileFit::kNo, file.status().message()};
    if (file->shard_count != views_->shard_count() || file->shard >= views_->shard_count())
      return {SealedFileFit::kNo, "written for " + std::to_string(file->shard_count) + " shards"};
    if (path != SealedHourFilePath(file->shard, file->hour, file->rows.first)) {
      return {SealedFileFit::kNo, "its name is not that of the part it holds"};
    }
    if (file->hour < first_kept_hour) return {SealedFileFit::kNo, "its hour was dropped by retention"};
    // Fitted and installed under the lock, as ingest goes on: a row retracted in between makes it not fit
    // (the checkpoint's note no longer holds, and the rows' digest differs).
    std::lock_guard lock(gates_[file->shard].mutex);
    ShardViews& shard = views_->shard_to_seal(file->shard);
    const SealedFileFit fit = shard.HowSealedFileFits(file->hour, file->rows, *file->sealed);
    if (fit == SealedFileFit::kNo) {
      return {fit, file->rows.first == 0 ? "the hour's rows changed since it was written"
                                         : "the hour's rows changed since it was written, or no part "
                                           "installed ends where it begins"};
    }
    shard.InstallFittingSealedFile(file->hour, {file->rows, file->sealed}, fit);
    if (fit == SealedFileFit::kByDigest) seals_changed_ = true;  // a seal the checkpoint did not note
    return {fit, {}};
  };
  // On as many threads as there are cores, an hour at a time, as questions by product or store wait for
  // the files: one thread took twice as long (a second at 100 M events).
  std::mutex report_mutex;
  std::atomic<size_t> next{0};
  auto install_files = [&] {
    for (size_t i = next++; i < hours.size(); i = next++) {
      for (const Found& file : hours[i]) {
        const auto [fit, why] = install(file.path);
        if (fit == SealedFileFit::kNo) ::unlink(file.path.c_str());
        std::lock_guard lock(report_mutex);
        if (fit == SealedFileFit::kNo) {
          report.dropped.push_back(file.path + ": " + why);
        } else {
          ++report.installed;
          report.as_noted += fit == SealedFileFit::kAsNoted ? 1 : 0;
        }
      }
    }
  };
  std::vector<std::thread> installers(
      std::min<size_t>(hours.size(), std::max(1u, std::thread::hardware_concurrency())));
  for (std::thread& installer : installers) installer = std::thread(install_files);
  for (std::thread& installer : installers) installer.join();
  std::sort(report.dropped.begin(), report.dropped.end());
  report.ms = static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started)
          .count());
  sealed_files_pending_.store(false, std::memory_order_release);
  return report;
}

Engine::~Engine() {
  for (uint32_t shard = 0; shard < views_->shard_count(); ++shard) {
    ShardGate& gate = gates_[shard];
    if (!gate.thread.joinable()) continue;
    {
      std::lock_guard lock(gate.queue_mutex);
      gate.stopping = true;
    }
    gate.queue_changed.notify_one();
    gate.thread.join();
  }
  log_.reset();  // last fsync before the directory is unlocked
  ::close(lock_fd_);
  if (cold_) cold_->Closing();  // the views' chunks are freed next: the file goes with them
}

Status Engine::Checkpoint() {
  std::lock_guard checkpoint_lock(checkpoint_mutex_);
  const uint64_t records_now = log_->next_lsn();  // more may come before the lock is taken
  if (records_now == last_checkpoint_lsn() && !seals_changed_.load()) return Status::Ok();
  // A child process writes the checkpoint from its copy of the server's memory (fork: the kernel copies a
  // page only when one of the two writes to it), so ingest waits for the fork, not for the views to be
  // copied. The child reports on a pipe: "<bytes>" when the file is in place, otherwise the error.
  int report[2];
  if (::pipe2(report, O_CLOEXEC) != 0)
    return Status::IoError(std::string("checkpoint: pipe: ") + std::strerror(errno));
  const pid_t server = ::getpid();
  // The seals' changes this checkpoint notes are still to note if it is not written.
  struct NotedChanges {
    std::atomic<bool>* changed;
    bool noted = false;
    bool written = false;
    ~NotedChanges() {
      if (noted && !written) changed->store(true);
    }
  } noted_changes{&seals_changed_};
  uint64_t lsn = 0;
  uint64_t cold_checkpoint = 0;
  pid_t child = -1;
  std::chrono::steady_clock::time_point started;
  // What the child's save would fold (ShardViews::FoldPending) is folded here, under the shard's own lock
  // and a few hours at a time, so that ingest goes on in between: only what is applied until the fork is
  // left pending for the child. (All at once, ingest waited 34-58 ms for each checkpoint instead of
  // about 12.)
  constexpr size_t kHoursFoldedAtOnce = 16;
  for (uint32_t shard = 0; shard < views_->shard_count(); ++shard) {
    for (std::optional<int64_t> next = INT64_MIN; next;) {
      std::lock_guard lock(gates_[shard].mutex);
      next = views_->shard(shard).FoldPending(*next, kHoursFoldedAtOnce);
    }
  }
  {
    std::lock_guard order(order_mutex_);
    started = std::chrono::steady_clock::now();
    lsn = log_->next_lsn();
    auto shard_locks = LockAllShardsWhenIdle();
    // The child's views refer to the cold file's places as they are now: they keep their bytes.
    std::unique_lock<std::mutex> cold_places;
    if (cold_) {
      cold_checkpoint = cold_->BeginCheckpoint();
      cold_places = cold_->HoldForFork();
    }
    noted_changes.noted = seals_changed_.exchange(false);
    child = ::fork();
    if (child == 0) WriteCheckpointAndExit(lsn, server, report[1]);
  }
  const auto forked = std::chrono::steady_clock::now();
  ::close(report[1]);
  if (child < 0) {
    const int error = errno;
    ::close(report[0]);
    return Status::IoError(std::string("checkpoint: fork: ") + std::strerror(error));
  }
  std::string said;
  char buffer[512];
  for (ssize_t got; (got = ::read(report[0], buffer, sizeof(buffer))) != 0;) {
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) break;
    said.append(buffer, static_cast<size_t>(got));
  }
  ::close(report[0]);
  int child_status = 0;
  pid_t waited = 0;
  while ((waited = ::waitpid(child, &child_status, 0)) < 0 && errno == EINTR) {
  }
  const std::string not_written = "checkpoint of " + std::to_string(lsn) + " records not written: ";
  if (waited != child) return Status::IoError(not_written + "its process was lost: " + std::strerror(errno));
  if (WIFSIGNALED(child_status)) {
    return Status::IoError(not_written + "its process was ended by signal " +
                           std::to_string(WTERMSIG(child_status)));
  }
  size_t bytes = 0;
  const auto [end, parse_error] = std::from_chars(said.data(), said.data() + said.size(), bytes);
  if (!WIFEXITED(child_status) || WEXITSTATUS(child_status) != 0 || parse_error != std::errc() ||
      end != said.data() + said.size()) {
    return Status::IoError(not_written + (said.empty() ? "its process ended without saying why" : said));
  }
  last_checkpoint_lsn_.store(lsn, std::memory_order_release);
  noted_changes.written = true;
  if (cold_) cold_->Committed(cold_checkpoint);
  // The log says how long ingest waited.
  using std::chrono::milliseconds;
  spdlog::info("checkpoint of {} records: {} MiB, forked in {} ms (ingest waits), written in {} ms", lsn,
               bytes >> 20, std::chrono::duration_cast<milliseconds>(forked - started).count(),
               std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now() - forked).count());
  return Status::Ok();
}

void Engine::WriteCheckpointAndExit(uint64_t lsn, pid_t server, int report_fd) const {
  // Only this thread exists here, and only the views are read: no lock, no log line, nothing thrown out.
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // a server killed mid-checkpoint leaves a .tmp, not a writer
  if (::getppid() != server) ::_exit(2);
  // Nothing freed here gives a place of the cold file back: the fork held the file's lock, and a save that
  // folds what was applied after the server's folds may free a chunk in the file (a frozen cell thawed by a
  // late event; a first version of rows by hour merged runs there) and would wait for that lock forever.
  // The child's memory goes with it anyway.
  if (cold_) cold_->Closing();
  // Of the server's descriptors only the report and the cold chunk files (the chunks the checkpoint refers
  // to are synced through them) are kept: a connection the server closes must close (not linger in this
  // process), the listening socket and the directory's lock are the server's alone (a restart after a kill
  // must get both). Mappings stay without their descriptors.
  std::vector<int> kept = {report_fd};
  if (cold_) {
    for (const int fd : cold_->descriptors()) kept.push_back(fd);
  }
  std::sort(kept.begin(), kept.end());
  unsigned from = 3;
  for (const int fd : kept) {
    if (static_cast<unsigned>(fd) > from) ::close_range(from, static_cast<unsigned>(fd) - 1, 0);
    from = static_cast<unsigned>(fd) + 1;
  }
  ::close_range(from, ~0U, 0);
  // Not worth a core file of the server's image, and the first to go if memory runs out.
  ::prctl(PR_SET_DUMPABLE, 0);
  if (FILE* oom = std::fopen("/proc/self/oom_score_adj", "w")) {
    std::fputs("1000", oom);
    std::fclose(oom);
  }
  std::string said;
  bool written = false;
  try {
    auto writer = CheckpointWriter::Create(data_dir_ + "/checkpoints", lsn);
    if (!writer.ok()) {
      said = writer.status().message();
    } else {
      // The chunks it refers to in the cold file are on the disk before the checkpoint is in place.
      views_->Save(writer->get(), cold_ != nullptr);
      const Status chunks_synced = cold_ ? cold_->Sync() : Status::Ok();
      Result<uint64_t> bytes = chunks_synced;
      if (chunks_synced.ok()) bytes = (*writer)->Finish();
      written = bytes.ok();
      said = written ? std::to_string(*bytes) : bytes.status().message();
    }
  } catch (const std::exception& error) {
    said = std::string("its process failed: ") + error.what();
  }
  for (size_t at = 0; at < said.size();) {
    const ssize_t put = ::write(report_fd, said.data() + at, said.size() - at);
    if (put <= 0) break;
    at += static_cast<size_t>(put);
  }
  ::_exit(written ? 0 : 1);
}

Checkpointer::Checkpointer(Engine* engine, uint64_t every_records)
    : periodic_(std::chrono::seconds(1), [engine, every_records] {
        // A checkpoint writes the whole state, so its cost grows with the state: waiting also for a tail
        // of a quarter of what the last one covered keeps that cost per record bounded, and the replay at
        // start shorter than loading the checkpoint.
        const uint64_t covered = engine->last_checkpoint_lsn();
        const uint64_t tail = engine->log().next_lsn() - covered;
        if (tail < every_records || tail < covered / 4) return;
        Status written = engine->Checkpoint();
        if (!written.ok()) spdlog::error("checkpoint failed: {}", written.message());
      }) {}

void Engine::SealHours(uint32_t quiet_passes, uint32_t busy_rows, const std::atomic<bool>* stop) {
  // The files of hours retention dropped go here, on the thread that writes files: none is being written.
  if (const int64_t kept_from =
          ReadGlobal([](const GlobalViews& global) { return global.first_kept_hour(); });
      kept_from > sealed_files_kept_from_hour_) {
    for (const std::string& path : ListSealedHourFiles(data_dir_ + "/segments")) {
      if (auto id = ParseSealedHourFileName(path); id && id->hour < kept_from) ::unlink(path.c_str());
    }
    sealed_files_kept_from_hour_ = kept_from;
  }
  std::vector<DamagedSeal> damaged;
  {
    std::lock_guard lock(damaged_seals_mutex_);
    damaged.swap(damaged_seals_);
  }
  for (const DamagedSeal& seal : damaged) {
    std::vector<uint32_t> first_rows;
    {
      std::lock_guard lock(gates_[seal.shard].mutex);
      first_rows = views_->shard_to_seal(seal.shard).Unseal(seal.at.hour, seal.at.sealed.get());
    }
    seals_changed_ = true;
    // The hour's files go with its parts (the damaged one among them): the next pass seals the whole hour
    // again, and a start must not find one of them left.
    for (uint32_t first_row : first_rows)
      ::unlink(SealedHourFilePath(seal.shard, seal.at.hour, first_row).c_str());
  }
  absl::flat_hash_map<uint32_t, std::shared_ptr<const MappedFile>> log_segments;  // for this pass
  uint64_t rows_sealed = 0;
  for (uint32_t shard = 0; shard < views_->shard_count(); ++shard) {
    std::vector<SealJob> jobs;
    {
      std::lock_guard lock(gates_[shard].mutex);
      jobs = views_->shard_to_seal(shard).CollectSealJobs(quiet_passes, busy_rows, kSealRowsPerPass);
    }
    if (jobs.empty()) continue;
    // The files of the parts a job replaces: a merge's file waits under a pending name until its part is
    // installed, then takes the place of the first part it replaces and the others' files go (a start
    // finds the parts that are left by their first rows: one that a crash leaves behind is not used). A
    // merge not installed (a row of its hour retracted meanwhile) leaves the parts' files as they were.
    for (SealJob& job : jobs) {
      rows_sealed += job.rows - job.first;
      job.Build();
      if (job.sealed == nullptr) {  // (not installed: the parts' files stay as they are)
        job.replaced_firsts.clear();
        continue;
      }
      auto events = EventsOfRecords(*log_, job.sealed->rows,
                                    job.previous != nullptr ? &job.previous->events : nullptr, &log_segments);
      job.previous = nullptr;
      if (events.ok()) {
        sealed_events_failed_ = false;
      } else if (!sealed_events_failed_) {
        sealed_events_failed_ = true;
        spdlog::warn("sealed hour's events left in the log only, they could not be read from it: {}",
                     events.status().message());
      }
      const bool merge = !job.replaced_firsts.empty();
      auto file = WriteSealedHourFile(
          data_dir_ + "/segments",
          SealedHourFile{shard, views_->shard_count(), job.hour, job.part(), job.sealed},
          events.ok() ? std::string_view(*events) : std::string_view(),
          merge ? PendingSealedHourFileName({shard, views_->shard_count(), job.hour, job.first})
                : std::string());
      if (file.ok()) {
        job.sealed = std::move(file->sealed);
        sealed_write_failed_ = false;
      } else {
        job.replaced_firsts.clear();  // (in memory only: the parts' files stay as they are)
        if (!sealed_write_failed_) {
          sealed_write_failed_ = true;
          spdlog::warn("sealed hour kept in memory, its file could not be written: {}",
                       file.status().message());
        }
      }
    }
    std::vector<bool> installed;
    {
      std::lock_guard lock(gates_[shard].mutex);
      installed = views_->shard_to_seal(shard).InstallSealed(jobs);
      seals_changed_ = true;
    }
    for (size_t i = 0; i < jobs.size(); ++i) {
      const SealJob& job = jobs[i];
      if (job.replaced_firsts.empty()) continue;
      const std::string pending = SealedHourFilePath(shard, job.hour, job.first, /*pending=*/true);
      if (!installed[i]) {
        ::unlink(pending.c_str());
        continue;
      }
      ::rename(pending.c_str(), SealedHourFilePath(shard, job.hour, job.first).c_str());
      for (uint32_t first_row : job.replaced_firsts) {
        if (first_row != job.first) ::unlink(SealedHourFilePath(shard, job.hour, first_row).c_str());
      }
    }
  }
  if (!cold_) return;
  Status moved = Status::Ok();
  for (uint32_t shard = 0; shard < views_->shard_count() && moved.ok(); ++shard) {
    std::lock_guard lock(gates_[shard].mutex);
    moved = views_->shard_to_seal(shard).MoveColdChunks(cold_).status();
  }
  if (moved.ok()) {
    std::lock_guard order(order_mutex_);
    moved = views_->MoveColdIds(cold_, hot_ids_, HourOf(WallClockMillis()) - 1).status();
  }
  // The event-id index's runs are merged here, off the order lock that every ingest takes (the largest
  // merges read and write hundreds of megabytes); the runs a merge reads stay as they are until it is put
  // back.
  views_->id_runs_to_merge().MergeBeside(order_mutex_, stop);
  if (!moved.ok() && !cold_move_failed_) spdlog::warn("views kept on the heap: {}", moved.message());
  cold_move_failed_ = !moved.ok();
  // The heap the moved chunks leave is mostly reused by the next hot ones; what is left of it goes back to
  // the system now and then while chunks keep moving (trimming the whole heap every pass costs more than
  // it returns), at the first pass that moves nothing after some did, and after a pass that sealed many
  // rows (hours sealed again while nothing moves: their copies' heap stayed, 63 MiB after 3 M rows).
  const uint64_t cold = cold_->bytes();
  if (cold >= cold_bytes_at_trim_ + kColdBytesPerTrim || rows_sealed >= kSealedRowsPerTrim ||
      (cold == cold_bytes_last_pass_ && cold != cold_bytes_at_trim_)) {
    ::malloc_trim(0);
    cold_bytes_at_trim_ = cold;
  }
  cold_bytes_last_pass_ = cold;
}

Result<Engine::RetentionPass> Engine::ApplyRetention(int64_t first_kept_hour, Committer* committer) {
  RetentionPass pass;
  const bool holds_older = Read([&](const Views& views) {
    const std::optional<int64_t> oldest = views.OldestHour();
    return views.global().first_kept_hour() < first_kept_hour || (oldest && *oldest < first_kept_hour);
  });
  if (holds_older) {
    IngestBatch cut;
    cut.Add(RetentionCut{WallClockMillis(), first_kept_hour});
    auto committed = committer->Commit(cut);
    if (!committed.ok()) return committed.status();
    pass.cut = true;
    ::malloc_trim(0);  // the dropped hours' memory, back to the system
  }
  // A schema set long ago would keep its segment, and every later one, in the log: it is said again.
  std::vector<SchemaChange> restate = Read([&](const Views& views) {
    const std::optional<uint64_t> needed = views.FirstPositionNeeded(false);
    if (!needed) return std::vector<SchemaChange>();
    return views.SchemasSetBefore(LogPosition{LogPosition::Unpack(*needed).segment, 0}.Packed());
  });
  if (!restate.empty()) {
    IngestBatch schemas;
    for (SchemaChange& change : restate) schemas.Add(std::move(change));
    auto committed = committer->Commit(schemas);
    if (!committed.ok()) return committed.status();
    pass.schemas_restated = static_cast<uint32_t>(restate.size());
  }
  const uint64_t needed =
      Read([](const Views& views) { return views.FirstPositionNeeded().value_or(UINT64_MAX); });
  // The segments that may go must be covered by a checkpoint before they do.
  if (log_->RecordsBeforeSegmentOf(needed) > last_checkpoint_lsn()) {
    if (Status written = Checkpoint(); !written.ok()) return written;
  }
  auto retired = log_->RetireSegmentsBefore(needed, last_checkpoint_lsn());
  if (!retired.ok()) return retired.status();
  pass.segments_deleted = *retired;
  return pass;
}

Retainer::Retainer(Engine* engine, Committer* committer, std::chrono::milliseconds retention)
    : periodic_(
          std::chrono::seconds(10),
          [engine, committer, retention] {
            auto pass = engine->ApplyRetention(FirstKeptHour(WallClockMillis(), retention), committer);
            if (!pass.ok()) {
              spdlog::error("retention pass failed (tried again in 10 s): {}", pass.status().message());
            } else if (pass->cut || pass->segments_deleted > 0) {
              spdlog::info("retention: {}{} log segment(s) deleted, {} schema(s) said again",
                           pass->cut ? "hours dropped from the views, " : "", pass->segments_deleted,
                           pass->schemas_restated);
            }
          },
          /*at_once=*/true) {}

Sealer::Sealer(Engine* engine, uint32_t quiet_seconds, uint32_t busy_rows)
    : periodic_(
          std::chrono::seconds(1),
          [this, engine, quiet_seconds, busy_rows, installed = false]() mutable {
            if (installed) {
              engine->SealHours(quiet_seconds, busy_rows, &stopping_);
              return;
            }
            installed = true;
            const SealedFilesReport report = engine->InstallSealedHourFiles();
            // (After an upgrade every file can be of a former format: a few are named, the rest counted.)
            constexpr size_t kDroppedNamed = 10;
            for (size_t i = 0; i < std::min(report.dropped.size(), kDroppedNamed); ++i) {
              spdlog::info("sealed hour file deleted (the hour is sealed again when quiet): {}",
                           report.dropped[i]);
            }
            if (report.dropped.size() > kDroppedNamed) {
              spdlog::info("{} more sealed hour files deleted (their hours are sealed again when quiet)",
                           report.dropped.size() - kDroppedNamed);
            }
            if (report.files > 0) {
              spdlog::info(
                  "{} sealed hour file(s) mapped ({} as the checkpoint noted them), checked in {} ms",
                  report.installed, report.as_noted, report.ms);
            }
          },
          /*at_once=*/true) {}

Result<Committed> Engine::Commit(const IngestBatch& batch) {
  auto decoded = DecodeFrames(batch.frames());
  if (!decoded.ok()) return decoded.status();
  return AppendAndApply(batch.frames(), batch.size(), 0, *decoded, 0);
}

Result<Committed> Engine::CommitStreamBatch(uint64_t sequence, std::string_view frames) {
  auto batch = DecodeFrames(frames);
  if (!batch.ok()) return batch.status();
  std::string record;
  AppendStreamBatchFrame(sequence, frames, &record);
  auto committed = AppendAndApply(
      record, 1, static_cast<uint32_t>(kFrameHeaderBytes + kStreamBatchHeaderBytes), *batch, sequence);
  if (committed.ok()) stream_sequence_.store(sequence, std::memory_order_release);
  return committed;
}

Result<Committed> Engine::AppendAndApply(std::string_view to_append, uint64_t frame_count, uint32_t shift,
                                         const DecodedFrames& batch, uint64_t stream_sequence) {
  const uint32_t shards = views_->shard_count();
  const size_t records = batch.records.size();
  ApplyPlan plan(shards, records);
  std::vector<uint64_t> positions(records);
  std::latch applied(shards);
  Committed committed;
  {
    std::lock_guard order(order_mutex_);
    auto appended = log_->Append(to_append, frame_count);
    if (!appended.ok()) return appended.status();
    committed.end_lsn = appended->end_lsn;
    views_->PrefetchIds(batch.records, &plan);
    for (uint32_t i = 0; i < records; ++i) {
      positions[i] =
          LogPosition{appended->start.segment, appended->start.offset + shift + batch.offsets[i]}.Packed();
      views_->Sequence(batch.records[i], i, positions[i], &plan);
    }
    if (stream_sequence != 0) views_->set_stream_sequence(stream_sequence);
    ++tickets_issued_;
    if (shards == 1) {
      // Nothing to run in parallel: apply here, still in log order.
      ShardGate& gate = gates_[0];
      {
        std::lock_guard lock(gate.mutex);
        views_->RunShardSteps(0, plan, batch.records, positions);
        ++gate.applied;
      }
      gate.applied_changed.notify_all();
      applied.count_down();
    } else {
      // Queued while the order is held, so every shard's queue is in log order.
      for (uint32_t shard = 0; shard < shards; ++shard) {
        ShardGate& gate = gates_[shard];
        {
          std::lock_guard lock(gate.queue_mutex);
          gate.queue.push_back(ShardTask{&plan, batch.records, positions, &applied});
        }
        gate.queue_changed.notify_one();
      }
    }
  }
  applied.wait();
  committed.outcomes = std::move(plan.outcomes);
  return committed;
}

void Engine::RunShard(uint32_t shard) {
  ShardGate& gate = gates_[shard];
  while (true) {
    ShardTask task;
    {
      std::unique_lock lock(gate.queue_mutex);
      gate.queue_changed.wait(lock, [&] { return gate.stopping || !gate.queue.empty(); });
      if (gate.queue.empty()) return;  // stopping, and nothing left to apply
      task = gate.queue.front();
      gate.queue.pop_front();
    }
    {
      std::lock_guard lock(gate.mutex);
      views_->RunShardSteps(shard, *task.plan, task.records, task.positions);
      ++gate.applied;
    }
    gate.applied_changed.notify_all();
    task.done->count_down();
  }
}

std::vector<std::unique_lock<std::mutex>> Engine::LockAllShardsWhenIdle() const {
  std::vector<std::unique_lock<std::mutex>> locks;
  locks.reserve(views_->shard_count());
  for (uint32_t shard = 0; shard < views_->shard_count(); ++shard) {
    const ShardGate& gate = gates_[shard];
    locks.emplace_back(gate.mutex);
    gate.applied_changed.wait(locks.back(), [&] { return gate.applied == tickets_issued_; });
  }
  return locks;
}

Result<LogRecord> Engine::ReadRecord(uint64_t packed_position) const {
  auto payload = log_->ReadPayload(LogPosition::Unpack(packed_position));
  if (!payload.ok()) return payload.status();
  return DecodePayload(*payload);
}

Result<LogRecord> Engine::ReadRecord(uint64_t packed_position, uint32_t shard,
                                     const std::optional<SealedEventAt>& sealed,
                                     EventBlocks::Reader* reader) const {
  if (!sealed) return ReadRecord(packed_position);
  auto payload = sealed->sealed->events.Payload(sealed->record, reader);
  if (payload.ok()) return DecodePayload(*payload);
  bool first_found = false;
  {
    std::lock_guard lock(damaged_seals_mutex_);
    first_found = std::none_of(damaged_seals_.begin(), damaged_seals_.end(),
                               [&](const DamagedSeal& seal) { return seal.at.sealed == sealed->sealed; });
    if (first_found) damaged_seals_.push_back({shard, *sealed});
  }
  if (first_found) {
    spdlog::warn("{}: {}; read from the log instead, the hour will be sealed again",
                 SealedHourFilePath(shard, sealed->hour, sealed->first_row), payload.status().message());
  }
  return ReadRecord(packed_position);
}

TakeHomeCounts Engine::TakeHomeHour(int64_t hour) const {
  TakeHomeCounts counts;
  for (uint32_t shard = 0; shard < views_->shard_count(); ++shard) {
    std::lock_guard lock(gates_[shard].mutex);
    counts += views_->shard(shard).TakeHomeHour(hour);
  }
  return counts;
}

Engine::DigestAt Engine::Digest() const {
  const DigestAt digest = Read([&](const Views& views) {
    return DigestAt{log_->next_lsn(), views.Digest()};
  });
  // The digest's sorting and merging take as much memory as the views for a moment: give it back to the
  // system rather than keep it in the allocator's free lists.
  ::malloc_trim(0);
  return digest;
}

Result<ReplayResult> ReplayLog(const std::string& data_dir, uint64_t max_records, uint32_t shards) {
  auto views = std::make_unique<Views>(shards);
  SegmentLog::ScanResult scan;
  LogApplier applier(views.get(), nullptr);
  Status status = SegmentLog::Scan(data_dir + "/log", applier.Visitor(), max_records, &scan);
  applier.Flush();
  if (!status.ok()) return status;
  ReplayResult result;
  result.records = scan.records;
  result.digest = views->Digest();
  result.views = std::move(views);
  result.segment_paths = std::move(scan.segment_paths);
  result.first_segment_id = scan.first_segment_id;
  if (!scan.damaged_path.empty()) result.stopped_at = scan.damage + " in " + scan.damaged_path;
  return result;
}

}  // namespace tally

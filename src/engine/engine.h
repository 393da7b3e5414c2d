// The glue of one tally server: the data directory, the log, the views, and the materializer that keeps
// the views equal to "every log record applied in log order".
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <latch>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "common/periodic.h"
#include "log/record.h"
#include "log/segment_log.h"
#include "tally/status.h"
#include "views/views.h"

namespace tally {

struct EngineOptions {
  std::string data_dir = "./tally-data";
  uint64_t segment_bytes = 128ull << 20;
  uint32_t shards = 1;  // views split by a hash of the user id (views.h); answers do not depend on it
  bool skip_damaged_records = false;  // LogOptions::skip_damaged_records
  // What stays on the heap when a sealing pass moves the rest of the views to the cold chunk file
  // (views/cold_chunks.h): each hour's rows being filled (its last chunk, 20 KiB) and the newest event ids'
  // columns (1.4 MiB). Ingest appends there, and corrections mostly follow their event closely; older ones
  // still work, a page at a time. An id's columns are written again only by a correction or retention, and
  // every checkpoint copies what is on the heap whole (it refers to what is in the file): 524 288 ids made
  // settled checkpoints larger (BENCHMARKS.md, "Fewer rows and ids on the heap"). (hot_ids is the ids whose
  // columns stay; the event-id index's hash set holds hot_id_set ids, the others are in its runs.)
  uint32_t hot_ids = 1 << 16;
  uint32_t hot_id_set = EventIdIndex::kDefaultHotIds;
};

// Records gathered between two commits, encoded as log frames, in the order they arrived.
class IngestBatch {
 public:
  void Add(const EventView& event);
  void Add(const Event& event) { Add(ViewOf(event)); }
  void Add(const RejectedInput& rejected);
  void Add(const SchemaChange& change);
  void Add(const RetentionCut& cut);
  void Clear();
  bool empty() const { return frame_offsets_.empty(); }
  size_t size() const { return frame_offsets_.size(); }
  const std::string& frames() const { return frames_; }
  // Where each record's frame starts within frames().
  const std::vector<uint32_t>& frame_offsets() const { return frame_offsets_; }
  // Whether record `index` is an event of an hour before the one it was received in.
  bool late_event(size_t index) const { return late_events_[index]; }

 private:
  std::string frames_;
  std::vector<uint32_t> frame_offsets_;
  std::vector<bool> late_events_;
};

// The records of frames laid back to back (an IngestBatch's, a stream message's), in order. What the
// views apply is decoded from the very bytes the log holds; events' texts are views into `frames`.
struct DecodedFrames {
  std::vector<RecordView> records;
  std::vector<uint32_t> offsets;  // where each record's frame starts within the frames
};
Result<DecodedFrames> DecodeFrames(std::string_view frames);

// How the engine came up: what the log's recovery found, and which checkpoint it started from.
struct StartReport {
  RecoveryReport log;
  uint64_t checkpoint_lsn = 0;  // records covered by the checkpoint loaded (0: none)
  std::string checkpoint_path;
  std::vector<std::string> checkpoints_skipped;  // why each newer checkpoint was not used
  uint64_t replayed = 0;                         // records applied from the log after the checkpoint
  uint64_t cold_chunk_bytes_adopted = 0;         // the checkpoint's chunks used from the cold chunk file
};

// What Engine::InstallSealedHourFiles found in DATA/segments.
struct SealedFilesReport {
  uint64_t files = 0;                // sealed hour files there were
  uint64_t installed = 0;            // of those, the ones that still fit the views
  uint64_t as_noted = 0;             // of those, the ones the checkpoint noted (their rows not read)
  uint64_t ms = 0;                   // checking and installing them took
  std::vector<std::string> dropped;  // why each other file was deleted
};

struct Committed {
  uint64_t end_lsn = 0;                // the LSN after the batch's last record
  std::vector<ApplyOutcome> outcomes;  // one per record, in batch order
};

// Where ingest hands a batch: the engine itself (the local log), or a cluster stream (src/cluster) that
// answers once the batch is in the stream and applied here.
class Committer {
 public:
  virtual ~Committer() = default;
  virtual Result<Committed> Commit(const IngestBatch& batch) = 0;
};

// Cluster mode: how far this node is behind the stream (GET ?consistency=strong, /readyz, /metrics), asked
// without blocking the caller, an event loop. The stream's last sequence is fetched by a thread of its
// own, when asked and once a second.
class ReadConsistency {
 public:
  virtual ~ReadConsistency() = default;
  // Asks for a fetch of the stream's last sequence that starts after this call; returns its ticket.
  virtual uint64_t RequestStreamTip() = 0;
  // What the newest finished fetch found, if it is the one of `ticket` or later (ticket 0: any): the
  // stream's last sequence, or why it could not be read. nullopt while no such fetch has finished.
  virtual std::optional<Result<uint64_t>> StreamTip(uint64_t ticket) = 0;
  // Ok when this node has applied the stream up to `sequence`; otherwise says how far it is and why.
  virtual Status AppliedUpTo(uint64_t sequence) = 0;
};

class Engine : public Committer {
 public:
  // Locks the data directory (one server per directory), recovers the log, loads the newest usable
  // checkpoint and applies the log's records after it.
  static Result<std::unique_ptr<Engine>> Open(const EngineOptions& options);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Appends the batch to the log and applies it to the views, in log order, before it returns. On error
  // nothing of the batch is in the log or the views.
  //
  // Only the append and the log-ordered half of applying (views.h) hold the one lock every commit takes.
  // With several shards, each shard's part of the batch then goes to that shard's own apply thread, in
  // log order, and the caller waits for them all: shards apply in parallel, each always on the same
  // thread (its data stays in one core's cache).
  Result<Committed> Commit(const IngestBatch& batch) override;
  // Cluster mode: the message of stream sequence `sequence` (its records' frames), appended to the local
  // log as one record and applied, like Commit.
  Result<Committed> CommitStreamBatch(uint64_t sequence, std::string_view frames);
  // The last stream sequence applied (cluster mode; 0: none).
  uint64_t stream_sequence() const { return stream_sequence_.load(std::memory_order_acquire); }

  // Runs `read(views)` on all the views at a batch boundary: no batch is half applied, none can start.
  template <typename ReadViews>
  auto Read(ReadViews&& read) const {
    std::unique_lock order(order_mutex_);
    auto shard_locks = LockAllShardsWhenIdle();
    return read(static_cast<const Views&>(*views_));
  }
  // Runs `read(global views)` (schemas, event ids, rejected input) without waiting for the shards.
  template <typename ReadGlobalViews>
  auto ReadGlobal(ReadGlobalViews&& read) const {
    std::lock_guard order(order_mutex_);
    return read(views_->global());
  }
  // The whole record at a row's position (for timelines, event lookups, rejected input).
  Result<LogRecord> ReadRecord(uint64_t packed_position) const;
  // The same for a row of `shard`, from its sealed hour's events where `sealed` says it is there
  // (ShardViews::SealedEventOf), else from the log. A damaged block is read around from the log, and its
  // hour is sealed again (its file written again) by the sealer's next pass.
  Result<LogRecord> ReadRecord(uint64_t packed_position, uint32_t shard,
                               const std::optional<SealedEventAt>& sealed, EventBlocks::Reader* reader) const;

  // Summed over the shards, each read under its own lock only: cheap enough for every GET /analytics.
  // Every acknowledged event is counted; one being applied may be counted in some shards already.
  TakeHomeCounts TakeHomeHour(int64_t hour) const;
  uint32_t shard_count() const { return views_->shard_count(); }

  // Saves the views with the log position they cover (DATA/checkpoints). At a batch boundary the server
  // forks (writers wait for that); the child process writes the file from its copy of the views.
  Status Checkpoint();
  // One sealing pass (shard_views.h) over every shard: the hours ShardViews::CollectSealJobs picks (quiet
  // for `quiet_passes` passes, or busy past `busy_rows`) get their per-product and per-store index, written
  // to DATA/segments and read from its memory map (kept in memory if the file cannot be written). A shard's
  // lock is held while its hours are copied out and while the indexes are installed, not while they are
  // built or written. The pass then moves what the views no longer write to often (rows and event ids
  // behind the newest, the row lists of sealed hours) to the cold chunk file (views/cold_chunks.h), and
  // merges the event-id index's runs off the order lock (IdRuns::TakeMerge; a merge is given up when
  // `stop` is set: a stop does not wait for it).
  // A shard's pass seals hours of kSealRowsPerPass rows in all at most (more wait for the next one): the
  // copies, held until their indexes are built, cost about 26 bytes a row (their columns, and the versions
  // and notes by user before they are packed), and the lock is held while they are made (a month's backfill,
  // every hour quiet at once, took 1.1 GB for copies of 24 bytes a row at 100 M events).
  static constexpr uint64_t kSealRowsPerPass = uint64_t{1} << 22;
  void SealHours(uint32_t quiet_passes, uint32_t busy_rows = 0, const std::atomic<bool>* stop = nullptr);
  // Installs the sealed hour files in DATA/segments that fit the views, and deletes the others. A start
  // does not wait for it: until its file is installed an hour answers from its rows, exactly, only slower
  // (questions by product or store wait for it: SealedHourFilesPending); and checking the files (reading each
  // whole, its checksum and its indexes) was a fifth of a large restart. So the Sealer does it, before its
  // first pass, while the server runs: each file is read and checked outside the locks, then fitted to its
  // hour and installed under its shard's lock, on as many threads as there are cores. Call it once, before
  // the first SealHours.
  SealedFilesReport InstallSealedHourFiles();
  // True until the sealed hour files a start found are installed (false at once when it found none). For
  // questions by product or store, which answer from the sealed indexes and wait for them (an HTTP loop
  // parks the question and asks again): from the rows, a month's top products over 100 M events takes
  // 10 s with every shard's lock held (ingest waiting), against 0.25 s once the files are in, about half a
  // second after the start.
  bool SealedHourFilesPending() const { return sealed_files_pending_.load(std::memory_order_acquire); }
  // Bytes of the views in the cold chunk file.
  uint64_t cold_bytes() const { return cold_ ? cold_->bytes() : 0; }
  uint64_t last_checkpoint_lsn() const { return last_checkpoint_lsn_.load(std::memory_order_acquire); }

  // One retention pass (--retention): if any view still holds an hour before `first_kept_hour`, a
  // RetentionCut record goes through `committer` (this engine, or the cluster stream) and drops it from
  // every view; schemas set in the oldest log segments are said again; then the log segments that hold
  // nothing the views still need are deleted, after a checkpoint covers them. The sealed hour files of
  // dropped hours are deleted by the next sealing pass.
  struct RetentionPass {
    bool cut = false;
    uint32_t schemas_restated = 0;
    uint32_t segments_deleted = 0;
  };
  Result<RetentionPass> ApplyRetention(int64_t first_kept_hour, Committer* committer);

  struct DigestAt {
    uint64_t lsn;
    uint64_t digest;
  };
  DigestAt Digest() const;

  SegmentLog& log() { return *log_; }
  const StartReport& start_report() const { return start_; }

 private:
  Engine(std::string data_dir, int lock_fd, std::unique_ptr<SegmentLog> log, std::unique_ptr<Views> views,
         StartReport start);

  // A batch's part for one shard, handed to the shard's apply thread.
  struct ShardTask {
    const ApplyPlan* plan;
    std::span<const RecordView> records;
    std::span<const uint64_t> positions;
    std::latch* done;
  };
  struct ShardGate {
    mutable std::mutex mutex;  // guards the shard's views
    mutable std::condition_variable applied_changed;
    uint64_t applied = 0;  // batches (tickets) applied to this shard
    std::mutex queue_mutex;
    std::condition_variable queue_changed;
    std::deque<ShardTask> queue;  // in ticket order
    bool stopping = false;
    std::thread thread;
  };
  void RunShard(uint32_t shard);
  // Appends `to_append` (`frame_count` frames) and applies `batch`, whose record i is at
  // append start + `shift` + batch.offsets[i].
  Result<Committed> AppendAndApply(std::string_view to_append, uint64_t frame_count, uint32_t shift,
                                   const DecodedFrames& batch, uint64_t stream_sequence);
  // Locks every shard once all batches with a ticket have been applied. Needs order_mutex_ held.
  std::vector<std::unique_lock<std::mutex>> LockAllShardsWhenIdle() const;
  // The path of a shard's sealed hour file: its part's own, or the one a merge writes until it is installed.
  std::string SealedHourFilePath(uint32_t shard, int64_t hour, uint32_t first_row,
                                 bool pending = false) const;

  const std::string data_dir_;
  const int lock_fd_;
  std::unique_ptr<SegmentLog> log_;
  // Whether the sealed hour files a start found are still to be installed (InstallSealedHourFiles).
  std::atomic<bool> sealed_files_pending_{false};
  // Orders commits: the log append, the log-ordered half of applying and the tickets; guards the global
  // views.
  mutable std::mutex order_mutex_;
  uint64_t tickets_issued_ = 0;
  std::unique_ptr<ShardGate[]> gates_;
  // Declared before views_: outlives it (its chunks hold it too).
  std::shared_ptr<ColdChunkFile> cold_;  // null: it could not be made, everything stays on the heap
  uint32_t hot_ids_ = 0;                 // EngineOptions
  std::unique_ptr<Views> views_;
  StartReport start_;
  std::mutex checkpoint_mutex_;  // one checkpoint written at a time
  // In the child process Checkpoint forks: writes the checkpoint, says how it went on `report_fd`, ends.
  [[noreturn]] void WriteCheckpointAndExit(uint64_t lsn, pid_t server, int report_fd) const;
  std::atomic<uint64_t> last_checkpoint_lsn_{0};
  // Whether the hours' seals changed since the last checkpoint's fork without a new record (hours sealed
  // or unsealed, sealed hour files installed by the digest of their rows): a stop then writes a checkpoint,
  // or every later start would check each of those files by its rows' digest, and load from the checkpoint
  // what the sealing passes have moved to the cold file since. (Set after the change: at worst one
  // checkpoint more. Chunks moved alone do not set it: the first pass after every start moves the event
  // ids' run the start made, and every stop would write a checkpoint.)
  std::atomic<bool> seals_changed_{false};
  std::atomic<uint64_t> stream_sequence_{0};
  bool sealed_write_failed_ = false;   // only the sealer's thread touches it: one log line per failure spell
  bool sealed_events_failed_ = false;  // the same, for reading an hour's events from the log to seal it
  bool cold_move_failed_ = false;      // the same, for moves to the cold chunk file
  // Sealed hours whose events were found damaged when read, to seal again.
  struct DamagedSeal {
    uint32_t shard;
    SealedEventAt at;
  };
  mutable std::mutex damaged_seals_mutex_;
  mutable std::vector<DamagedSeal> damaged_seals_;
  // The sealer's thread: cold_bytes() when the heap was last trimmed, and at the end of the last pass.
  uint64_t cold_bytes_at_trim_ = 0, cold_bytes_last_pass_ = 0;
  int64_t sealed_files_kept_from_hour_ = 0;  // the sealer's thread: files of earlier hours were deleted
};

// Writes a checkpoint, on its own thread, once at least `every_records` records and at least a quarter of
// what the last checkpoint covered were added since it (checked once a second).
class Checkpointer {
 public:
  Checkpointer(Engine* engine, uint64_t every_records);

 private:
  Periodic periodic_;
};

// Installs the sealed hour files a start found (Engine::InstallSealedHourFiles, at once), then seals the
// hours that have been quiet for `quiet_seconds`, and the busy ones whose rows not yet sealed reached
// `busy_rows` (Engine::SealHours), on its own thread (a pass a second).
class Sealer {
 public:
  Sealer(Engine* engine, uint32_t quiet_seconds, uint32_t busy_rows);
  ~Sealer() { stopping_ = true; }  // (before periodic_ waits for the pass under way)
  Sealer(const Sealer&) = delete;
  Sealer& operator=(const Sealer&) = delete;

 private:
  std::atomic<bool> stopping_{false};
  Periodic periodic_;
};

// Applies --retention: keeps the hours that ended less than `retention` ago, on its own thread (a pass at
// once and every 10 seconds after; most find nothing to do).
class Retainer {
 public:
  Retainer(Engine* engine, Committer* committer, std::chrono::milliseconds retention);

 private:
  Periodic periodic_;
};

// The first hour --retention keeps at `now`: every hour that ended less than `retention` ago.
inline int64_t FirstKeptHour(Millis now, std::chrono::milliseconds retention) {
  return HourOf(std::max<Millis>(0, now - retention.count()));
}

// Rebuilds views from the log in `data_dir` without changing it (safe while a server runs): up to
// `max_records` records, or all intact ones, into views of `shards` shards.
struct ReplayResult {
  uint64_t records = 0;
  uint64_t digest = 0;
  std::string stopped_at;  // the damage or torn tail that ended the replay, if any
  std::unique_ptr<Views> views;
  std::vector<std::string>
      segment_paths;  // the segments replayed, oldest first: LogReader reads rows' records
  uint32_t first_segment_id = 0;
};
Result<ReplayResult> ReplayLog(const std::string& data_dir, uint64_t max_records, uint32_t shards = 1);

}  // namespace tally

#include "engine/engine.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

namespace tally {

void IngestBatch::Add(Event event) {
  AppendEventFrame(event, &frames_);
  records_.emplace_back(std::move(event));
}

void IngestBatch::Add(RejectedInput rejected) {
  AppendRejectedFrame(rejected, &frames_);
  if (rejected.raw.size() > kMaxRejectedRawBytes) rejected.raw.resize(kMaxRejectedRawBytes);
  records_.emplace_back(std::move(rejected));
}

void IngestBatch::Clear() {
  frames_.clear();
  records_.clear();
}

namespace {

Result<int> LockDataDirectory(const std::string& data_dir) {
  if (::mkdir(data_dir.c_str(), 0755) != 0 && errno != EEXIST) {
    return Status::FromErrno("data directory " + data_dir, errno);
  }
  const std::string lock_path = data_dir + "/LOCK";
  int fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return Status::FromErrno("data directory " + data_dir + " is not writable", errno);
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    int saved = errno;
    ::close(fd);
    if (saved == EWOULDBLOCK)
      return Status::Unavailable("data directory " + data_dir + " is in use by another tallyd");
    return Status::FromErrno("lock " + lock_path, saved);
  }
  return fd;
}

}  // namespace

Result<std::unique_ptr<Engine>> Engine::Open(const EngineOptions& options) {
  auto lock_fd = LockDataDirectory(options.data_dir);
  if (!lock_fd.ok()) return lock_fd.status();

  auto views = std::make_unique<Views>();
  RecoveryReport recovery;
  LogOptions log_options{options.data_dir + "/log", options.segment_bytes};
  auto log = SegmentLog::Open(
      log_options,
      [&views](uint64_t lsn, std::string_view payload) -> Status {
        auto record = DecodePayload(payload);
        if (!record.ok())
          return Status::Corruption("record " + std::to_string(lsn) + ": " + record.status().message());
        views->Apply(*record);
        return Status::Ok();
      },
      &recovery);
  if (!log.ok()) {
    ::close(*lock_fd);
    return log.status();
  }
  return std::unique_ptr<Engine>(
      new Engine(*lock_fd, std::move(*log), std::move(views), std::move(recovery)));
}

Engine::Engine(int lock_fd, std::unique_ptr<SegmentLog> log, std::unique_ptr<Views> views,
               RecoveryReport recovery)
    : lock_fd_(lock_fd), log_(std::move(log)), views_(std::move(views)), recovery_(std::move(recovery)) {}

Engine::~Engine() {
  log_.reset();  // last fsync before the directory is unlocked
  ::close(lock_fd_);
}

Result<uint64_t> Engine::Commit(const IngestBatch& batch) {
  std::lock_guard lock(mutex_);
  auto end = log_->Append(batch.frames(), batch.size());
  if (!end.ok()) return end;
  for (const LogRecord& record : batch.records()) views_->Apply(record);
  return end;
}

TakeHomeCounts Engine::TakeHomeHour(int64_t hour) const {
  std::lock_guard lock(mutex_);
  return views_->TakeHomeHour(hour);
}

uint64_t Engine::events_applied() const {
  std::lock_guard lock(mutex_);
  return views_->events_applied();
}

}  // namespace tally

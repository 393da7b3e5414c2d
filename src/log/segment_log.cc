#include "log/segment_log.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstring>
#include <optional>

#include "common/files.h"
#include "log/record.h"

namespace tally {
namespace {

constexpr char kSegmentMagic[8] = {'T', 'A', 'L', 'L', 'Y', 'L', 'O', 'G'};
constexpr std::string_view kSegmentSuffix = ".log";

std::string SegmentName(uint64_t first_lsn) {
  char name[32];
  std::snprintf(name, sizeof(name), "%020" PRIu64 ".log", first_lsn);
  return name;
}

std::string SegmentHeader(uint64_t first_lsn) {
  std::string header(kSegmentMagic, sizeof(kSegmentMagic));
  for (int i = 0; i < 8; ++i) header.push_back(static_cast<char>((first_lsn >> (8 * i)) & 0xFF));
  return header;
}

bool ParseSegmentHeader(std::string_view bytes, uint64_t* first_lsn) {
  if (bytes.size() < SegmentLog::kSegmentHeaderBytes) return false;
  if (std::memcmp(bytes.data(), kSegmentMagic, sizeof(kSegmentMagic)) != 0) return false;
  uint64_t lsn = 0;
  for (int i = 0; i < 8; ++i) lsn |= static_cast<uint64_t>(static_cast<uint8_t>(bytes[8 + i])) << (8 * i);
  *first_lsn = lsn;
  return true;
}

// Where the log starts once retention deleted its oldest segments: "<segment id> <first record>\n".
constexpr std::string_view kRetiredFile = "retired";

struct LogStart {
  uint32_t segment_id = 0;
  uint64_t first_lsn = 0;
};

uint64_t FirstLsnOfName(const std::string& name_or_path) {
  return std::stoull(name_or_path.substr(name_or_path.size() - 20 - kSegmentSuffix.size(), 20));
}

Result<LogStart> ReadLogStart(const std::string& directory) {
  const std::string path = directory + "/" + std::string(kRetiredFile);
  FILE* file = std::fopen(path.c_str(), "re");
  if (file == nullptr) {
    if (errno == ENOENT) return LogStart{};
    return Status::FromErrno("open " + path, errno);
  }
  unsigned long long segment_id = 0, first_lsn = 0;
  const int read = std::fscanf(file, "%llu %llu", &segment_id, &first_lsn);
  std::fclose(file);
  if (read != 2 || segment_id > UINT32_MAX)
    return Status::Corruption(path + ": does not say where the log starts (\"<segment id> <first record>\")");
  return LogStart{static_cast<uint32_t>(segment_id), first_lsn};
}

Status CreateDirectories(const std::string& path) {
  std::string partial;
  for (size_t i = 0; i <= path.size(); ++i) {
    if (i == path.size() || (path[i] == '/' && i > 0)) {
      partial = path.substr(0, i);
      if (::mkdir(partial.c_str(), 0755) != 0 && errno != EEXIST)
        return Status::FromErrno("mkdir " + partial, errno);
    }
  }
  struct stat info {};
  if (::stat(path.c_str(), &info) != 0) return Status::FromErrno("stat " + path, errno);
  if (!S_ISDIR(info.st_mode)) return Status::IoError(path + " is not a directory");
  return Status::Ok();
}

Status TruncateFile(const std::string& path, uint64_t size) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return Status::FromErrno("open " + path, errno);
  Status status;
  if (::ftruncate(fd, static_cast<off_t>(size)) != 0) status = Status::FromErrno("truncate " + path, errno);
  if (status.ok() && ::fsync(fd) != 0) status = Status::FromErrno("fsync " + path, errno);
  ::close(fd);
  return status;
}

// Where the first intact record after damage at `damaged` starts (npos: none, so the damage is a torn
// tail). A candidate must be a whole frame with a matching checksum whose payload begins like a top-level
// record of this log: a cluster node's log holds only stream batches, whose inner frames are valid frames
// too and must not pass for records following a torn batch.
size_t FindIntactFrameAfter(std::string_view bytes, size_t damaged, bool stream_log) {
  constexpr size_t kHeadBytes = kFrameHeaderBytes + 2;
  const auto stream_kind = static_cast<uint8_t>(RecordKind::kStreamBatch);
  for (size_t at = damaged + 1; at + kHeadBytes <= bytes.size(); ++at) {
    const auto version = static_cast<uint8_t>(bytes[at + kFrameHeaderBytes]);
    const auto kind = static_cast<uint8_t>(bytes[at + kFrameHeaderBytes + 1]);
    if (version != kRecordFormatVersion || kind == 0 || kind > kLastRecordKind) continue;
    if ((kind == stream_kind) != stream_log) continue;
    FrameView frame;
    if (ReadFrame(bytes.substr(at), &frame) == FrameCheck::kComplete) return at;
  }
  return std::string_view::npos;
}

bool IsStreamBatchFrame(std::string_view bytes) {
  return bytes.size() >= kFrameHeaderBytes + 2 &&
         static_cast<uint8_t>(bytes[kFrameHeaderBytes + 1]) == static_cast<uint8_t>(RecordKind::kStreamBatch);
}

}  // namespace

struct SegmentLog::SegmentFile {
  std::string path;
  int fd = -1;
  uint64_t size = 0;  // bytes in the file, header included
  ~SegmentFile() {
    if (fd >= 0) ::close(fd);
  }
};

Result<std::vector<std::string>> SegmentLog::ListSegments(const std::string& directory) {
  DIR* dir = ::opendir(directory.c_str());
  if (dir == nullptr) return Status::FromErrno("open " + directory, errno);
  std::vector<std::string> names;
  while (dirent* entry = ::readdir(dir)) {
    std::string_view name(entry->d_name);
    if (name.size() == 20 + kSegmentSuffix.size() && name.ends_with(kSegmentSuffix) &&
        std::all_of(name.begin(), name.begin() + 20, [](char c) { return c >= '0' && c <= '9'; })) {
      names.emplace_back(name);
    }
  }
  ::closedir(dir);
  std::sort(names.begin(), names.end());  // zero-padded, so name order is LSN order
  return names;
}

Status SegmentLog::Scan(const std::string& directory, const RecordVisitor& visit, uint64_t max_records,
                        ScanResult* result, uint64_t first_visited) {
  auto start = ReadLogStart(directory);
  if (!start.ok()) return start.status();
  auto names = ListSegments(directory);
  if (!names.ok()) return names.status();
  // Segments before the start were being deleted by retention when the process stopped.
  std::erase_if(*names, [&](const std::string& name) { return FirstLsnOfName(name) < start->first_lsn; });
  result->records = start->first_lsn;
  result->first_segment_id = start->segment_id;
  std::optional<bool> stream_log;  // known from the first intact record read
  for (size_t i = 0; i < names->size(); ++i) {
    const bool is_last = i + 1 == names->size();
    const std::string path = directory + "/" + (*names)[i];
    // A closed segment wholly before the first record to visit is not read: the next one's name says
    // where it ends (segment names are the number of their first record).
    const uint64_t next_first = is_last ? 0 : FirstLsnOfName((*names)[i + 1]);
    if (!is_last && next_first <= first_visited && FirstLsnOfName((*names)[i]) == result->records) {
      result->segment_paths.push_back(path);
      result->records = next_first;
      continue;
    }
    auto file = MappedFile::Open(path, MappedFile::Reading::kInOrder);
    if (!file.ok()) return file.status();
    std::string_view bytes = (*file)->bytes();

    uint64_t first_lsn = 0;
    if (!ParseSegmentHeader(bytes, &first_lsn)) {
      const bool torn_creation = bytes.size() <= kSegmentHeaderBytes ||
                                 std::all_of(bytes.begin(), bytes.end(), [](char c) { return c == '\0'; });
      if (!is_last || !torn_creation) return Status::Corruption(path + ": segment header is damaged");
      // A crash while creating the newest segment: it holds no record yet.
      result->damaged_path = path;
      result->damaged_offset = 0;
      result->damaged_bytes = bytes.size();
      result->damage = "segment header incomplete or damaged";
      result->whole_segment_damaged = true;
      return Status::Ok();
    }
    if (first_lsn != result->records) {
      return Status::Corruption(path + ": starts at record " + std::to_string(first_lsn) + ", expected " +
                                std::to_string(result->records) + " (a segment is missing)");
    }
    const auto segment_id = result->first_segment_id + static_cast<uint32_t>(result->segment_paths.size());
    result->segment_paths.push_back(path);
    result->last_segment_end = kSegmentHeaderBytes;

    size_t offset = kSegmentHeaderBytes;
    while (offset < bytes.size()) {
      if (result->records >= max_records) return Status::Ok();
      FrameView frame;
      FrameCheck check = ReadFrame(bytes.substr(offset), &frame);
      if (check != FrameCheck::kComplete) {
        if (!is_last) {
          return Status::Corruption(path + ": damaged record at byte " + std::to_string(offset) +
                                    " in a closed segment");
        }
        result->damaged_path = path;
        result->damaged_offset = offset;
        result->damaged_bytes = bytes.size() - offset;
        // Which records this log holds: as the ones before say, else as the damaged one's kind byte does.
        if (!stream_log) stream_log = IsStreamBatchFrame(bytes.substr(offset));
        const size_t resume = FindIntactFrameAfter(bytes, offset, *stream_log);
        if (resume != std::string_view::npos) {
          result->damaged_bytes = resume - offset;
          result->resume_offset = resume;
          result->damage = "damaged record with intact records after it";
          return Status::Corruption(
              path + ": damaged record at byte " + std::to_string(offset) + " (after record " +
              std::to_string(result->records) + "), with intact records from byte " + std::to_string(resume) +
              " on: the log is damaged in its middle, not torn at its end, and acknowledged records would be "
              "lost. Nothing was changed; --skip-damaged-records moves the " +
              std::to_string(resume - offset) + " damaged bytes aside and keeps every record after them");
        }
        result->damage = check == FrameCheck::kIncomplete ? "torn record at the end of the log"
                                                          : "damaged record (bad length or checksum)";
        return Status::Ok();
      }
      if (!stream_log) stream_log = IsStreamBatch(frame.payload);
      if (result->records >= first_visited) {
        TALLY_RETURN_IF_ERROR(
            visit(result->records, LogPosition{segment_id, static_cast<uint32_t>(offset)}, frame.payload));
      }
      ++result->records;
      offset += frame.frame_bytes;
      result->last_segment_end = offset;
    }
  }
  return Status::Ok();
}

Result<std::unique_ptr<SegmentLog>> SegmentLog::Open(const LogOptions& options, const RecordVisitor& visit,
                                                     RecoveryReport* report, uint64_t first_visited) {
  TALLY_RETURN_IF_ERROR(CreateDirectories(options.directory));
  auto start = ReadLogStart(options.directory);
  if (!start.ok()) return start.status();
  auto names = ListSegments(options.directory);
  if (!names.ok()) return names.status();
  for (const std::string& name : *names) {
    // Finishes a deletion by retention that a stop interrupted.
    const std::string path = options.directory + "/" + name;
    if (FirstLsnOfName(name) < start->first_lsn && ::unlink(path.c_str()) != 0)
      return Status::FromErrno("unlink " + path, errno);
  }
  ScanResult scan;
  for (uint64_t visit_from = first_visited;;) {
    scan = ScanResult{};
    Status scanned = Scan(options.directory, visit, UINT64_MAX, &scan, visit_from);
    if (scanned.ok()) break;
    if (scan.resume_offset == 0 || !options.skip_damaged_records) return scanned;
    TALLY_RETURN_IF_ERROR(SkipDamage(options, scan, report));
    // The records before the damage were visited; the scan goes on after it, at the offsets they now have.
    visit_from = std::max(visit_from, scan.records);
  }
  report->records = scan.records;
  report->segments = scan.segment_paths.size();
  if (scan.damaged_bytes > 0 || scan.whole_segment_damaged) {
    // Keep what is cut beside the log, so damage can be inspected and nothing vanishes unseen.
    auto file = MappedFile::Open(scan.damaged_path);
    if (!file.ok()) return file.status();
    report->cut_bytes = scan.damaged_bytes;
    report->cut_reason = scan.damage;
    report->cut_saved_to = scan.whole_segment_damaged
                               ? scan.damaged_path + ".damaged-header"
                               : scan.damaged_path + ".cut-at-" + std::to_string(scan.damaged_offset);
    TALLY_RETURN_IF_ERROR(
        WriteFileDurably(report->cut_saved_to, {(*file)->bytes().substr(scan.damaged_offset)}));
    if (scan.whole_segment_damaged) {
      if (::unlink(scan.damaged_path.c_str()) != 0)
        return Status::FromErrno("unlink " + scan.damaged_path, errno);
    } else {
      TALLY_RETURN_IF_ERROR(TruncateFile(scan.damaged_path, scan.damaged_offset));
    }
  }
  const uint64_t next_lsn = scan.records;
  std::vector<std::string> segment_paths = std::move(scan.segment_paths);
  const std::string last_path = segment_paths.empty() ? std::string() : segment_paths.back();
  const uint64_t last_size = scan.last_segment_end;

  auto active = std::make_shared<SegmentFile>();
  if (last_path.empty()) {
    auto created = CreateSegment(options.directory, next_lsn);
    if (!created.ok()) return created.status();
    active = std::move(*created);
    segment_paths.push_back(active->path);
  } else {
    active->path = last_path;
    active->fd = ::open(active->path.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
    if (active->fd < 0) return Status::FromErrno("open " + active->path, errno);
    active->size = last_size;
  }
  return std::unique_ptr<SegmentLog>(
      new SegmentLog(options, std::move(segment_paths), scan.first_segment_id, std::move(active), next_lsn));
}

Status SegmentLog::SkipDamage(const LogOptions& options, const ScanResult& scan, RecoveryReport* report) {
  if (options.before_skipping_damage) TALLY_RETURN_IF_ERROR(options.before_skipping_damage(scan.records));
  auto file = MappedFile::Open(scan.damaged_path);
  if (!file.ok()) return file.status();
  const std::string_view bytes = (*file)->bytes();
  const std::string saved_to = scan.damaged_path + ".damaged-at-" + std::to_string(scan.damaged_offset);
  TALLY_RETURN_IF_ERROR(WriteFileDurably(
      saved_to, {bytes.substr(scan.damaged_offset, scan.resume_offset - scan.damaged_offset)}));
  // The segment without the damaged bytes replaces it in one rename: a crash leaves one or the other.
  const std::string repaired = scan.damaged_path + ".repaired";
  TALLY_RETURN_IF_ERROR(
      WriteFileDurably(repaired, {bytes.substr(0, scan.damaged_offset), bytes.substr(scan.resume_offset)}));
  if (::rename(repaired.c_str(), scan.damaged_path.c_str()) != 0)
    return Status::FromErrno("rename " + repaired, errno);
  TALLY_RETURN_IF_ERROR(SyncDirectory(options.directory));
  report->skipped_bytes += scan.resume_offset - scan.damaged_offset;
  report->skipped_saved_to.push_back(saved_to);
  return Status::Ok();
}

SegmentLog::SegmentLog(LogOptions options, std::vector<std::string> segment_paths, uint32_t first_segment_id,
                       std::shared_ptr<SegmentFile> active, uint64_t next_lsn)
    : options_(std::move(options)),
      active_(std::move(active)),
      segment_paths_(std::move(segment_paths)),
      first_segment_id_(first_segment_id),
      next_lsn_(next_lsn),
      durable_lsn_(next_lsn) {}

SegmentLog::~SegmentLog() {
  if (!failed()) (void)Sync();
  for (int fd : reader_fds_) {
    if (fd >= 0) ::close(fd);
  }
}

Result<std::string> ReadPayloadAt(int fd, const std::string& path, uint32_t offset) {
  char header[kFrameHeaderBytes];
  if (::pread(fd, header, sizeof(header), offset) != static_cast<ssize_t>(sizeof(header))) {
    return Status::Corruption(path + ": no record at byte " + std::to_string(offset));
  }
  uint32_t length = 0;
  for (int i = 0; i < 4; ++i) length |= static_cast<uint32_t>(static_cast<uint8_t>(header[i])) << (8 * i);
  if (length < kMinPayloadBytes || length > kMaxPayloadBytes) {
    return Status::Corruption(path + ": bad record length at byte " + std::to_string(offset));
  }
  std::string frame(kFrameHeaderBytes + length, '\0');
  if (::pread(fd, frame.data(), frame.size(), offset) != static_cast<ssize_t>(frame.size())) {
    return Status::Corruption(path + ": short record at byte " + std::to_string(offset));
  }
  FrameView view;
  if (ReadFrame(frame, &view) != FrameCheck::kComplete) {
    return Status::Corruption(path + ": damaged record at byte " + std::to_string(offset));
  }
  return std::string(view.payload);
}

LogReader::~LogReader() {
  for (int fd : fds_) {
    if (fd >= 0) ::close(fd);
  }
}

LogReader::LogReader(LogReader&& other) noexcept
    : segment_paths_(std::move(other.segment_paths_)),
      first_segment_id_(other.first_segment_id_),
      fds_(std::move(other.fds_)) {
  other.fds_.clear();
}

namespace {

// A read-only descriptor of segment `segment_id` (the first of `paths` being `first_id`), opened once and
// kept in `fds` (by index in `paths`), and its path; or an error naming the segment.
Result<std::pair<int, std::string>> SegmentReader(uint32_t segment_id, uint32_t first_id,
                                                  const std::vector<std::string>& paths,
                                                  std::vector<int>* fds) {
  if (segment_id < first_id)
    return Status::NotFound("log segment " + std::to_string(segment_id) + " was deleted by retention");
  const size_t index = segment_id - first_id;
  if (index >= paths.size()) return Status::NotFound("no log segment " + std::to_string(segment_id));
  if (fds->size() < paths.size()) fds->resize(paths.size(), -1);
  int& fd = (*fds)[index];
  if (fd < 0) {
    fd = ::open(paths[index].c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return Status::FromErrno("open " + paths[index], errno);
  }
  return std::pair{fd, paths[index]};
}

}  // namespace

Result<std::string> LogReader::ReadPayload(LogPosition position) {
  auto reader = SegmentReader(position.segment, first_segment_id_, segment_paths_, &fds_);
  if (!reader.ok()) return reader.status();
  return ReadPayloadAt(reader->first, reader->second, position.offset);
}

Result<std::string> SegmentLog::ReadPayload(LogPosition position) const {
  auto reader = [&] {
    std::lock_guard lock(readers_mutex_);
    return SegmentReader(position.segment, first_segment_id_, segment_paths_, &reader_fds_);
  }();
  if (!reader.ok()) return reader.status();
  return ReadPayloadAt(reader->first, reader->second, position.offset);
}

Result<std::shared_ptr<const MappedFile>> SegmentLog::MapSegment(uint32_t segment_id) const {
  const std::string path = [&]() -> std::string {
    std::lock_guard lock(readers_mutex_);
    if (segment_id < first_segment_id_ || segment_id - first_segment_id_ >= segment_paths_.size()) return {};
    return segment_paths_[segment_id - first_segment_id_];
  }();
  if (path.empty()) return Status::NotFound("no log segment " + std::to_string(segment_id));
  // Every page at once: the records read are spread through the segment, and a fault each cost more.
  return MappedFile::Open(path, MappedFile::Reading::kWhole);
}

Result<uint64_t> SegmentLog::FirstRecord(const std::string& directory) {
  auto start = ReadLogStart(directory);
  if (!start.ok()) return start.status();
  return start->first_lsn;
}

uint32_t SegmentLog::first_segment_id() const {
  std::lock_guard lock(readers_mutex_);
  return first_segment_id_;
}

uint64_t SegmentLog::first_record() const {
  std::lock_guard lock(readers_mutex_);
  return FirstLsnOfName(segment_paths_.front());
}

uint64_t SegmentLog::RecordsBeforeSegmentOf(uint64_t first_needed) const {
  std::lock_guard lock(readers_mutex_);
  const uint32_t needed_segment = LogPosition::Unpack(first_needed).segment;
  size_t kept = 0;  // the index of the first segment that stays
  while (kept + 1 < segment_paths_.size() && first_segment_id_ + kept < needed_segment) ++kept;
  return FirstLsnOfName(segment_paths_[kept]);
}

Result<uint32_t> SegmentLog::RetireSegmentsBefore(uint64_t first_needed, uint64_t covered_lsn) {
  std::lock_guard retire(retire_mutex_);
  std::vector<std::string> paths;
  uint32_t first_id = 0;
  {
    std::lock_guard lock(readers_mutex_);
    paths = segment_paths_;
    first_id = first_segment_id_;
  }
  const uint32_t needed_segment = LogPosition::Unpack(first_needed).segment;
  // The newest segment (the one appended to) always stays.
  size_t retired = 0;
  while (retired + 1 < paths.size() && first_id + retired < needed_segment &&
         FirstLsnOfName(paths[retired + 1]) <= covered_lsn) {
    ++retired;
  }
  if (retired == 0) return 0u;
  const std::string start_path = options_.directory + "/" + std::string(kRetiredFile);
  const std::string start_text =
      std::to_string(first_id + retired) + " " + std::to_string(FirstLsnOfName(paths[retired])) + "\n";
  TALLY_RETURN_IF_ERROR(WriteFileDurably(start_path + ".tmp", {start_text}));
  if (::rename((start_path + ".tmp").c_str(), start_path.c_str()) != 0)
    return Status::FromErrno("rename " + start_path + ".tmp", errno);
  TALLY_RETURN_IF_ERROR(SyncDirectory(options_.directory));
  {
    std::lock_guard lock(readers_mutex_);
    for (size_t i = 0; i < retired && i < reader_fds_.size(); ++i) {
      if (reader_fds_[i] >= 0) ::close(reader_fds_[i]);
    }
    reader_fds_.erase(reader_fds_.begin(),
                      reader_fds_.begin() + static_cast<ptrdiff_t>(std::min(retired, reader_fds_.size())));
    segment_paths_.erase(segment_paths_.begin(), segment_paths_.begin() + static_cast<ptrdiff_t>(retired));
    first_segment_id_ += static_cast<uint32_t>(retired);
  }
  // A file left behind (unlink failed) is deleted at the next open: the start file says it is gone.
  for (size_t i = 0; i < retired; ++i) ::unlink(paths[i].c_str());
  return static_cast<uint32_t>(retired);
}

Result<std::shared_ptr<SegmentLog::SegmentFile>> SegmentLog::CreateSegment(const std::string& directory,
                                                                           uint64_t first_lsn) {
  auto segment = std::make_shared<SegmentFile>();
  segment->path = directory + "/" + SegmentName(first_lsn);
  segment->fd = ::open(segment->path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
  if (segment->fd < 0) return Status::FromErrno("create " + segment->path, errno);
  std::string header = SegmentHeader(first_lsn);
  Status created = WriteAll(segment->fd, header, segment->path);
  // The header and the directory entry must be durable before any record is acknowledged in it.
  if (created.ok() && ::fdatasync(segment->fd) != 0)
    created = Status::FromErrno("fsync " + segment->path, errno);
  if (created.ok()) created = SyncDirectory(directory);
  if (!created.ok()) {
    // Nothing was acknowledged in it: it goes, and the next attempt starts afresh.
    ::unlink(segment->path.c_str());
    return created;
  }
  segment->size = header.size();
  return segment;
}

Status SegmentLog::RollLocked() {
  // The closing segment must be on disk before a newer one exists: recovery only repairs the newest.
  if (::fdatasync(active_->fd) != 0) {
    failed_.store(true, std::memory_order_release);
    return Status::FromErrno("fsync " + active_->path, errno);
  }
  const uint64_t first_lsn = next_lsn_.load(std::memory_order_relaxed);
  auto created = CreateSegment(options_.directory, first_lsn);
  if (!created.ok()) {
    roll_pending_ = true;
    return Status::Unavailable("log: a new segment could not be created (" + created.status().message() +
                               "); tried again with the next write");
  }
  roll_pending_ = false;
  std::shared_ptr<SegmentFile> next = std::move(*created);
  AdvanceDurable(first_lsn);
  {
    std::lock_guard lock(readers_mutex_);
    segment_paths_.push_back(next->path);
  }
  active_ = std::move(next);
  return Status::Ok();
}

Result<SegmentLog::Appended> SegmentLog::Append(std::string_view frames, uint64_t record_count) {
  std::lock_guard lock(append_mutex_);
  if (failed()) return Status::Unavailable("the log stopped accepting writes after an I/O error");
  auto blocked = [&](Status status) {
    blocked_reason_ = status.message();
    blocked_.store(true, std::memory_order_release);
    return status;
  };
  if (active_->size > kSegmentHeaderBytes && active_->size + frames.size() > options_.segment_bytes) {
    Status rolled = RollLocked();
    if (!rolled.ok()) return blocked(std::move(rolled));
  }
  if (active_->size + frames.size() > UINT32_MAX)
    return Status::InvalidArgument("batch", "larger than a segment can hold");
  LogPosition start;
  {
    std::lock_guard lock(readers_mutex_);
    start = LogPosition{first_segment_id_ + static_cast<uint32_t>(segment_paths_.size() - 1),
                        static_cast<uint32_t>(active_->size)};
  }
  Status written = WriteAll(active_->fd, frames, active_->path);
  if (!written.ok()) {
    // Take back whatever part of the batch reached the file, so no partial record precedes later ones.
    if (::ftruncate(active_->fd, static_cast<off_t>(active_->size)) != 0)
      failed_.store(true, std::memory_order_release);
    return blocked(std::move(written));
  }
  blocked_.store(false, std::memory_order_release);
  active_->size += frames.size();
  const uint64_t end = next_lsn_.load(std::memory_order_relaxed) + record_count;
  next_lsn_.store(end, std::memory_order_release);
  return Appended{end, start};
}

Status SegmentLog::CheckWritable() {
  if (failed())
    return Status::Unavailable("log: stopped accepting writes after an fsync error; restart tallyd");
  if (!blocked_.load(std::memory_order_acquire)) return Status::Ok();
  std::lock_guard lock(append_mutex_);
  if (roll_pending_) {
    Status rolled = RollLocked();
    if (rolled.ok()) {
      blocked_.store(false, std::memory_order_release);
      return Status::Ok();
    }
    blocked_reason_ = rolled.message();
  }
  if (!blocked_.load(std::memory_order_acquire)) return Status::Ok();
  return Status::Unavailable("log: the last write failed: " + blocked_reason_);
}

Status SegmentLog::Sync() {
  std::shared_ptr<SegmentFile> file;
  uint64_t target = 0;
  {
    std::lock_guard lock(append_mutex_);
    file = active_;
    target = next_lsn_.load(std::memory_order_relaxed);
  }
  std::lock_guard sync_lock(sync_mutex_);
  if (durable_lsn() >= target) return Status::Ok();  // a concurrent caller's fsync covered these records
  if (::fdatasync(file->fd) != 0) {
    failed_.store(true, std::memory_order_release);
    return Status::FromErrno("fsync " + file->path, errno);
  }
  AdvanceDurable(target);
  return Status::Ok();
}

void SegmentLog::AdvanceDurable(uint64_t lsn) {
  uint64_t current = durable_lsn_.load(std::memory_order_acquire);
  while (current < lsn && !durable_lsn_.compare_exchange_weak(current, lsn, std::memory_order_acq_rel)) {
  }
}

}  // namespace tally

#include "engine/checkpoint.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstring>

#include "common/files.h"
#include "common/fixed_width.h"
#include "log/crc32c.h"

namespace tally {
namespace {

constexpr char kMagic[8] = {'T', 'A', 'L', 'L', 'Y', 'S', 'N', 'P'};
// 2: views split into shards; 3: no cells per product and store; 4: retention (hours kept, log positions
// the views still need); 5: each event id's hour, each shard's part after its length (loaded in parallel);
// 6: timelines as chains through the rows; 7: the shards' lengths after the views (they are known only
// once a shard is written, and the views are written as they are saved); 8: rows, hours' row lists and the
// event-id index's columns and runs as they are in memory, aligned, so that a restart uses them in place;
// 9: each hour's seal (rows covered and their digest), so that a start need not digest a sealed file's rows;
// 10: chunks in the cold chunk file saved as their place there and checksum, not copied; 11: each event
// id's place among the texts a column (a number, not an address), so that its chunks in the cold file are
// referred to like the others'; 12: a quiet hour's user sets frozen in the cold chunk file, saved as their
// place there; 13: the event ids' fingerprints of a hash that is the same in every process (before, a
// hash salted per process: a start made the runs' fingerprints again); 14: each sealed hour's rows
// retracted since its seal (its deletion mask), beside the seal noted; 15: an event's row of 40 bytes, its
// state in its timestamp's top byte (48 before); 16: each hour's seal noted as its parts (late rows are
// sealed as a part of their own); 17: each hour's rows its own (named by hour and place, by hour and log
// position across shards), with its rows by user instead of a chain of each user's rows. A checkpoint of an
// older format is not read: the log is replayed.
constexpr uint32_t kFormatVersion = 17;
constexpr uint32_t kOldestFormatRead = 17;
// (A multiple of 8: the payload is aligned in the file as in its mapping, for the columns used in place.)
constexpr size_t kHeaderBytes = 8 + 4 + 4 + 8 + 8;

std::string FileName(uint64_t lsn) {
  char name[48];
  std::snprintf(name, sizeof(name), "views-%020" PRIu64 ".snap", lsn);
  return name;
}

}  // namespace

Result<std::unique_ptr<CheckpointWriter>> CheckpointWriter::Create(const std::string& directory,
                                                                   uint64_t lsn) {
  if (::mkdir(directory.c_str(), 0755) != 0 && errno != EEXIST)
    return Status::FromErrno("mkdir " + directory, errno);
  std::string path = directory + "/" + FileName(lsn);
  const std::string temporary = path + ".tmp";
  const int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Status::FromErrno("create " + temporary, errno);
  std::unique_ptr<CheckpointWriter> writer(new CheckpointWriter(directory, lsn, std::move(path), fd));
  // Room for the header, which is written last (it holds the checksum): the payload follows it.
  TALLY_RETURN_IF_ERROR(WriteAll(fd, std::string(kHeaderBytes, '\0'), temporary));
  return writer;
}

CheckpointWriter::CheckpointWriter(std::string directory, uint64_t lsn, std::string path, int fd)
    : ByteSink(kBufferBytes),
      directory_(std::move(directory)),
      lsn_(lsn),
      path_(std::move(path)),
      temporary_(path_ + ".tmp"),
      fd_(fd) {}

CheckpointWriter::~CheckpointWriter() {
  if (fd_ >= 0) ::close(fd_);
  if (!finished_) ::unlink(temporary_.c_str());
}

Status CheckpointWriter::Drain(std::string_view bytes) {
  TALLY_RETURN_IF_ERROR(WriteAll(fd_, bytes, temporary_));
  checksum_ = Crc32c(bytes, checksum_);
  payload_bytes_ += bytes.size();
  return Status::Ok();
}

Result<uint64_t> CheckpointWriter::Finish(size_t keep) {
  TALLY_RETURN_IF_ERROR(Flush());
  std::string header(kMagic, sizeof(kMagic));
  PutFixed<uint32_t>(&header, kFormatVersion);
  PutFixed<uint32_t>(&header, checksum_);
  PutFixed<uint64_t>(&header, lsn_);
  PutFixed<uint64_t>(&header, payload_bytes_);
  if (::lseek(fd_, 0, SEEK_SET) != 0) return Status::FromErrno("seek " + temporary_, errno);
  TALLY_RETURN_IF_ERROR(WriteAll(fd_, header, temporary_));
  if (::fsync(fd_) != 0) return Status::FromErrno("fsync " + temporary_, errno);
  ::close(fd_);
  fd_ = -1;
  if (::rename(temporary_.c_str(), path_.c_str()) != 0)
    return Status::FromErrno("rename " + temporary_, errno);
  finished_ = true;
  TALLY_RETURN_IF_ERROR(SyncDirectory(directory_));
  std::vector<CheckpointFile> files = ListCheckpoints(directory_);
  for (size_t i = keep; i < files.size(); ++i) ::unlink(files[i].path.c_str());
  // Gone for good before the server uses again the places of the cold files only they referred to.
  if (files.size() > keep) TALLY_RETURN_IF_ERROR(SyncDirectory(directory_));
  return kHeaderBytes + payload_bytes_;
}

std::vector<CheckpointFile> ListCheckpoints(const std::string& directory) {
  std::vector<CheckpointFile> files;
  DIR* dir = ::opendir(directory.c_str());
  if (dir == nullptr) return files;
  while (dirent* entry = ::readdir(dir)) {
    std::string_view name(entry->d_name);
    if (name.starts_with("views-") && name.ends_with(".snap.tmp")) {
      ::unlink((directory + "/" + std::string(name)).c_str());
      continue;
    }
    uint64_t lsn = 0;
    if (name.size() == 6 + 20 + 5 && name.starts_with("views-") && name.ends_with(".snap") &&
        std::sscanf(entry->d_name + 6, "%20" SCNu64, &lsn) == 1) {
      files.push_back({lsn, directory + "/" + std::string(name)});
    }
  }
  ::closedir(dir);
  std::sort(files.begin(), files.end(), [](const auto& a, const auto& b) { return a.lsn > b.lsn; });
  return files;
}

Result<CheckpointPayload> ReadCheckpoint(const CheckpointFile& file) {
  // Mapped, not read: a checkpoint is as large as the views, and a copy of it on the heap (zeroed first,
  // then filled by the kernel) took a third of a restart's time.
  // Copied on write: the views keep the rows where they are and change them there.
  auto mapping = MappedFile::Open(file.path, MappedFile::Reading::kWhole, MappedFile::Writes::kCopiedOnWrite);
  if (!mapping.ok()) return mapping.status();
  const std::string_view bytes = (*mapping)->bytes();
  if (bytes.size() < kHeaderBytes || std::memcmp(bytes.data(), kMagic, sizeof(kMagic)) != 0)
    return Status::Corruption(file.path + ": not a checkpoint");
  const auto version = GetFixed<uint32_t>(bytes.data() + 8);
  if (version < kOldestFormatRead || version > kFormatVersion)
    return Status::Corruption(file.path + ": checkpoint format version not known");
  const auto checksum = GetFixed<uint32_t>(bytes.data() + 12);
  const auto lsn = GetFixed<uint64_t>(bytes.data() + 16);
  const auto length = GetFixed<uint64_t>(bytes.data() + 24);
  if (lsn != file.lsn || length != bytes.size() - kHeaderBytes)
    return Status::Corruption(file.path + ": checkpoint is truncated or mislabeled");
  return CheckpointPayload{*mapping, bytes.substr(kHeaderBytes), SavedLayout::kRowsByHour, checksum,
                           file.path};
}

Status CheckpointPayload::Verify() const {
  if (Crc32c(bytes) != checksum) return Status::Corruption(path + ": checkpoint checksum does not match");
  return Status::Ok();
}

}  // namespace tally

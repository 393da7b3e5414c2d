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
// the views still need); 5: each event id's hour, each shard's part after its length (loaded in parallel)
constexpr uint32_t kFormatVersion = 5;
constexpr size_t kHeaderBytes = 8 + 4 + 4 + 8 + 8;

std::string FileName(uint64_t lsn) {
  char name[48];
  std::snprintf(name, sizeof(name), "views-%020" PRIu64 ".snap", lsn);
  return name;
}

}  // namespace

Status WriteCheckpoint(const std::string& directory, uint64_t lsn, std::string_view views_bytes,
                       size_t keep) {
  if (::mkdir(directory.c_str(), 0755) != 0 && errno != EEXIST)
    return Status::FromErrno("mkdir " + directory, errno);
  std::string header(kMagic, sizeof(kMagic));
  PutFixed<uint32_t>(&header, kFormatVersion);
  PutFixed<uint32_t>(&header, Crc32c(views_bytes));
  PutFixed<uint64_t>(&header, lsn);
  PutFixed<uint64_t>(&header, views_bytes.size());
  const std::string path = directory + "/" + FileName(lsn);
  const std::string temporary = path + ".tmp";
  TALLY_RETURN_IF_ERROR(WriteFileDurably(temporary, {header, views_bytes}));
  if (::rename(temporary.c_str(), path.c_str()) != 0) return Status::FromErrno("rename " + temporary, errno);
  TALLY_RETURN_IF_ERROR(SyncDirectory(directory));
  std::vector<CheckpointFile> files = ListCheckpoints(directory);
  for (size_t i = keep; i < files.size(); ++i) ::unlink(files[i].path.c_str());
  return Status::Ok();
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

namespace {

// The header of the open checkpoint `fd`, then its payload read straight into the string returned: a
// checkpoint is as large as the views, and each extra copy of it costs the restart time and memory.
Result<std::string> ReadCheckpointFrom(int fd, const CheckpointFile& file) {
  auto read_exactly = [&](char* into, size_t size, off_t at) {
    size_t done = 0;
    while (done < size) {
      const ssize_t got = ::pread(fd, into + done, size - done, at + static_cast<off_t>(done));
      if (got < 0 && errno == EINTR) continue;
      if (got <= 0) return false;
      done += static_cast<size_t>(got);
    }
    return true;
  };
  char header[kHeaderBytes];
  struct stat info {};
  if (::fstat(fd, &info) != 0 || !read_exactly(header, kHeaderBytes, 0) ||
      std::memcmp(header, kMagic, sizeof(kMagic)) != 0) {
    return Status::Corruption(file.path + ": not a checkpoint");
  }
  if (GetFixed<uint32_t>(header + 8) != kFormatVersion) {
    return Status::Corruption(file.path + ": checkpoint format version not known");
  }
  const auto checksum = GetFixed<uint32_t>(header + 12);
  const auto lsn = GetFixed<uint64_t>(header + 16);
  const auto length = GetFixed<uint64_t>(header + 24);
  const Status truncated = Status::Corruption(file.path + ": checkpoint is truncated or mislabeled");
  if (lsn != file.lsn || length != static_cast<uint64_t>(info.st_size) - kHeaderBytes) return truncated;
  std::string payload(length, '\0');
  if (!read_exactly(payload.data(), length, kHeaderBytes)) return truncated;
  if (Crc32c(payload) != checksum)
    return Status::Corruption(file.path + ": checkpoint checksum does not match");
  return payload;
}

}  // namespace

Result<std::string> ReadCheckpoint(const CheckpointFile& file) {
  const int fd = ::open(file.path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status::FromErrno("open " + file.path, errno);
  auto payload = ReadCheckpointFrom(fd, file);
  ::close(fd);
  return payload;
}

}  // namespace tally

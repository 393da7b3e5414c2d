#include "common/files.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

namespace tally {

Status WriteAll(int fd, std::string_view bytes, const std::string& path) {
  while (!bytes.empty()) {
    ssize_t n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::FromErrno("write " + path, errno);
    }
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return Status::Ok();
}

Status WriteFileDurably(const std::string& path, std::initializer_list<std::string_view> parts) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Status::FromErrno("create " + path, errno);
  Status status;
  for (std::string_view part : parts) {
    if (status.ok()) status = WriteAll(fd, part, path);
  }
  if (status.ok() && ::fsync(fd) != 0) status = Status::FromErrno("fsync " + path, errno);
  ::close(fd);
  return status;
}

Status SyncDirectory(const std::string& directory) {
  int fd = ::open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Status::FromErrno("open " + directory, errno);
  int rc = ::fsync(fd);
  int saved = errno;
  ::close(fd);
  return rc == 0 ? Status::Ok() : Status::FromErrno("fsync " + directory, saved);
}

Result<std::shared_ptr<const MappedFile>> MappedFile::Open(const std::string& path, Reading reading,
                                                           Writes writes) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status::FromErrno("open " + path, errno);
  struct stat info {};
  if (::fstat(fd, &info) != 0) {
    const int saved = errno;
    ::close(fd);
    return Status::FromErrno("stat " + path, saved);
  }
  const auto size = static_cast<size_t>(info.st_size);
  if (size == 0) {  // mmap refuses a length of 0
    ::close(fd);
    return std::make_shared<const MappedFile>(nullptr, 0);
  }
  // A private mapping is mapped read-only first and made writable after: populating a writable private
  // mapping would copy every page at once, instead of only the pages later written.
  const int sharing = writes == Writes::kCopiedOnWrite ? MAP_PRIVATE : MAP_SHARED;
  void* data =
      ::mmap(nullptr, size, PROT_READ, sharing | (reading == Reading::kWhole ? MAP_POPULATE : 0), fd, 0);
  const int saved = errno;
  ::close(fd);
  if (data == MAP_FAILED) return Status::FromErrno("mmap " + path, saved);
  if (writes == Writes::kCopiedOnWrite && ::mprotect(data, size, PROT_READ | PROT_WRITE) != 0) {
    const int error = errno;
    ::munmap(data, size);
    return Status::FromErrno("mprotect " + path, error);
  }
  if (reading == Reading::kInOrder) ::madvise(data, size, MADV_SEQUENTIAL);
  return std::make_shared<const MappedFile>(data, size, writes);
}

MappedFile::~MappedFile() {
  if (size_ > 0) ::munmap(const_cast<void*>(data_), size_);
}

}  // namespace tally

#include "views/cold_chunks.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <new>
#include <utility>

namespace tally {

namespace {

// Address space only: nothing is committed and the kernel gives a page memory when it is first written.
void* Reserve(size_t bytes, int protection) {
  return ::mmap(nullptr, bytes, protection, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
}

}  // namespace

Result<std::unique_ptr<ColdChunkFile>> ColdChunkFile::Create(const std::string& directory) {
  int fd = ::open(directory.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  if (fd < 0 && (errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL)) {
    // A file system without O_TMPFILE: a named file, unlinked at once.
    const std::string path = directory + "/cold-chunks." + std::to_string(::getpid());
    fd = ::open(path.c_str(), O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0600);
    if (fd >= 0) ::unlink(path.c_str());
  }
  if (fd < 0) return Status::FromErrno("creating the cold chunk file in " + directory, errno);
  void* window = Reserve(kWindowBytes, PROT_NONE);
  if (window == MAP_FAILED) {
    const int error = errno;
    ::close(fd);
    return Status::FromErrno("reserving address space for the cold chunk file", error);
  }
  return std::unique_ptr<ColdChunkFile>(new ColdChunkFile(fd, static_cast<char*>(window)));
}

ColdChunkFile::~ColdChunkFile() {
  ::munmap(window_, kWindowBytes);
  ::close(fd_);
}

Result<uint64_t> ColdChunkFile::Write(const void* data, size_t bytes) {
  if (bytes == 0 || bytes % kPageBytes != 0) return Status::Internal("cold chunk: not whole pages");
  std::vector<uint64_t>& free = free_places_[bytes];
  const uint64_t offset = free.empty() ? end_ : free.back();
  if (offset + bytes > kWindowBytes) return Status::Unavailable("the cold chunk file is full");
  const auto* from = static_cast<const char*>(data);
  for (size_t written = 0; written < bytes;) {
    const ssize_t n = ::pwrite(fd_, from + written, bytes - written, static_cast<off_t>(offset + written));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return Status::FromErrno("writing the cold chunk file", n < 0 ? errno : ENOSPC);
    written += static_cast<size_t>(n);
  }
  return offset;
}

void ColdChunkFile::RecordUsed(const void* mapped, uint64_t offset, size_t bytes) {
  std::vector<uint64_t>& free = free_places_[bytes];
  if (!free.empty() && free.back() == offset) {
    free.pop_back();
  } else {
    end_ += bytes;
  }
  place_of_[mapped] = offset;
  bytes_.fetch_add(bytes, std::memory_order_relaxed);
}

Result<void*> ColdChunkFile::MoveIn(const void* data, size_t bytes) {
  std::lock_guard lock(mutex_);
  auto offset = Write(data, bytes);
  if (!offset.ok()) return offset.status();
  // The chunk goes where its place in the file is in the window: chunks next to each other in the file
  // are next to each other in memory too, and the kernel keeps them as one mapping (a process may have
  // only so many).
  char* at = window_ + *offset;
  if (::mmap(at, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED, fd_, static_cast<off_t>(*offset)) ==
      MAP_FAILED) {
    const int error = errno;
    Reserve(bytes, PROT_NONE);  // what a failed MAP_FIXED may have unmapped: nothing was there but the window
    return Status::FromErrno("mapping the cold chunk file", error);
  }
  RecordUsed(at, *offset, bytes);
  return at;
}

Status ColdChunkFile::MoveInPlace(void* address, size_t bytes) {
  std::lock_guard lock(mutex_);
  auto offset = Write(address, bytes);
  if (!offset.ok()) return offset.status();
  void* mapped =
      ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd_, static_cast<off_t>(*offset));
  if (mapped == MAP_FAILED) return Status::FromErrno("mapping the cold chunk file", errno);
  // mremap puts the file's mapping where the bytes were in one step (a MAP_FIXED that fails may have
  // unmapped the old bytes already); on an error the old mapping is untouched.
  if (::mremap(mapped, bytes, bytes, MREMAP_MAYMOVE | MREMAP_FIXED, address) == MAP_FAILED) {
    const int error = errno;
    ::munmap(mapped, bytes);
    return Status::FromErrno("mapping the cold chunk file in place", error);
  }
  RecordUsed(address, *offset, bytes);
  return Status::Ok();
}

void ColdChunkFile::Release(void* mapped, size_t bytes) {
  char* at = static_cast<char*>(mapped);
  const bool in_window = at >= window_ && at < window_ + kWindowBytes;
  if (closing_.load(std::memory_order_relaxed)) {
    if (!in_window) ::munmap(mapped, bytes);  // the window is unmapped whole at the end
    return;
  }
  if (in_window) {
    // Back to reserved address space, so that nothing else is mapped where a later chunk will go.
    ::mmap(at, bytes, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0);
  } else {
    ::munmap(mapped, bytes);
  }
  std::lock_guard lock(mutex_);
  const auto place = place_of_.find(mapped);
  if (place == place_of_.end()) return;
  // The disk blocks go back to the file system; the place is reused by the next chunk of this size.
  ::fallocate(fd_, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, static_cast<off_t>(place->second),
              static_cast<off_t>(bytes));
  free_places_[bytes].push_back(place->second);
  place_of_.erase(place);
  bytes_.fetch_sub(bytes, std::memory_order_relaxed);
}

ArenaRegion::ArenaRegion() {
  void* region = Reserve(kBytes, PROT_READ | PROT_WRITE);
  if (region == MAP_FAILED) throw std::bad_alloc();  // as operator new does when memory runs out
  data_ = static_cast<char*>(region);
}

ArenaRegion::~ArenaRegion() { Free(); }

ArenaRegion::ArenaRegion(ArenaRegion&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)),
      cold_bytes_(std::exchange(other.cold_bytes_, 0)),
      cold_(std::move(other.cold_)) {}

ArenaRegion& ArenaRegion::operator=(ArenaRegion&& other) noexcept {
  if (this != &other) {
    Free();
    data_ = std::exchange(other.data_, nullptr);
    cold_bytes_ = std::exchange(other.cold_bytes_, 0);
    cold_ = std::move(other.cold_);
  }
  return *this;
}

void ArenaRegion::Free() {
  if (data_ == nullptr) return;
  if (cold_bytes_ > 0) cold_->Release(data_, cold_bytes_);
  ::munmap(data_ + cold_bytes_, kBytes - cold_bytes_);
  data_ = nullptr;
  cold_bytes_ = 0;
  cold_.reset();
}

Status ArenaRegion::MoveToCold(size_t used, const std::shared_ptr<ColdChunkFile>& cold) {
  if (data_ == nullptr || cold_bytes_ > 0 || used == 0) return Status::Ok();
  const size_t bytes =
      (used + ColdChunkFile::kPageBytes - 1) / ColdChunkFile::kPageBytes * ColdChunkFile::kPageBytes;
  Status moved = cold->MoveInPlace(data_, bytes);
  if (!moved.ok()) return moved;
  cold_bytes_ = bytes;
  cold_ = cold;
  return Status::Ok();
}

}  // namespace tally

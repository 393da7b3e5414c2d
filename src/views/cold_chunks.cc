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

ColdChunkFile::Places& ColdChunkFile::PlacesOf(uint64_t offset) {
  return offset < kWindowBytes ? window_places_ : region_places_;
}

Result<uint64_t> ColdChunkFile::Write(const void* data, size_t bytes, Places& places) {
  if (bytes == 0 || bytes % kPageBytes != 0) return Status::Internal("cold chunk: not whole pages");
  std::vector<uint64_t>& free = places.free[bytes];
  const uint64_t offset = free.empty() ? places.end : free.back();
  if (&places == &window_places_ && offset + bytes > kWindowBytes)
    return Status::Unavailable("the cold chunk file is full");
  const auto* from = static_cast<const char*>(data);
  for (size_t written = 0; written < bytes;) {
    const ssize_t n = ::pwrite(fd_, from + written, bytes - written, static_cast<off_t>(offset + written));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return Status::FromErrno("writing the cold chunk file", n < 0 ? errno : ENOSPC);
    written += static_cast<size_t>(n);
  }
  return offset;
}

void ColdChunkFile::TakePlace(uint64_t offset, size_t bytes) {
  Places& places = PlacesOf(offset);
  std::vector<uint64_t>& free = places.free[bytes];
  if (!free.empty() && free.back() == offset) {
    free.pop_back();
  } else {
    places.end += bytes;
  }
  bytes_.fetch_add(bytes, std::memory_order_relaxed);
}

Result<void*> ColdChunkFile::MoveIn(const void* data, size_t bytes) {
  std::lock_guard lock(mutex_);
  auto offset = Write(data, bytes, window_places_);
  if (!offset.ok()) return offset.status();
  // The chunk goes where its place in the file is in the window: chunks next to each other in the file
  // are next to each other in memory too, and the kernel keeps them as one mapping (a process may have
  // only so many).
  char* at = window_ + *offset;
  if (::mmap(at, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED | MAP_NORESERVE, fd_,
             static_cast<off_t>(*offset)) == MAP_FAILED) {
    const int error = errno;
    Reserve(bytes, PROT_NONE);  // what a failed MAP_FIXED may have unmapped: nothing was there but the window
    return Status::FromErrno("mapping the cold chunk file", error);
  }
  TakePlace(*offset, bytes);
  return at;
}

Result<uint64_t> ColdChunkFile::MoveInPlace(void* address, size_t bytes) {
  std::lock_guard lock(mutex_);
  auto offset = Write(address, bytes, region_places_);
  if (!offset.ok()) return offset.status();
  void* mapped = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_NORESERVE, fd_,
                        static_cast<off_t>(*offset));
  if (mapped == MAP_FAILED) return Status::FromErrno("mapping the cold chunk file", errno);
  // mremap puts the file's mapping where the bytes were in one step (a MAP_FIXED that fails may have
  // unmapped the old bytes already); on an error the old mapping is untouched.
  if (::mremap(mapped, bytes, bytes, MREMAP_MAYMOVE | MREMAP_FIXED, address) == MAP_FAILED) {
    const int error = errno;
    ::munmap(mapped, bytes);
    return Status::FromErrno("mapping the cold chunk file in place", error);
  }
  TakePlace(*offset, bytes);
  return *offset;
}

void ColdChunkFile::GiveBack(uint64_t offset, size_t bytes) {
  if (closing_.load(std::memory_order_relaxed)) return;
  std::lock_guard lock(mutex_);
  bytes_.fetch_sub(bytes, std::memory_order_relaxed);
  if (holds_ > 0) {
    held_back_.emplace_back(offset, bytes);
    return;
  }
  FreePlace(offset, bytes);
}

void ColdChunkFile::FreePlace(uint64_t offset, size_t bytes) {
  // The disk blocks go back to the file system; the place is reused by the next chunk of this size.
  ::fallocate(fd_, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, static_cast<off_t>(offset),
              static_cast<off_t>(bytes));
  PlacesOf(offset).free[bytes].push_back(offset);
}

void ColdChunkFile::Hold() {
  std::lock_guard lock(mutex_);
  ++holds_;
}

void ColdChunkFile::EndHold() {
  std::lock_guard lock(mutex_);
  if (--holds_ > 0) return;
  for (const auto& [offset, bytes] : held_back_) FreePlace(offset, bytes);
  held_back_.clear();
}

void ColdChunkFile::Release(void* mapped, size_t bytes) {
  // The window is unmapped whole at the end.
  if (closing_.load(std::memory_order_relaxed)) return;
  // Back to reserved address space, so that nothing else is mapped where a later chunk will go.
  ::mmap(mapped, bytes, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0);
  GiveBack(static_cast<uint64_t>(static_cast<char*>(mapped) - window_), bytes);
}

ArenaRegion::ArenaRegion() {
  void* region = Reserve(kBytes, PROT_READ | PROT_WRITE);
  if (region == MAP_FAILED) throw std::bad_alloc();  // as operator new does when memory runs out
  data_ = static_cast<char*>(region);
}

ArenaRegion::~ArenaRegion() { Free(); }

ArenaRegion::ArenaRegion(ArenaRegion&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)),
      cold_offset_(std::exchange(other.cold_offset_, 0)),
      cold_end_(std::exchange(other.cold_end_, 0)),
      cold_(std::move(other.cold_)) {}

ArenaRegion& ArenaRegion::operator=(ArenaRegion&& other) noexcept {
  if (this != &other) {
    Free();
    data_ = std::exchange(other.data_, nullptr);
    cold_offset_ = std::exchange(other.cold_offset_, 0);
    cold_end_ = std::exchange(other.cold_end_, 0);
    cold_ = std::move(other.cold_);
  }
  return *this;
}

void ArenaRegion::Free() {
  if (data_ == nullptr) return;
  ::munmap(data_, kBytes);
  if (cold_end_ > 0) cold_->GiveBack(cold_offset_, cold_end_);
  data_ = nullptr;
  cold_end_ = 0;
  cold_.reset();
}

Result<size_t> ArenaRegion::MoveToCold(size_t used, bool quiet, const std::shared_ptr<ColdChunkFile>& cold) {
  const size_t end =
      (used + ColdChunkFile::kPageBytes - 1) / ColdChunkFile::kPageBytes * ColdChunkFile::kPageBytes;
  if (data_ == nullptr || end <= cold_end_) return size_t{0};
  if (!quiet && end - cold_end_ < kBusyMoveBytes && end < kBytes) return size_t{0};
  // All the bytes written so far, again: one mapping for the region, whatever the number of moves.
  auto offset = cold->MoveInPlace(data_, end);
  if (!offset.ok()) return offset.status();
  if (cold_end_ > 0) cold_->GiveBack(cold_offset_, cold_end_);
  cold_offset_ = *offset;
  cold_end_ = end;
  cold_ = cold;
  return end;
}

}  // namespace tally

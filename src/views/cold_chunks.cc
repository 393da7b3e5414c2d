#include "views/cold_chunks.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <new>
#include <thread>
#include <utility>

#include "common/round_up.h"
#include "log/crc32c.h"

namespace tally {

namespace {

// Address space only: nothing is committed and the kernel gives a page memory when it is first written.
void* Reserve(size_t bytes, int protection) {
  return ::mmap(nullptr, bytes, protection, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
}

// The same in place of what is at `address` (the window's own reservation, again).
void ReserveAt(void* address, size_t bytes) {
  ::mmap(address, bytes, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0);
}

// The same at an address aligned to `alignment` (a power of two, a multiple of the page size).
void* ReserveAligned(size_t bytes, size_t alignment) {
  void* reserved = Reserve(bytes + alignment, PROT_NONE);
  if (reserved == MAP_FAILED) return MAP_FAILED;
  const auto start = reinterpret_cast<uintptr_t>(reserved);
  const uintptr_t aligned = (start + alignment - 1) & ~(uintptr_t{alignment} - 1);
  if (aligned > start) ::munmap(reserved, aligned - start);
  ::munmap(reinterpret_cast<void*>(aligned + bytes), start + alignment - aligned);
  return reinterpret_cast<void*>(aligned);
}

// An unlinked file in `directory`.
int CreateUnlinked(const std::string& directory, const char* name) {
  int fd = ::open(directory.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  if (fd < 0 && (errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL)) {
    // A file system without O_TMPFILE: a named file, unlinked at once.
    const std::string path = directory + "/" + name + "." + std::to_string(::getpid());
    fd = ::open(path.c_str(), O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0600);
    if (fd >= 0) ::unlink(path.c_str());
  }
  return fd;
}

}  // namespace

Result<std::unique_ptr<ColdChunkFile>> ColdChunkFile::Create(const std::string& directory) {
  return Make(directory, false);
}

Result<std::unique_ptr<ColdChunkFile>> ColdChunkFile::Open(const std::string& directory) {
  return Make(directory, true);
}

Result<std::unique_ptr<ColdChunkFile>> ColdChunkFile::Make(const std::string& directory, bool kept) {
  int fds[2] = {-1, -1};
  const char* names[2] = {kChunksName, kRegionsName};
  for (int i = 0; i < 2; ++i) {
    const std::string path = directory + "/" + names[i];
    fds[i] =
        kept ? ::open(path.c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0600) : CreateUnlinked(directory, names[i]);
    if (fds[i] < 0) {
      const int error = errno;
      if (i == 1) ::close(fds[0]);
      return Status::FromErrno((kept ? "opening " : "creating a file in ") + (kept ? path : directory),
                               error);
    }
  }
  struct stat chunks = {};
  struct stat regions = {};
  void* window = MAP_FAILED;
  void* zeros = MAP_FAILED;
  if (::fstat(fds[0], &chunks) == 0 && ::fstat(fds[1], &regions) == 0) {
    window = ReserveAligned(kWindowBytes, kHugePageBytes);
    zeros = Reserve(kHugePageBytes, PROT_READ);
  }
  if (window == MAP_FAILED || zeros == MAP_FAILED) {
    const int error = errno;
    if (window != MAP_FAILED) ::munmap(window, kWindowBytes);
    if (zeros != MAP_FAILED) ::munmap(zeros, kHugePageBytes);
    ::close(fds[0]);
    ::close(fds[1]);
    return Status::FromErrno("reserving address space for the cold chunk file", error);
  }
  std::unique_ptr<ColdChunkFile> file(
      new ColdChunkFile(fds[0], fds[1], static_cast<char*>(window), static_cast<const char*>(zeros), kept));
  if (!kept) return file;
  // Nothing is written before the load ends: every place in the files may be a kept checkpoint's.
  const uint64_t chunk_bytes = std::min<uint64_t>(chunks.st_size, kWindowBytes) / kPageBytes * kPageBytes;
  file->window_places_.end = chunk_bytes;
  file->zeroed_end_ = RoundUp(chunk_bytes, kHugePageBytes);
  file->region_places_.end = kWindowBytes + static_cast<uint64_t>(regions.st_size) / kPageBytes * kPageBytes;
  // The chunks where each goes in the window, at once: one mapping, whatever the chunks adopted.
  if (chunk_bytes > 0 && ::mmap(window, chunk_bytes, PROT_READ | PROT_WRITE,
                                MAP_PRIVATE | MAP_FIXED | MAP_NORESERVE, fds[0], 0) == MAP_FAILED) {
    return Status::FromErrno("mapping " + directory + "/" + kChunksName, errno);
  }
#ifdef MADV_POPULATE_READ
  // The load reads every chunk a checkpoint adopts (its checksum, its rows' check): one call maps their
  // pages, instead of a page fault each 64 KiB, which in a virtual machine costs a trap to the host
  // (BENCHMARKS.md, "A sealed hour's events as columns": 5 % of a 100 M-event restart's CPU). Without it
  // (before Linux 5.14) the faults do the same.
  (void)::madvise(window, chunk_bytes, MADV_POPULATE_READ);
#endif
  file->loading_ = true;
  return file;
}

ColdChunkFile::Location ColdChunkFile::At(uint64_t offset) const {
  if (offset < kWindowBytes) return {chunks_fd_, static_cast<off_t>(offset)};
  return {regions_fd_, static_cast<off_t>(offset - kWindowBytes)};
}

Status ColdChunkFile::Sync() const {
  for (const int fd : {chunks_fd_, regions_fd_}) {
    if (::fdatasync(fd) != 0) return Status::FromErrno("syncing the cold chunk file", errno);
  }
  return Status::Ok();
}

bool ColdChunkFile::AdoptPlace(uint64_t offset, size_t bytes, uint32_t crc, const char* address) {
  const Places& places = offset < kWindowBytes ? window_places_ : region_places_;
  if (!loading_ || bytes == 0 || bytes % kPageBytes != 0 || offset % kPageBytes != 0 || offset > places.end ||
      bytes > places.end - offset) {
    return false;
  }
  // The places adopted must not overlap: each is given back once.
  auto next = adopted_.lower_bound(offset);
  if ((next != adopted_.end() && next->first < offset + bytes) ||
      (next != adopted_.begin() && std::prev(next)->second > offset)) {
    return false;
  }
  adopted_.emplace_hint(next, offset, offset + bytes);
  to_verify_.push_back({address, bytes, crc});
  crc_of_[offset] = crc;
  bytes_.fetch_add(bytes, std::memory_order_relaxed);
  return true;
}

Result<void*> ColdChunkFile::Adopt(uint64_t offset, size_t bytes, uint32_t crc) {
  std::lock_guard lock(mutex_);
  if (offset >= kWindowBytes || !AdoptPlace(offset, bytes, crc, window_ + offset))
    return Status::Corruption("a chunk outside the cold chunk file, or two in one place");
  return window_ + offset;
}

Status ColdChunkFile::AdoptAt(uint64_t offset, size_t bytes, uint32_t crc, void* address) {
  std::lock_guard lock(mutex_);
  if (offset < kWindowBytes || !AdoptPlace(offset, bytes, crc, static_cast<const char*>(address)))
    return Status::Corruption("an arena region outside the cold chunk file, or two in one place");
  const Location at = At(offset);
  if (::mmap(address, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED | MAP_NORESERVE, at.fd,
             at.offset) == MAP_FAILED) {
    const int error = errno;
    adopted_.erase(offset);
    to_verify_.pop_back();
    crc_of_.erase(offset);
    bytes_.fetch_sub(bytes, std::memory_order_relaxed);
    return Status::FromErrno("mapping the cold chunk file", error);
  }
  return Status::Ok();
}

bool ColdChunkFile::Loading() {
  std::lock_guard lock(mutex_);
  return loading_;
}

void ColdChunkFile::BeginLoad() {
  std::lock_guard lock(mutex_);
  to_verify_.clear();
  verify_next_ = 0;
  damaged_ = false;
}

Status ColdChunkFile::VerifyAdopted(const std::atomic<bool>& load_over) {
  constexpr size_t kBatch = 32;
  std::vector<ToVerify> batch;
  while (!damaged_.load(std::memory_order_relaxed)) {
    const bool over = load_over.load(std::memory_order_acquire);  // before the last look at the list
    {
      std::lock_guard lock(mutex_);
      const size_t end = std::min(to_verify_.size(), verify_next_ + kBatch);
      batch.assign(to_verify_.begin() + static_cast<ptrdiff_t>(verify_next_),
                   to_verify_.begin() + static_cast<ptrdiff_t>(end));
      verify_next_ = end;
    }
    if (batch.empty()) {
      if (over) break;
      std::this_thread::sleep_for(std::chrono::microseconds(200));
      continue;
    }
    for (const ToVerify& chunk : batch) {
      if (Crc32c({chunk.address, chunk.bytes}) != chunk.crc) damaged_ = true;
    }
  }
  if (damaged_) return Status::Corruption("a chunk of the cold chunk file does not match its checksum");
  return Status::Ok();
}

void ColdChunkFile::FinishLoad(OtherCheckpoints others) {
  std::lock_guard lock(mutex_);
  if (!loading_) return;
  loading_ = false;
  // What no adopted chunk holds may be another kept checkpoint's: given back as if before the first
  // checkpoint this process begins.
  Batch batch{next_checkpoint_, {}, others == OtherCheckpoints::kReplacedByTheNext ? 1 : 2};
  // The gaps between the places adopted in [begin, end) of the offsets.
  auto add_gaps = [&](uint64_t begin, uint64_t end) {
    uint64_t at = begin;
    for (auto it = adopted_.lower_bound(begin); it != adopted_.end() && it->first < end; ++it) {
      if (it->first > at) batch.places.emplace_back(at, it->first - at);
      at = it->second;
    }
    if (end > at) batch.places.emplace_back(at, end - at);
  };
  add_gaps(0, window_places_.end);
  add_gaps(kWindowBytes, region_places_.end);
  if (!batch.places.empty()) batches_.push_back(std::move(batch));
  adopted_.clear();
  to_verify_.clear();
  to_verify_.shrink_to_fit();
}

uint64_t ColdChunkFile::BeginCheckpoint() {
  std::lock_guard lock(mutex_);
  return next_checkpoint_++;
}

void ColdChunkFile::Committed(uint64_t checkpoint) {
  std::lock_guard lock(mutex_);
  if (checkpoint <= committed_[0]) return;
  committed_[1] = committed_[0];
  committed_[0] = checkpoint;
  FreeBatchesDone();
}

void ColdChunkFile::FreeBatchesDone() {
  // A batch's places are in no checkpoint begun after it: once two of those are committed, no checkpoint a
  // start may load refers to them.
  auto done = std::partition(batches_.begin(), batches_.end(), [&](const Batch& batch) {
    return batch.checkpoint > committed_[batch.commits == 1 ? 0 : 1];
  });
  for (auto it = done; it != batches_.end(); ++it) {
    for (const auto& [offset, bytes] : it->places) FreePlace(offset, bytes);
  }
  batches_.erase(done, batches_.end());
}

std::optional<ColdChunkFile::Place> ColdChunkFile::PlaceOf(const void* chunk, size_t bytes) const {
  const auto* at = static_cast<const char*>(chunk);
  if (!kept_ || at < window_ || at + bytes > window_ + kWindowBytes) return std::nullopt;
  const auto offset = static_cast<uint64_t>(at - window_);
  const auto crc = crc_of_.find(offset);
  if (crc == crc_of_.end()) return std::nullopt;
  return Place{offset, crc->second};
}

ColdChunkFile::~ColdChunkFile() {
  ::munmap(window_, kWindowBytes);
  ::munmap(const_cast<char*>(zeros_), kHugePageBytes);
  ::close(chunks_fd_);
  ::close(regions_fd_);
}

ColdChunkFile::Places& ColdChunkFile::PlacesOf(uint64_t offset) {
  return offset < kWindowBytes ? window_places_ : region_places_;
}

uint64_t ColdChunkFile::TakePlace(size_t bytes, Places& places) {
  std::vector<uint64_t>& exact = places.free[bytes];
  if (!exact.empty()) {
    const uint64_t offset = exact.back();
    exact.pop_back();
    return offset;
  }
  // The smallest larger place free (the gaps a start leaves are of any size), its rest kept free.
  size_t larger = 0;
  for (const auto& [size, offsets] : places.free) {
    if (size > bytes && !offsets.empty() && (larger == 0 || size < larger)) larger = size;
  }
  if (larger == 0) {
    places.end += bytes;
    return places.end - bytes;
  }
  const uint64_t offset = places.free[larger].back();
  places.free[larger].pop_back();
  places.free[larger - bytes].push_back(offset + bytes);
  return offset;
}

Result<uint64_t> ColdChunkFile::Write(const void* data, size_t bytes, Places& places) {
  if (bytes == 0 || bytes % kPageBytes != 0) return Status::Internal("cold chunk: not whole pages");
  const uint64_t offset = TakePlace(bytes, places);
  Status written = Status::Ok();
  if (&places == &window_places_ && offset + bytes > kWindowBytes)
    written = Status::Unavailable("the cold chunk file is full");
  if (written.ok() && &places == &window_places_ && offset + bytes > zeroed_end_)
    written = ZeroFillTo(offset + bytes);
  const auto* from = static_cast<const char*>(data);
  for (size_t done = 0; written.ok() && done < bytes;) {
    const Location at = At(offset + done);
    const ssize_t n = ::pwrite(at.fd, from + done, bytes - done, at.offset);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) written = Status::FromErrno("writing the cold chunk file", n < 0 ? errno : ENOSPC);
    done += n > 0 ? static_cast<size_t>(n) : 0;
  }
  if (!written.ok()) {
    places.free[bytes].push_back(offset);
    return written;
  }
  return offset;
}

Status ColdChunkFile::ZeroFillTo(uint64_t end) {
  while (zeroed_end_ < end) {
    const ssize_t n = ::pwrite(chunks_fd_, zeros_, kHugePageBytes, static_cast<off_t>(zeroed_end_));
    if (n < 0 && errno == EINTR) continue;
    // (A short write leaves the rest to the chunk's own write: only the folios' size is at stake.)
    if (n <= 0) return Status::FromErrno("writing the cold chunk file", n < 0 ? errno : ENOSPC);
    zeroed_end_ += kHugePageBytes;
  }
  return Status::Ok();
}

Result<void*> ColdChunkFile::MoveIn(const void* data, size_t bytes) {
  std::lock_guard lock(mutex_);
  if (loading_) return Status::Unavailable("the cold chunk file is being loaded");
  auto offset = Write(data, bytes, window_places_);
  if (!offset.ok()) return offset.status();
  // The chunk goes where its place in the file is in the window: chunks next to each other in the file
  // are next to each other in memory too, and the kernel keeps them as one mapping (a process may have
  // only so many).
  char* at = window_ + *offset;
  if (::mmap(at, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED | MAP_NORESERVE, chunks_fd_,
             static_cast<off_t>(*offset)) == MAP_FAILED) {
    const int error = errno;
    ReserveAt(at, bytes);  // what a failed MAP_FIXED may have unmapped: nothing was there but the window
    window_places_.free[bytes].push_back(*offset);
    return Status::FromErrno("mapping the cold chunk file", error);
  }
  bytes_.fetch_add(bytes, std::memory_order_relaxed);
  if (kept_) crc_of_[*offset] = Crc32c({static_cast<const char*>(data), bytes});
  return at;
}

Result<uint64_t> ColdChunkFile::MoveInPlace(void* address, size_t bytes) {
  std::lock_guard lock(mutex_);
  if (loading_) return Status::Unavailable("the cold chunk file is being loaded");
  auto offset = Write(address, bytes, region_places_);
  if (!offset.ok()) return offset.status();
  const Location location = At(*offset);
  void* mapped = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_NORESERVE, location.fd,
                        location.offset);
  if (mapped == MAP_FAILED) {
    region_places_.free[bytes].push_back(*offset);
    return Status::FromErrno("mapping the cold chunk file", errno);
  }
  // mremap puts the file's mapping where the bytes were in one step (a MAP_FIXED that fails may have
  // unmapped the old bytes already); on an error the old mapping is untouched.
  if (::mremap(mapped, bytes, bytes, MREMAP_MAYMOVE | MREMAP_FIXED, address) == MAP_FAILED) {
    const int error = errno;
    ::munmap(mapped, bytes);
    region_places_.free[bytes].push_back(*offset);
    return Status::FromErrno("mapping the cold chunk file in place", error);
  }
  bytes_.fetch_add(bytes, std::memory_order_relaxed);
  return *offset;
}

void ColdChunkFile::GiveBack(uint64_t offset, size_t bytes) {
  if (closing_.load(std::memory_order_relaxed)) return;
  std::lock_guard lock(mutex_);
  bytes_.fetch_sub(bytes, std::memory_order_relaxed);
  crc_of_.erase(offset);
  if (loading_) {  // views that did not load: FinishLoad gives back what the loaded ones do not hold
    adopted_.erase(offset);
    return;
  }
  if (!kept_) return FreePlace(offset, bytes);
  // (Not into a start's gaps: a place the loaded checkpoint refers to waits for two.)
  if (batches_.empty() || batches_.back().checkpoint != next_checkpoint_ || batches_.back().commits != 2)
    batches_.push_back({next_checkpoint_, {}});
  batches_.back().places.emplace_back(offset, bytes);
}

void ColdChunkFile::FreePlace(uint64_t offset, size_t bytes) {
  // The disk blocks go back to the file system; the place is reused by the next chunk of this size.
  const Location at = At(offset);
  ::fallocate(at.fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, at.offset, static_cast<off_t>(bytes));
  PlacesOf(offset).free[bytes].push_back(offset);
}

void ColdChunkFile::Release(void* mapped, size_t bytes) {
  // The window is unmapped whole at the end.
  if (closing_.load(std::memory_order_relaxed)) return;
  const auto offset = static_cast<uint64_t>(static_cast<char*>(mapped) - window_);
  // Views that did not load leave the window as Open mapped it: another checkpoint may adopt the same
  // chunk, and a checker of the adopted chunks may still be reading it (the load wrote nothing to it).
  if (!Loading()) {
    // Back to reserved address space, so that nothing else is mapped where a later chunk will go.
    ReserveAt(mapped, bytes);
  }
  GiveBack(offset, bytes);
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
      moved_used_(std::exchange(other.moved_used_, 0)),
      cold_crc_(std::exchange(other.cold_crc_, 0)),
      cold_(std::move(other.cold_)) {}

ArenaRegion& ArenaRegion::operator=(ArenaRegion&& other) noexcept {
  if (this != &other) {
    Free();
    data_ = std::exchange(other.data_, nullptr);
    cold_offset_ = std::exchange(other.cold_offset_, 0);
    cold_end_ = std::exchange(other.cold_end_, 0);
    moved_used_ = std::exchange(other.moved_used_, 0);
    cold_crc_ = std::exchange(other.cold_crc_, 0);
    cold_ = std::move(other.cold_);
  }
  return *this;
}

void ArenaRegion::Free() {
  if (data_ == nullptr) return;
  // Views that did not load: a checker of the adopted chunks may still be reading these addresses, so they
  // stay as they are (a region's address space, only if a checkpoint failed to load).
  if (cold_end_ == 0 || !cold_->Loading()) ::munmap(data_, kBytes);
  if (cold_end_ > 0) cold_->GiveBack(cold_offset_, cold_end_);
  data_ = nullptr;
  cold_end_ = 0;
  moved_used_ = 0;
  cold_.reset();
}

Result<size_t> ArenaRegion::MoveToCold(size_t used, bool quiet, const std::shared_ptr<ColdChunkFile>& cold) {
  const size_t end = RoundUp(used, ColdChunkFile::kPageBytes);
  if (data_ == nullptr || used <= moved_used_) return size_t{0};
  if (!quiet && used - moved_used_ < kBusyMoveBytes && end < kBytes) return size_t{0};
  // All the bytes written so far, again: one mapping for the region, whatever the number of moves.
  auto offset = cold->MoveInPlace(data_, end);
  if (!offset.ok()) return offset.status();
  if (cold_end_ > 0) cold_->GiveBack(cold_offset_, cold_end_);
  cold_offset_ = *offset;
  cold_end_ = end;
  moved_used_ = used;
  cold_crc_ = cold->kept() ? Crc32c({data_, UnchangedBytes()}) : 0;
  cold_ = cold;
  return end;
}

std::optional<ArenaRegion::ColdPlace> ArenaRegion::cold_place() const {
  if (!cold_ || !cold_->kept() || UnchangedBytes() == 0) return std::nullopt;
  return ColdPlace{cold_offset_, UnchangedBytes(), cold_crc_};
}

Status ArenaRegion::Adopt(const ColdPlace& place, size_t used, const std::shared_ptr<ColdChunkFile>& cold) {
  if (cold_end_ > 0 || place.bytes > used || used > kBytes)
    return Status::Corruption("an arena region too large");
  TALLY_RETURN_IF_ERROR(cold->AdoptAt(place.offset, place.bytes, place.crc, data_));
  cold_offset_ = place.offset;
  cold_end_ = place.bytes;
  // A last page partly used stays on the heap rather than have the whole region written again; more than
  // that moves at the next pass. (Either way the whole pages of moved_used_ are place.bytes, a multiple of
  // the page that AdoptAt checked.)
  moved_used_ = used - place.bytes < ColdChunkFile::kPageBytes ? used : place.bytes;
  cold_crc_ = place.crc;
  cold_ = cold;
  return Status::Ok();
}

}  // namespace tally

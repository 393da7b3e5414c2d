// Chunks of the views that are no longer written to (event rows and event-id columns far behind the
// newest ones, the row lists of sealed hours), moved from the heap into one file in the data directory
// and read through a private memory map. The kernel keeps them in the page cache while memory allows
// and reads them back from the disk after it had to drop them, so the process's own (anonymous) memory
// holds only the recent part of the views, and a machine with less memory than the data still serves it
// (bench/memory_limit.sh).
// A later write to a moved chunk (a correction of an old event) still works: the kernel copies that one
// page back into anonymous memory, and the file keeps the bytes it had.
//
// The server's file is kept (Open; two files, checkpoints/cold-chunks and cold-regions, the second for
// arena regions): a checkpoint refers to the chunks that are in it, by place and
// checksum, instead of copying them, and the next start maps the file and uses them where they are
// (Adopt). A place is written once and never changes while a checkpoint that may be loaded refers to it:
// a place given back is used again only after two checkpoints begun later are written (the two a start
// may load), so a crash at any moment leaves every kept checkpoint's chunks as they were. A test's file
// (Create) is unlinked as soon as it is made, and its places are used again at once.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <absl/container/btree_map.h>
#include <absl/container/flat_hash_map.h>

#include "tally/status.h"

namespace tally {

class ColdChunkFile {
 public:
  static constexpr size_t kPageBytes = 4096;

  // The file is two: the chunks, and the arena regions (whose sizes vary).
  static constexpr char kChunksName[] = "cold-chunks";
  static constexpr char kRegionsName[] = "cold-regions";
  // Unlinked files in `directory`, for views no checkpoint refers to.
  static Result<std::unique_ptr<ColdChunkFile>> Create(const std::string& directory);
  // The files in `directory`, created if missing, the chunks mapped so that the views a checkpoint saved
  // can adopt them: between Open and FinishLoad no place is given out.
  static Result<std::unique_ptr<ColdChunkFile>> Open(const std::string& directory);
  ~ColdChunkFile();
  ColdChunkFile(const ColdChunkFile&) = delete;
  ColdChunkFile& operator=(const ColdChunkFile&) = delete;

  // Copies `bytes` (a multiple of kPageBytes) from `data` into the file and maps them: the memory returned
  // holds the same bytes, and stays valid until Release. Errors (a full disk) leave `data` the only copy.
  Result<void*> MoveIn(const void* data, size_t bytes);
  // Unmaps memory MoveIn returned, and gives its place in the file back (to the file system too).
  void Release(void* mapped, size_t bytes);
  // The same for memory mapped by the caller (an ArenaRegion): the bytes at `address` are replaced, at the
  // same address, by the file's copy of them, whose offset is returned. On an error they are left as they
  // were. The caller unmaps them, and gives their place back with GiveBack.
  Result<uint64_t> MoveInPlace(void* address, size_t bytes);
  void GiveBack(uint64_t offset, size_t bytes);

  // Checkpoints. A forked process (a checkpoint's child) reads its copy of the mappings, and a private
  // mapping shows what the file holds now for every page neither process wrote: a place given back must
  // keep its bytes while a child may read it, and while a checkpoint that may be loaded refers to it.
  // BeginCheckpoint, just before the fork, returns the checkpoint's number; Committed(number) once its
  // file is in place. A place given back before checkpoint n began is used again once two checkpoints
  // numbered n or later are committed.
  uint64_t BeginCheckpoint();
  // Held across the fork: no other thread is then halfway through moving a chunk in or giving one back
  // (a merge of the id runs writes its chunks off the views' locks), so the child's copy of the places
  // is whole. The child never takes the lock.
  std::unique_lock<std::mutex> HoldForFork() { return std::unique_lock(mutex_); }
  void Committed(uint64_t checkpoint);
  // Where a checkpoint finds a chunk that MoveIn put in the file: its place and checksum, or nullopt if
  // `chunk` is not one (read by a checkpoint's child, which holds no lock: HoldForFork).
  struct Place {
    uint64_t offset = 0;
    uint32_t crc = 0;
  };
  std::optional<Place> PlaceOf(const void* chunk, size_t bytes) const;
  // Makes sure that everything written to the file is on the disk (before a checkpoint that refers to it is
  // renamed into place).
  Status Sync() const;
  std::array<int, 2> descriptors() const { return {chunks_fd_, regions_fd_}; }

  // Loading a checkpoint: the chunk of `bytes` at `offset`, its checksum `crc` checked by VerifyAdopted.
  // Refuses a place outside the file, not whole pages, or overlapping one adopted already.
  Result<void*> Adopt(uint64_t offset, size_t bytes, uint32_t crc);
  // The same for an arena region's bytes (MoveInPlace put them in the file), mapped at `address` (whole
  // pages of address space the caller reserved). The caller gives the place back (GiveBack).
  Status AdoptAt(uint64_t offset, size_t bytes, uint32_t crc, void* address);
  // Checks the chunks adopted against their checksums as they are adopted, until `load_over` is set and
  // every one is checked; several threads may check at once, each taking the next chunks. (A load checks
  // them beside its own work, and helps once it is over.)
  Status VerifyAdopted(const std::atomic<bool>& load_over);
  // A new load (another checkpoint) begins: the chunks to check are its own.
  void BeginLoad();
  bool Loading();
  // The load is over: the places no adopted chunk holds are given back (as before the first checkpoint).
  // Places of views dropped before this (a checkpoint that did not load) are not given back one by one.
  // Another checkpoint kept may refer to those places (the one before the loaded one, one the start
  // skipped), so they wait for two checkpoints like any place given back; but when the loaded checkpoint
  // is the newest and nothing was skipped (or there was none), the first checkpoint committed replaces
  // the only other one, and they are used again after it (a server restarted after each checkpoint or two
  // would otherwise never use them again).
  enum class OtherCheckpoints { kMayReferToThem, kReplacedByTheNext };
  void FinishLoad(OtherCheckpoints others = OtherCheckpoints::kMayReferToThem);
  // From now on Release gives nothing back one chunk at a time: the whole file is about to go (a
  // process's views freed at its end would otherwise punch a hole in it for each of thousands of chunks).
  void Closing() { closing_.store(true, std::memory_order_relaxed); }
  bool kept() const { return kept_; }
  // Bytes mapped now.
  uint64_t bytes() const { return bytes_.load(std::memory_order_relaxed); }
  // The chunks' file grows by whole huge pages of zeros, each written at once, before chunks are written
  // into them: the page cache then holds the file in folios of this size, which a mapping at an offset
  // aligned like the file's maps whole (one entry where 512 page entries were; a start maps the whole
  // file, and on a virtual machine with shadow page tables the first read of each 4 KiB page cost about
  // 1.5 us). Written a chunk at a time, the file was cached in folios no larger than each write.
  static constexpr size_t kHugePageBytes = size_t{2} << 20;

 private:
  ColdChunkFile(int chunks_fd, int regions_fd, char* window, const char* zeros, bool kept)
      : chunks_fd_(chunks_fd), regions_fd_(regions_fd), window_(window), zeros_(zeros), kept_(kept) {}
  static Result<std::unique_ptr<ColdChunkFile>> Make(const std::string& directory, bool kept);
  // Address space reserved for the file's chunks, each mapped at its offset: 64 GiB of them at most
  // (some 1.5 billion events' rows and ids); more stay on the heap.
  static constexpr size_t kWindowBytes = size_t{64} << 30;
  // Writes zeros from zeroed_end_ up to `end` rounded up to a huge page, a huge page a write (under
  // mutex_).
  Status ZeroFillTo(uint64_t end);

  // Where places are: offsets below kWindowBytes are in the chunks' file (mapped in the window), the
  // others in the regions' file, from kWindowBytes on (mapped where the region is).
  struct Location {
    int fd;
    off_t offset;
  };
  Location At(uint64_t offset) const;
  struct Places {
    uint64_t end = 0;                                         // the first offset never used
    absl::flat_hash_map<size_t, std::vector<uint64_t>> free;  // by size: offsets given back
  };
  Places& PlacesOf(uint64_t offset);
  // Takes a free place of `bytes` among `places` (under mutex_), and returns its offset.
  uint64_t TakePlace(size_t bytes, Places& places);
  // Writes `bytes` from `data` to a place it takes, and returns its offset (on an error the place is free).
  Result<uint64_t> Write(const void* data, size_t bytes, Places& places);
  // Punches the place out and lists it as free (under mutex_).
  void FreePlace(uint64_t offset, size_t bytes);
  // Frees the places of every batch that two committed checkpoints no longer need (under mutex_).
  void FreeBatchesDone();

  const int chunks_fd_, regions_fd_;
  char* const window_;       // aligned to a huge page
  const char* const zeros_;  // kHugePageBytes of address space that reads as zeros (no memory)
  const bool kept_;          // a checkpoint may refer to the file (Open)
  std::mutex mutex_;         // guards the places below
  Places window_places_{0, {}};
  Places region_places_{kWindowBytes, {}};
  uint64_t zeroed_end_ = 0;  // in the chunks' file: from here on nothing was written (a huge page's start)
  absl::flat_hash_map<uint64_t, uint32_t> crc_of_;  // by offset: each chunk's checksum (a kept file's)
  // Places given back, by the number of the first checkpoint begun after: freed once `commits` (two, or
  // one for a start's gaps that no other checkpoint kept refers to) checkpoints numbered that or later are
  // committed.
  struct Batch {
    uint64_t checkpoint = 0;
    std::vector<std::pair<uint64_t, size_t>> places;  // (offset, bytes)
    int commits = 2;
  };
  std::vector<Batch> batches_;
  uint64_t next_checkpoint_ = 1;
  uint64_t committed_[2] = {0, 0};  // the two newest checkpoints committed, newest first
  // Adopts the place [offset, offset + bytes) (under mutex_); false if it is not free to adopt.
  bool AdoptPlace(uint64_t offset, size_t bytes, uint32_t crc, const char* address);

  // While loading: the places adopted (offset to end), and the chunks to check, in the order adopted.
  struct ToVerify {
    const char* address;
    uint64_t bytes;
    uint32_t crc;
  };
  bool loading_ = false;
  absl::btree_map<uint64_t, uint64_t> adopted_;
  std::vector<ToVerify> to_verify_;
  size_t verify_next_ = 0;  // in to_verify_: the next chunk a checker takes
  std::atomic<bool> damaged_{false};
  std::atomic<uint64_t> bytes_{0};
  std::atomic<bool> closing_{false};
};

// What a ChunkedVector frees a chunk with: delete[] for a chunk on the heap, ColdChunkFile::Release for
// a chunk moved to the file, nothing for a chunk inside a mapping it shares (a checkpoint's rows, adopted
// where the file was mapped: the mapping goes with its last chunk).
// The file lives as long as its last chunk, whichever of the views' owners goes last.
template <typename T>
struct ChunkFree {
  std::shared_ptr<ColdChunkFile> cold;
  size_t bytes = 0;
  std::shared_ptr<const void> mapping;
  void operator()(T* chunk) const {
    if (cold) {
      cold->Release(chunk, bytes);
    } else if (!mapping) {
      delete[] chunk;
    }
  }
};

// A region of address space for an arena that grows by appending (the event-id index's texts of one
// hour): its pages cost memory only once written to, and the part written so far can be moved to the
// cold file without moving the bytes' addresses (pointers into it stay valid).
class ArenaRegion {
 public:
  static constexpr size_t kBytes = size_t{1} << 20;
  // While the region is still being written to, its bytes move once this many more were written since
  // the last move (each move writes all of them to the file again).
  static constexpr size_t kBusyMoveBytes = kBytes / 4;

  ArenaRegion();
  ~ArenaRegion();
  ArenaRegion(ArenaRegion&& other) noexcept;
  ArenaRegion& operator=(ArenaRegion&& other) noexcept;
  ArenaRegion(const ArenaRegion&) = delete;
  ArenaRegion& operator=(const ArenaRegion&) = delete;

  char* data() const { return data_; }
  // Moves the first `used` bytes (whole pages) to `cold` if some were written since the last move, and
  // the region was not written to since the caller's last call (`quiet`), or many were, or it is full. A
  // later write to a page that moved (the last one, partly used) copies it back into anonymous memory,
  // until the next move. Returns the bytes moved.
  Result<size_t> MoveToCold(size_t used, bool quiet, const std::shared_ptr<ColdChunkFile>& cold);
  // Where a checkpoint finds the region's first bytes in a kept cold file (bytes: whole pages, as they
  // are in memory, since nothing is written before the end of what was used at the last move), if they are
  // in one.
  struct ColdPlace {
    uint64_t offset = 0;
    uint64_t bytes = 0;
    uint32_t crc = 0;
  };
  std::optional<ColdPlace> cold_place() const;
  // Loading a checkpoint, into a new region that will hold `used` bytes: its first `place.bytes` from the
  // cold file (AdoptAt); the caller copies the others in.
  Status Adopt(const ColdPlace& place, size_t used, const std::shared_ptr<ColdChunkFile>& cold);

 private:
  void Free();
  // The whole pages used at the last move: in the cold file as they are in memory.
  size_t UnchangedBytes() const {
    return moved_used_ / ColdChunkFile::kPageBytes * ColdChunkFile::kPageBytes;
  }

  char* data_ = nullptr;
  uint64_t cold_offset_ = 0;  // [data_, data_ + cold_end_) is mapped from the cold file from this offset
  size_t cold_end_ = 0;
  size_t moved_used_ = 0;  // bytes used at the last move (or load): moved again once more are
  uint32_t cold_crc_ = 0;  // of the whole pages of moved_used_ (appends come after them)
  std::shared_ptr<ColdChunkFile> cold_;
};

}  // namespace tally

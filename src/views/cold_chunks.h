// Chunks of the views that are no longer written to (event rows and event-id columns far behind the
// newest ones, the row lists of sealed hours), moved from the heap into one file in the data directory
// and read through a private memory map. The kernel keeps them in the page cache while memory allows
// and reads them back from the disk after it had to drop them, so the process's own (anonymous) memory
// holds only the recent part of the views, and a machine with less memory than the data still serves it
// (bench/memory_limit.sh).
// A later write to a moved chunk (a correction of an old event) still works: the kernel copies that one
// page back into anonymous memory.
//
// The file holds nothing a restart needs (the checkpoints and the log do): it is unlinked as soon as it
// is made, so the kernel frees it when the process ends, however it ends.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include <absl/container/flat_hash_map.h>

#include "tally/status.h"

namespace tally {

class ColdChunkFile {
 public:
  static constexpr size_t kPageBytes = 4096;

  // An unlinked file in `directory`.
  static Result<std::unique_ptr<ColdChunkFile>> Create(const std::string& directory);
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
  // While a forked process reads its copy of the mappings (a checkpoint's child), the places given back
  // must keep their bytes: a private mapping shows what the file holds now for every page neither process
  // wrote, so a place punched out or reused would change the child's view of the views. Between Hold and
  // the matching EndHold, places given back are set aside, and given back at the end.
  void Hold();
  void EndHold();
  // From now on Release gives nothing back one chunk at a time: the whole file is about to go (a
  // process's views freed at its end would otherwise punch a hole in it for each of thousands of chunks).
  void Closing() { closing_.store(true, std::memory_order_relaxed); }
  // Bytes mapped now.
  uint64_t bytes() const { return bytes_.load(std::memory_order_relaxed); }

 private:
  ColdChunkFile(int fd, char* window) : fd_(fd), window_(window) {}
  // Address space reserved for the file's chunks, each mapped at its offset: 64 GiB of them at most
  // (some 1.5 billion events' rows and ids); more stay on the heap.
  static constexpr size_t kWindowBytes = size_t{64} << 30;

  // Where places of the file are: its first kWindowBytes for chunks (mapped in the window), the rest for
  // arena regions (mapped where the region is, their sizes vary; the file is sparse).
  struct Places {
    uint64_t end = 0;                                         // the first offset never used
    absl::flat_hash_map<size_t, std::vector<uint64_t>> free;  // by size: offsets given back
  };
  Places& PlacesOf(uint64_t offset);
  // Writes `bytes` from `data` to a free place among `places`, and returns its offset; the place is taken
  // (TakePlace) once the bytes are mapped.
  Result<uint64_t> Write(const void* data, size_t bytes, Places& places);
  void TakePlace(uint64_t offset, size_t bytes);
  // Punches the place out and lists it as free (under mutex_).
  void FreePlace(uint64_t offset, size_t bytes);

  const int fd_;
  char* const window_;
  std::mutex mutex_;  // guards the places below
  Places window_places_{0, {}};
  Places region_places_{kWindowBytes, {}};
  int holds_ = 0;
  std::vector<std::pair<uint64_t, size_t>> held_back_;  // (offset, bytes) given back during a hold
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

 private:
  void Free();

  char* data_ = nullptr;
  uint64_t cold_offset_ = 0;  // [data_, data_ + cold_end_) is mapped from the cold file from this offset
  size_t cold_end_ = 0;
  std::shared_ptr<ColdChunkFile> cold_;
};

}  // namespace tally

// File system steps that durability depends on, shared by the log and the checkpoints.
#pragma once

#include <cstddef>
#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>

#include "tally/status.h"

namespace tally {

// Writes all of `bytes` to `fd` (retrying short writes and EINTR); `path` names the file in errors.
Status WriteAll(int fd, std::string_view bytes, const std::string& path);
// Creates (or replaces) `path` with `parts` written one after another, then fsyncs it.
Status WriteFileDurably(const std::string& path, std::initializer_list<std::string_view> parts);
// fsync of a directory, so that files created or renamed in it survive a crash.
Status SyncDirectory(const std::string& directory);

// A whole file mapped, unmapped when the last owner is gone. Its bytes are the page cache's: reading them
// copies nothing onto the heap. tally never changes a file it maps (they are written aside and renamed
// into place).
class MappedFile {
 public:
  enum class Reading {
    kAsNeeded,  // pages come as they are read (an index read in place)
    kInOrder,   // read once from start to end: the kernel reads ahead
    kWhole,     // every page mapped at once, now (a file about to be read whole)
  };
  enum class Writes {
    kRefused,        // read-only
    kCopiedOnWrite,  // the memory takes writes: each written page is copied into the process's memory, the
                     // file never changes (the views adopt a checkpoint's rows and keep changing them)
  };
  static Result<std::shared_ptr<const MappedFile>> Open(const std::string& path,
                                                        Reading reading = Reading::kAsNeeded,
                                                        Writes writes = Writes::kRefused);
  MappedFile(const void* data, size_t size, Writes writes = Writes::kRefused)
      : data_(data), size_(size), writes_(writes) {}
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  std::string_view bytes() const { return {static_cast<const char*>(data_), size_}; }
  // The mapping's memory at `inside` (a pointer into bytes()) for writing; null unless the file was
  // opened Writes::kCopiedOnWrite.
  char* WritableAt(const char* inside) const {
    return writes_ == Writes::kCopiedOnWrite ? const_cast<char*>(inside) : nullptr;
  }

 private:
  const void* data_;
  size_t size_;
  Writes writes_;
};

}  // namespace tally

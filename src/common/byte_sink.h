// Bytes written a buffer at a time: a writer fills the sink's buffer and the sink hands each full buffer
// on (to a file, to a string). Saving views of many gigabytes then needs neither a copy of them in memory
// nor a library call per value: a value is a copy into the buffer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>

#include "tally/status.h"

namespace tally {

class ByteSink {
 public:
  virtual ~ByteSink() = default;
  ByteSink(const ByteSink&) = delete;
  ByteSink& operator=(const ByteSink&) = delete;

  void Append(const void* data, size_t size) {
    if (size <= capacity_ - used_) {
      std::memcpy(buffer_.get() + used_, data, size);
      used_ += size;
      return;
    }
    AppendLarge(data, size);
  }
  template <typename T>
  void Value(T value) {
    static_assert(std::is_trivially_copyable_v<T>);
    Append(&value, sizeof(value));
  }
  // Room for `size` bytes in a row, to be written in place and then committed (Commit(size)); nullptr when
  // the buffer cannot hold that many (the caller appends them from memory of its own).
  char* Reserve(size_t size);
  void Commit(size_t size) { used_ += size; }
  // Bytes appended so far.
  uint64_t size() const { return drained_ + used_; }
  // Hands on what is buffered. Returns the first error of any hand-on: after one, nothing more is tried.
  Status Flush();

 protected:
  explicit ByteSink(size_t capacity) : buffer_(new char[capacity]), capacity_(capacity) {}
  // Takes the bytes of a full buffer (or, at a flush, of the part used).
  virtual Status Drain(std::string_view bytes) = 0;

 private:
  void AppendLarge(const void* data, size_t size);
  // Hands the buffered bytes on and empties the buffer.
  void DrainBuffer();

  std::unique_ptr<char[]> buffer_;
  size_t capacity_;
  size_t used_ = 0;
  uint64_t drained_ = 0;
  Status status_;
};

// Appends to a string (tests, tools: a checkpoint is written to its file by a sink of its own).
class StringSink final : public ByteSink {
 public:
  explicit StringSink(std::string* out) : ByteSink(size_t{64} << 10), out_(out) {}
  ~StringSink() override { (void)Flush(); }  // appending to a string cannot fail

 private:
  Status Drain(std::string_view bytes) override {
    out_->append(bytes);
    return Status::Ok();
  }
  std::string* out_;
};

}  // namespace tally

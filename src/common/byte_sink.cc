#include "common/byte_sink.h"

#include <algorithm>

namespace tally {

char* ByteSink::Reserve(size_t size) {
  if (size > capacity_) return nullptr;
  if (size > capacity_ - used_) DrainBuffer();
  return buffer_.get() + used_;
}

void ByteSink::AppendLarge(const void* data, size_t size) {
  const auto* bytes = static_cast<const char*>(data);
  while (size > 0) {
    if (used_ == capacity_) DrainBuffer();
    const size_t part = std::min(size, capacity_ - used_);
    std::memcpy(buffer_.get() + used_, bytes, part);
    used_ += part;
    bytes += part;
    size -= part;
  }
}

Status ByteSink::Flush() {
  DrainBuffer();
  return status_;
}

void ByteSink::DrainBuffer() {
  // After an error the buffer is only reused: its bytes go nowhere, and the error is what Flush returns.
  if (status_.ok() && used_ > 0) status_ = Drain({buffer_.get(), used_});
  drained_ += used_;
  used_ = 0;
}

}  // namespace tally

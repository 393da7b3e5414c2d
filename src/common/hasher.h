// A streaming XXH3-64 hash of values and texts, for digests that must not depend on how the hashed data is
// held in memory.
#pragma once

#include <cstdint>
#include <cstring>
#include <string_view>
#include <type_traits>

#include <xxhash.h>

namespace tally {

class Hasher {
 public:
  Hasher() : state_(XXH3_createState()) { XXH3_64bits_reset(state_); }
  ~Hasher() { XXH3_freeState(state_); }
  Hasher(const Hasher&) = delete;
  Hasher& operator=(const Hasher&) = delete;
  template <typename T>
  void Value(const T& value) {
    static_assert(std::is_trivially_copyable_v<T> && sizeof(T) <= kBufferBytes);
    if (used_ + sizeof(T) > kBufferBytes) Flush();
    std::memcpy(buffer_ + used_, &value, sizeof(T));
    used_ += sizeof(T);
  }
  void Text(std::string_view text) {
    Value(text.size());
    if (used_ + text.size() > kBufferBytes) Flush();
    if (text.size() > kBufferBytes) {
      XXH3_64bits_update(state_, text.data(), text.size());
      return;
    }
    std::memcpy(buffer_ + used_, text.data(), text.size());
    used_ += text.size();
  }
  uint64_t Finish() {
    Flush();
    return XXH3_64bits_digest(state_);
  }

 private:
  // Values go to XXH3 a buffer at a time: the same hash (XXH3's stream does not depend on how its input is
  // split), without its per-call cost, which for a few bytes at a time was most of a restart's checking
  // of the sealed hour files (two calls a row).
  static constexpr size_t kBufferBytes = 1024;
  void Flush() {
    XXH3_64bits_update(state_, buffer_, used_);
    used_ = 0;
  }

  XXH3_state_t* state_;
  size_t used_ = 0;
  unsigned char buffer_[kBufferBytes];
};

}  // namespace tally

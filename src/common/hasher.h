// A streaming XXH3-64 hash of values and texts, for digests that must not depend on how the hashed data is
// held in memory.
#pragma once

#include <cstdint>
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
    static_assert(std::is_trivially_copyable_v<T>);
    XXH3_64bits_update(state_, &value, sizeof(value));
  }
  void Text(std::string_view text) {
    Value(text.size());
    XXH3_64bits_update(state_, text.data(), text.size());
  }
  uint64_t Finish() { return XXH3_64bits_digest(state_); }

 private:
  XXH3_state_t* state_;
};

}  // namespace tally

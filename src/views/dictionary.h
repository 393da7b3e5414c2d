// Maps each distinct string (user id, event type) to a dense integer in the order first seen in the log,
// so user sets can be roaring bitmaps and every server that applies the same log assigns the same numbers.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <absl/container/flat_hash_map.h>
#include <absl/strings/string_view.h>

namespace tally {

// Debian's Abseil is built with its own string_view type; heterogeneous lookups need that one.
inline absl::string_view AbslView(std::string_view text) { return {text.data(), text.size()}; }

class Dictionary {
 public:
  // The index of `key`, adding it if new.
  uint32_t Intern(std::string_view key);
  std::optional<uint32_t> Find(std::string_view key) const;
  // Starts loading where `key` would be, so that an Intern shortly after does not wait for memory.
  void Prefetch(std::string_view key) const { index_of_.prefetch(AbslView(key)); }
  const std::string& KeyOf(uint32_t index) const { return keys_[index]; }
  // Room for `keys` keys without growing (loading a checkpoint).
  void Reserve(size_t keys) {
    index_of_.reserve(keys);
    keys_.reserve(keys);
  }
  size_t size() const { return keys_.size(); }

 private:
  absl::flat_hash_map<std::string, uint32_t> index_of_;
  std::vector<std::string> keys_;
};

}  // namespace tally

// Maps each distinct string (user id, event type) to a dense integer in the order first seen in the log,
// so user sets can be roaring bitmaps and every server that applies the same log assigns the same numbers.
//
// The keys are kept once, back to back in blocks that never move, each entry its number then the key, and
// the hash set holds only where each entry is (8 bytes a slot), hashing and comparing through it. A set of
// the strings themselves (40 bytes a slot) beside a vector of them (32 bytes a key) was about 100 bytes a
// key: with a million users, most of a settled server's heap, and most of what a restart spent rebuilding
// it. (A slot that held the key's number instead of its entry's address found the entry through a vector
// of addresses: two cache misses a lookup where one will do, a tenth of the batch path's CPU.)
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>
#include <utility>
#include <vector>

#include <absl/container/flat_hash_set.h>
#include <absl/strings/string_view.h>

namespace tally {

// Debian's Abseil is built with its own string_view type; heterogeneous lookups need that one.
inline absl::string_view AbslView(std::string_view text) { return {text.data(), text.size()}; }

class Dictionary {
 public:
  Dictionary() = default;
  // A dictionary moved from is empty, and its next key goes to a block of its own.
  Dictionary(Dictionary&& other) noexcept { *this = std::move(other); }
  Dictionary& operator=(Dictionary&& other) noexcept {
    if (this == &other) return *this;
    blocks_ = std::move(other.blocks_);
    next_ = std::exchange(other.next_, nullptr);
    free_in_last_ = std::exchange(other.free_in_last_, 0);
    places_ = std::move(other.places_);
    index_of_ = std::move(other.index_of_);
    other.blocks_.clear();
    other.places_.clear();
    other.index_of_.clear();
    return *this;
  }
  Dictionary(const Dictionary&) = delete;  // the set points into this dictionary's blocks
  Dictionary& operator=(const Dictionary&) = delete;

  // A key and its hash, for a batch's lookups: hashed once for the prefetch and the lookup.
  struct Hashed {
    absl::string_view key;
    size_t hash;
  };
  static Hashed HashOf(std::string_view key) { return {AbslView(key), Hash{}(AbslView(key))}; }

  // The index of `key`, adding it if new.
  uint32_t Intern(std::string_view key) { return Intern(HashOf(key)); }
  uint32_t Intern(const Hashed& key);
  std::optional<uint32_t> Find(std::string_view key) const;
  // Starts loading where `key` would be, so that an Intern shortly after does not wait for memory.
  void Prefetch(std::string_view key) const { index_of_.prefetch(AbslView(key)); }
  void Prefetch(const Hashed& key) const { index_of_.prefetch(key); }
  // Valid as long as the dictionary is (the keys never move).
  std::string_view KeyOf(uint32_t index) const { return KeyAt(places_[index]); }
  // Room for `keys` keys without growing (loading a checkpoint).
  void Reserve(size_t keys) {
    index_of_.reserve(keys);
    places_.reserve(keys);
  }
  size_t size() const { return places_.size(); }

 private:
  // An entry: the key's number (4 bytes), its length (a LEB128 varint), its bytes.
  static std::string_view KeyAt(const char* entry);
  static uint32_t NumberAt(const char* entry);
  // Room for one more entry of a `key_bytes` key (a block, a place), so that Append does not allocate.
  void MakeRoomFor(size_t key_bytes);
  const char* Append(std::string_view key, uint32_t number);

  struct Hash {
    using is_transparent = void;
    size_t operator()(absl::string_view key) const { return absl::Hash<absl::string_view>{}(key); }
    size_t operator()(const Hashed& key) const { return key.hash; }
    size_t operator()(const char* entry) const { return (*this)(AbslView(KeyAt(entry))); }
  };
  struct Equal {
    using is_transparent = void;
    bool operator()(const char* a, const char* b) const { return a == b; }
    bool operator()(const char* entry, absl::string_view key) const { return AbslView(KeyAt(entry)) == key; }
    bool operator()(const char* entry, const Hashed& key) const { return AbslView(KeyAt(entry)) == key.key; }
  };

  // Entries in blocks of kBlockBytes (a longer key has a block of its own).
  static constexpr size_t kBlockBytes = size_t{64} << 10;
  std::vector<std::unique_ptr<char[]>> blocks_;
  char* next_ = nullptr;             // where the next entry goes, in the last block
  size_t free_in_last_ = 0;          // bytes left there
  std::vector<const char*> places_;  // by number: where each key's entry starts
  absl::flat_hash_set<const char*, Hash, Equal> index_of_;
};

}  // namespace tally

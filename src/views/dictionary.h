// Maps each distinct string (user id, event type) to a dense integer in the order first seen in the log,
// so user sets can be roaring bitmaps and every server that applies the same log assigns the same numbers.
//
// The keys are kept once, back to back in blocks that never move, and the hash set holds only their
// numbers (4 bytes a slot), hashing and comparing through the blocks. A set of the strings themselves
// (40 bytes a slot) beside a vector of them (32 bytes a key) was about 100 bytes a key: with a million
// users, most of a settled server's heap, and most of what a restart spent rebuilding it.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>
#include <vector>

#include <absl/container/flat_hash_set.h>
#include <absl/strings/string_view.h>

namespace tally {

// Debian's Abseil is built with its own string_view type; heterogeneous lookups need that one.
inline absl::string_view AbslView(std::string_view text) { return {text.data(), text.size()}; }

class Dictionary {
 public:
  Dictionary();
  Dictionary(Dictionary&&) noexcept = default;
  Dictionary& operator=(Dictionary&&) noexcept = default;
  Dictionary(const Dictionary&) = delete;  // the set's hasher points to this dictionary's keys
  Dictionary& operator=(const Dictionary&) = delete;

  // The index of `key`, adding it if new.
  uint32_t Intern(std::string_view key);
  std::optional<uint32_t> Find(std::string_view key) const;
  // Starts loading where `key` would be, so that an Intern shortly after does not wait for memory.
  void Prefetch(std::string_view key) const { index_of_.prefetch(AbslView(key)); }
  // Valid as long as the dictionary is (the keys never move).
  std::string_view KeyOf(uint32_t index) const { return keys_->At(index); }
  // Room for `keys` keys without growing (loading a checkpoint).
  void Reserve(size_t keys) {
    index_of_.reserve(keys);
    keys_->Reserve(keys);
  }
  size_t size() const { return keys_->size(); }

 private:
  // Every key, each as a length (a LEB128 varint) and its bytes, in blocks of kBlockBytes (a longer key
  // has a block of its own).
  class Keys {
   public:
    std::string_view At(uint32_t index) const;
    // Room for one more key of `key_bytes` (a block, a place), so that Append does not allocate.
    void MakeRoomFor(size_t key_bytes);
    void Append(std::string_view key);
    void Reserve(size_t keys) { places_.reserve(keys); }
    size_t size() const { return places_.size(); }

   private:
    static constexpr size_t kBlockBytes = size_t{64} << 10;
    std::vector<std::unique_ptr<char[]>> blocks_;
    char* next_ = nullptr;             // where the next key goes, in the last block
    size_t free_in_last_ = 0;          // bytes left there
    std::vector<const char*> places_;  // where each key's length starts
  };
  struct Hash {
    using is_transparent = void;
    const Keys* keys;
    size_t operator()(absl::string_view key) const { return absl::Hash<absl::string_view>{}(key); }
    size_t operator()(uint32_t index) const { return (*this)(AbslView(keys->At(index))); }
  };
  struct Equal {
    using is_transparent = void;
    const Keys* keys;
    bool operator()(uint32_t a, uint32_t b) const { return a == b; }
    bool operator()(uint32_t index, absl::string_view key) const { return AbslView(keys->At(index)) == key; }
    bool operator()(absl::string_view key, uint32_t index) const { return AbslView(keys->At(index)) == key; }
  };

  std::unique_ptr<Keys> keys_;  // on the heap: a moved dictionary's set still points to them
  absl::flat_hash_set<uint32_t, Hash, Equal> index_of_;
};

}  // namespace tally

#include "views/dictionary.h"

#include <algorithm>
#include <cstring>

namespace tally {

namespace {

constexpr size_t kMaxLengthBytes = 10;  // a LEB128 varint of 64 bits

}  // namespace

Dictionary::Dictionary()
    : keys_(std::make_unique<Keys>()), index_of_(0, Hash{keys_.get()}, Equal{keys_.get()}) {}

uint32_t Dictionary::Intern(std::string_view key) {
  const auto index = static_cast<uint32_t>(keys_->size());
  keys_->MakeRoomFor(key.size());  // so that nothing throws between the set's making room and its new slot
  auto it = index_of_.lazy_emplace(AbslView(key), [&](const auto& construct) {
    keys_->Append(key);  // first: the set hashes its numbers through the keys when it grows
    construct(index);
  });
  return *it;
}

std::optional<uint32_t> Dictionary::Find(std::string_view key) const {
  auto it = index_of_.find(AbslView(key));
  if (it == index_of_.end()) return std::nullopt;
  return *it;
}

std::string_view Dictionary::Keys::At(uint32_t index) const {
  const auto* at = reinterpret_cast<const unsigned char*>(places_[index]);
  uint64_t length = 0;
  for (int shift = 0;; shift += 7, ++at) {
    length |= uint64_t{*at & 0x7fU} << shift;
    if ((*at & 0x80U) == 0) break;
  }
  return {reinterpret_cast<const char*>(at + 1), static_cast<size_t>(length)};
}

void Dictionary::Keys::MakeRoomFor(size_t key_bytes) {
  const size_t bytes = key_bytes + kMaxLengthBytes;
  if (bytes > free_in_last_) {
    const size_t block = std::max(bytes, kBlockBytes);
    blocks_.push_back(std::make_unique_for_overwrite<char[]>(block));
    next_ = blocks_.back().get();
    free_in_last_ = block;
  }
  if (places_.size() == places_.capacity()) places_.reserve(std::max<size_t>(16, 2 * places_.size()));
}

void Dictionary::Keys::Append(std::string_view key) {
  places_.push_back(next_);
  auto* at = reinterpret_cast<unsigned char*>(next_);
  uint64_t length = key.size();
  for (; length >= 0x80U; length >>= 7) *at++ = static_cast<unsigned char>(length | 0x80U);
  *at++ = static_cast<unsigned char>(length);
  std::memcpy(at, key.data(), key.size());
  const auto used = static_cast<size_t>(reinterpret_cast<char*>(at) - next_) + key.size();
  next_ += used;
  free_in_last_ -= used;
}

}  // namespace tally

#include "views/dictionary.h"

#include <algorithm>
#include <cstring>

namespace tally {

namespace {

constexpr size_t kNumberBytes = sizeof(uint32_t);
constexpr size_t kMaxLengthBytes = 10;  // a LEB128 varint of 64 bits

}  // namespace

uint32_t Dictionary::Intern(const Hashed& key) {
  const auto number = static_cast<uint32_t>(places_.size());
  MakeRoomFor(key.key.size());  // so that nothing throws between the set's making room and its new slot
  auto it = index_of_.lazy_emplace(key, [&](const auto& construct) {
    construct(Append({key.key.data(), key.key.size()}, number));
  });
  return NumberAt(*it);
}

std::optional<uint32_t> Dictionary::Find(std::string_view key) const {
  auto it = index_of_.find(AbslView(key));
  if (it == index_of_.end()) return std::nullopt;
  return NumberAt(*it);
}

std::string_view Dictionary::KeyAt(const char* entry) {
  const auto* at = reinterpret_cast<const unsigned char*>(entry + kNumberBytes);
  uint64_t length = 0;
  for (int shift = 0;; shift += 7, ++at) {
    length |= uint64_t{*at & 0x7fU} << shift;
    if ((*at & 0x80U) == 0) break;
  }
  return {reinterpret_cast<const char*>(at + 1), static_cast<size_t>(length)};
}

uint32_t Dictionary::NumberAt(const char* entry) {
  uint32_t number = 0;
  std::memcpy(&number, entry, kNumberBytes);
  return number;
}

void Dictionary::MakeRoomFor(size_t key_bytes) {
  const size_t bytes = kNumberBytes + kMaxLengthBytes + key_bytes;
  if (bytes > free_in_last_) {
    const size_t block = std::max(bytes, kBlockBytes);
    blocks_.push_back(std::make_unique_for_overwrite<char[]>(block));
    next_ = blocks_.back().get();
    free_in_last_ = block;
  }
  if (places_.size() == places_.capacity()) places_.reserve(std::max<size_t>(16, 2 * places_.size()));
}

const char* Dictionary::Append(std::string_view key, uint32_t number) {
  const char* entry = next_;
  places_.push_back(entry);
  std::memcpy(next_, &number, kNumberBytes);
  auto* at = reinterpret_cast<unsigned char*>(next_ + kNumberBytes);
  uint64_t length = key.size();
  for (; length >= 0x80U; length >>= 7) *at++ = static_cast<unsigned char>(length | 0x80U);
  *at++ = static_cast<unsigned char>(length);
  std::memcpy(at, key.data(), key.size());
  const auto used = static_cast<size_t>(reinterpret_cast<char*>(at) - next_) + key.size();
  next_ += used;
  free_in_last_ -= used;
  return entry;
}

}  // namespace tally

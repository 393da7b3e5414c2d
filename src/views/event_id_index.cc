#include "views/event_id_index.h"

#include <cstring>

#include <absl/hash/hash.h>
#include <absl/strings/string_view.h>

namespace tally {

EventIdIndex::EventIdIndex() : ids_(0, Hash{this}, Equal{this}) {}

namespace {

constexpr std::string_view kHexDigits = "0123456789abcdef";
constexpr size_t kUuidTextBytes = 36;
constexpr bool IsUuidDash(size_t at) { return at == 8 || at == 13 || at == 18 || at == 23; }

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;  // uppercase too: only the canonical lowercase form is packed, so it unpacks to the same text
}

}  // namespace

EventIdIndex::Stored EventIdIndex::StoredForm(std::string_view text, char (&buffer)[16]) {
  if (text.size() != kUuidTextBytes) return {text, false};
  size_t out = 0;
  for (size_t at = 0; at < kUuidTextBytes; at += 2) {
    if (IsUuidDash(at)) {
      if (text[at] != '-') return {text, false};
      ++at;
    }
    const int high = HexValue(text[at]), low = HexValue(text[at + 1]);
    if (high < 0 || low < 0) return {text, false};
    buffer[out++] = static_cast<char>(high << 4 | low);
  }
  return {std::string_view(buffer, sizeof(buffer)), true};
}

EventIdIndex::Stored EventIdIndex::StoredOf(uint32_t id) const {
  const uint64_t ref = text_ref_[id];
  const uint64_t offset = ref >> 8;
  const auto length = static_cast<size_t>(ref & 0xFF);
  const char* bytes = blocks_[offset / kBlockBytes].get() + offset % kBlockBytes;
  return length == 0 ? Stored{std::string_view(bytes, 16), true}
                     : Stored{std::string_view(bytes, length), false};
}

size_t EventIdIndex::Hash::operator()(const Stored& stored) const {
  return absl::HashOf(absl::string_view(stored.bytes.data(), stored.bytes.size()), stored.packed);
}

std::string EventIdIndex::Text(uint32_t id) const {
  const Stored stored = StoredOf(id);
  if (!stored.packed) return std::string(stored.bytes);
  std::string text;
  text.reserve(kUuidTextBytes);
  for (size_t i = 0; i < 16; ++i) {
    if (IsUuidDash(text.size())) text.push_back('-');
    const auto byte = static_cast<uint8_t>(stored.bytes[i]);
    text.push_back(kHexDigits[byte >> 4]);
    text.push_back(kHexDigits[byte & 0xF]);
  }
  return text;
}

std::optional<uint32_t> EventIdIndex::Find(std::string_view id) const {
  char buffer[16];
  auto it = ids_.find(StoredForm(id, buffer));
  if (it == ids_.end()) return std::nullopt;
  return *it;
}

std::pair<uint32_t, bool> EventIdIndex::FindOrInsert(std::string_view id, RowRef row, uint32_t version) {
  char buffer[16];
  const Stored stored = StoredForm(id, buffer);
  bool inserted = false;
  // One hash and one probe: the id's number is made only when the probe found no slot holding the id.
  auto it = ids_.lazy_emplace(stored, [&](const auto& construct) {
    inserted = true;
    // Ids are at most 128 bytes (API.md), so one always fits in a block.
    if (block_used_ + stored.bytes.size() > kBlockBytes) {
      blocks_.push_back(std::make_unique<char[]>(kBlockBytes));
      block_used_ = 0;
    }
    const uint64_t offset = (blocks_.size() - 1) * kBlockBytes + block_used_;
    std::memcpy(blocks_.back().get() + block_used_, stored.bytes.data(), stored.bytes.size());
    block_used_ += stored.bytes.size();
    const auto number = static_cast<uint32_t>(current_row_.size());
    text_ref_.push_back((offset << 8) | (stored.packed ? 0 : stored.bytes.size()));
    current_row_.push_back(row.row);
    current_shard_.push_back(static_cast<uint8_t>(row.shard));
    current_version_.push_back(version);
    construct(number);
  });
  return {*it, inserted};
}

void EventIdIndex::AddRow(uint32_t id, RowRef row) {
  std::vector<RowRef>& rows = all_rows_[id];
  // The second row of an id: until now the first was its only (and current) row.
  if (rows.empty()) rows.push_back(current(id));
  rows.push_back(row);
}

void EventIdIndex::AddDuplicate(uint32_t id, RowRef row) { AddRow(id, row); }

void EventIdIndex::AddCorrection(uint32_t id, RowRef row, uint32_t version) {
  AddRow(id, row);
  current_row_[id] = row.row;
  current_shard_[id] = static_cast<uint8_t>(row.shard);
  current_version_[id] = version;
}

std::vector<RowRef> EventIdIndex::Rows(uint32_t id) const {
  if (auto it = all_rows_.find(id); it != all_rows_.end()) return it->second;
  return {current(id)};
}

}  // namespace tally

#include "views/event_id_index.h"

#include <cstring>

#include <absl/hash/hash.h>
#include <absl/strings/string_view.h>

namespace tally {

EventIdIndex::EventIdIndex() : ids_(0, Hash{this}, Equal{this}) {}

size_t EventIdIndex::Hash::operator()(uint32_t id) const { return (*this)(index->Text(id)); }

size_t EventIdIndex::Hash::operator()(std::string_view text) const {
  return absl::Hash<absl::string_view>{}(absl::string_view(text.data(), text.size()));
}

std::string_view EventIdIndex::Text(uint32_t id) const {
  const uint64_t ref = text_ref_[id];
  const uint64_t offset = ref >> 8;
  return {blocks_[offset / kBlockBytes].get() + offset % kBlockBytes, static_cast<size_t>(ref & 0xFF)};
}

std::optional<uint32_t> EventIdIndex::Find(std::string_view id) const {
  auto it = ids_.find(id);
  if (it == ids_.end()) return std::nullopt;
  return *it;
}

std::pair<uint32_t, bool> EventIdIndex::FindOrInsert(std::string_view id, uint32_t row) {
  if (auto found = Find(id)) return {*found, false};
  // Ids are at most 128 bytes (API.md), so one always fits in a block.
  if (block_used_ + id.size() > kBlockBytes) {
    blocks_.push_back(std::make_unique<char[]>(kBlockBytes));
    block_used_ = 0;
  }
  const uint64_t offset = (blocks_.size() - 1) * kBlockBytes + block_used_;
  std::memcpy(blocks_.back().get() + block_used_, id.data(), id.size());
  block_used_ += id.size();
  const auto number = static_cast<uint32_t>(current_.size());
  text_ref_.push_back((offset << 8) | id.size());
  first_row_.push_back(row);
  current_.push_back(row);
  ids_.insert(number);
  return {number, true};
}

std::vector<uint32_t> EventIdIndex::Rows(uint32_t id) const {
  std::vector<uint32_t> rows{first_row_[id]};
  if (auto it = later_rows_.find(id); it != later_rows_.end())
    rows.insert(rows.end(), it->second.begin(), it->second.end());
  return rows;
}

}  // namespace tally

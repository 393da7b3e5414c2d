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

std::pair<uint32_t, bool> EventIdIndex::FindOrInsert(std::string_view id, RowRef row, uint32_t version) {
  bool inserted = false;
  // One hash and one probe: the id's number is made only when the probe found no slot holding the id.
  auto it = ids_.lazy_emplace(id, [&](const auto& construct) {
    inserted = true;
    // Ids are at most 128 bytes (API.md), so one always fits in a block.
    if (block_used_ + id.size() > kBlockBytes) {
      blocks_.push_back(std::make_unique<char[]>(kBlockBytes));
      block_used_ = 0;
    }
    const uint64_t offset = (blocks_.size() - 1) * kBlockBytes + block_used_;
    std::memcpy(blocks_.back().get() + block_used_, id.data(), id.size());
    block_used_ += id.size();
    const auto number = static_cast<uint32_t>(current_row_.size());
    text_ref_.push_back((offset << 8) | id.size());
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

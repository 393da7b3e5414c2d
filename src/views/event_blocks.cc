#include "views/event_blocks.h"

#include <algorithm>
#include <cstring>
#include <optional>
#include <utility>

#include "common/fixed_width.h"
#include "log/record.h"
#include "views/event_columns.h"

namespace tally {
namespace {

// Reading one event decompresses its block: 8 KiB take about 10 us, 32 KiB 36 us, for 4 % fewer bytes
// (BENCHMARKS.md). zstd finds most repeats between events (names, types, ids' prefixes) within 8 KiB.
constexpr size_t kBlockBytes = 8 << 10;
// A block holds whole records, so it may pass kBlockBytes by one record of at most the log's largest.
constexpr size_t kMaxLengthBytes = 5;
// What a block's columns (views/event_columns.h) may take: its records' bytes, the header's sizes, and for
// each record at most 40 bytes more than its length took (about 16: its kind, a longer received_at, a
// wider timestamp, its id's shared bytes).
constexpr uint64_t kMaxBlockBytes =
    kBlockBytes + kMaxLengthBytes + kMaxPayloadBytes + 13 * 10 + 40 * kBlockBytes;
constexpr int kLevel = 1;

Status Damaged(const std::string& what) { return Status::Corruption("sealed events: " + what); }

// A record's length (LEB128) at bytes[*at], moving *at past it; nullopt when cut or longer than a record.
std::optional<uint32_t> GetLength(std::string_view bytes, size_t* at) {
  uint64_t length = 0;
  for (size_t i = 0; i < kMaxLengthBytes && *at < bytes.size(); ++i) {
    const auto byte = static_cast<uint8_t>(bytes[(*at)++]);
    length |= uint64_t{byte & 0x7fu} << (7 * i);
    if (byte < 0x80) {
      if (length > kMaxPayloadBytes) return std::nullopt;
      return static_cast<uint32_t>(length);
    }
  }
  return std::nullopt;
}

}  // namespace

EventBlocksWriter::EventBlocksWriter() : context_(ZSTD_createCCtx()) {
  if (context_ == nullptr) {
    failed_ = Status::Internal("zstd: no compression context");
    return;
  }
  ZSTD_CCtx_setParameter(context_, ZSTD_c_compressionLevel, kLevel);
  ZSTD_CCtx_setParameter(context_, ZSTD_c_checksumFlag, 1);
}

EventBlocksWriter::~EventBlocksWriter() { ZSTD_freeCCtx(context_); }

void EventBlocksWriter::Add(std::string_view payload) {
  if (payload.size() > kMaxPayloadBytes && failed_.ok())
    failed_ = Status::TooLarge("events", "a record longer than the log's largest");
  if (!failed_.ok()) return;
  PutBytes(payload, &block_);
  ++records_;
  if (block_.size() >= kBlockBytes) failed_ = CompressBlock();
}

Status EventBlocksWriter::AddRecordsOf(const EventBlocks& previous) {
  if (records_ != 0 || !block_.empty()) return Status::Internal("sealed events: the writer is not empty");
  if (previous.block_count_ == 0) return Status::Ok();
  const EventBlocks::Block& last = previous.blocks_[previous.block_count_ - 1];
  compressed_.assign(previous.compressed_.data(), last.offset);
  table_.assign(reinterpret_cast<const char*>(previous.blocks_),
                size_t{previous.block_count_ - 1} * sizeof(EventBlocks::Block));
  records_ = block_first_ = last.first_record;
  EventBlocks::Reader reader;
  for (uint32_t record = last.first_record; record < previous.records_; ++record) {
    auto payload = previous.Payload(record, &reader);
    if (!payload.ok()) {
      (void)Finish();  // empty again
      return payload.status();
    }
    Add(*payload);
  }
  return Status::Ok();
}

Status EventBlocksWriter::CompressBlock() {
  if (block_.empty()) return Status::Ok();
  std::vector<std::string_view> payloads;
  payloads.reserve(records_ - block_first_);
  for (size_t at = 0; at < block_.size();) {
    const std::optional<uint32_t> length = GetLength(block_, &at);
    if (!length) return Status::Internal("sealed events: a record of the block being written is cut");
    payloads.push_back(std::string_view(block_).substr(at, *length));
    at += *length;
  }
  columns_.clear();
  columns_writer_.Write(payloads, &columns_);
  const size_t offset = compressed_.size();
  compressed_.resize(offset + ZSTD_compressBound(columns_.size()));
  const size_t size = ZSTD_compress2(context_, compressed_.data() + offset, compressed_.size() - offset,
                                     columns_.data(), columns_.size());
  if (ZSTD_isError(size)) return Status::Internal(std::string("zstd: ") + ZSTD_getErrorName(size));
  compressed_.resize(offset + size);
  if (compressed_.size() > UINT32_MAX) return Status::TooLarge("events", "an hour's blocks pass 4 GiB");
  PutFixed<uint32_t>(&table_, block_first_);
  PutFixed<uint32_t>(&table_, static_cast<uint32_t>(columns_.size()));
  PutFixed<uint32_t>(&table_, static_cast<uint32_t>(offset));
  PutFixed<uint32_t>(&table_, static_cast<uint32_t>(size));
  block_first_ = records_;
  block_.clear();
  return Status::Ok();
}

Result<std::string> EventBlocksWriter::Finish() {
  if (failed_.ok()) failed_ = CompressBlock();
  Status failed = std::exchange(failed_, Status::Ok());
  std::string section;
  if (failed.ok()) {
    section.reserve(EventBlocks::kHeaderBytes + table_.size() + compressed_.size() + 3);
    PutFixed<uint32_t>(&section, records_);
    PutFixed<uint32_t>(&section, static_cast<uint32_t>(table_.size() / sizeof(EventBlocks::Block)));
    section.append(table_);
    section.append(compressed_);
    section.resize((section.size() + 3) / 4 * 4, '\0');
  }
  records_ = block_first_ = 0;
  block_.clear();
  table_.clear();
  compressed_.clear();
  if (!failed.ok()) return failed;
  return section;
}

size_t EventBlocks::TableEnd(std::string_view section) {
  if (section.size() < kHeaderBytes) return section.size();
  const uint64_t end = kHeaderBytes + uint64_t{GetFixed<uint32_t>(section.data() + 4)} * sizeof(Block);
  return static_cast<size_t>(std::min<uint64_t>(end, section.size()));
}

Result<EventBlocks> EventBlocks::FromBytes(std::string_view bytes, std::shared_ptr<const void> owner) {
  if (bytes.size() < kHeaderBytes) return Damaged("shorter than its header");
  if (reinterpret_cast<uintptr_t>(bytes.data()) % alignof(Block) != 0) return Damaged("not aligned");
  EventBlocks blocks;
  blocks.records_ = GetFixed<uint32_t>(bytes.data());
  blocks.block_count_ = GetFixed<uint32_t>(bytes.data() + 4);
  const uint64_t table_bytes = uint64_t{blocks.block_count_} * sizeof(Block);
  if (table_bytes > bytes.size() - kHeaderBytes) return Damaged("its table is cut");
  if ((blocks.records_ == 0) != (blocks.block_count_ == 0)) return Damaged("records without blocks");
  blocks.blocks_ = reinterpret_cast<const Block*>(bytes.data() + kHeaderBytes);
  blocks.compressed_ = bytes.substr(kHeaderBytes + table_bytes);
  uint64_t end = 0;
  for (uint32_t i = 0; i < blocks.block_count_; ++i) {
    const Block& block = blocks.blocks_[i];
    const bool in_order =
        i == 0 ? block.first_record == 0 : block.first_record > blocks.blocks_[i - 1].first_record;
    if (!in_order || block.first_record >= blocks.records_)
      return Damaged("block " + std::to_string(i) + " starts at a record out of order");
    if (block.offset != end || block.compressed_bytes == 0 || block.bytes == 0 ||
        block.bytes > kMaxBlockBytes)
      return Damaged("block " + std::to_string(i) + " is not where or as large as the blocks before it say");
    // The writer closes a block once its records' payloads (each after its length, so at least one byte)
    // reach kBlockBytes, and each record has a byte of its own among the columns (its kind). This bounds
    // the records a crafted table can claim by the bytes it holds.
    const uint32_t end_record = blocks.EndRecord(block);
    if (end_record > block.first_record &&
        end_record - block.first_record > std::min<uint64_t>(block.bytes, kBlockBytes))
      return Damaged("block " + std::to_string(i) + " claims more records than its bytes can hold");
    end += block.compressed_bytes;
  }
  // After the last block, only the padding to a whole word.
  if (end > blocks.compressed_.size() || blocks.compressed_.size() - end >= 4)
    return Damaged("its blocks do not end where the section does");
  blocks.compressed_ = blocks.compressed_.substr(0, end);
  blocks.bytes_ = bytes;
  blocks.owner_ = std::move(owner);
  return blocks;
}

EventBlocks::Reader::Reader() = default;
EventBlocks::Reader::~Reader() { ZSTD_freeDCtx(context_); }

uint32_t EventBlocks::EndRecord(const Block& block) const {
  return &block + 1 < blocks_ + block_count_ ? (&block)[1].first_record : records_;
}

Status EventBlocks::Decompress(const Block& block, Reader* reader) const {
  const std::string which = "block " + std::to_string(&block - blocks_);
  // Made at the first block read (about 9 us): most readers read only the log.
  if (reader->context_ == nullptr) reader->context_ = ZSTD_createDCtx();
  if (reader->context_ == nullptr) return Status::Internal("zstd: no decompression context");
  reader->columns_.resize(block.bytes);
  const size_t size = ZSTD_decompressDCtx(reader->context_, reader->columns_.data(), block.bytes,
                                          compressed_.data() + block.offset, block.compressed_bytes);
  if (ZSTD_isError(size)) return Damaged(which + ": " + ZSTD_getErrorName(size));
  if (size != block.bytes) return Damaged(which + " holds fewer bytes than its table says");
  // zstd's checksum vouches for the whole block; the columns are still read as if crafted.
  Status read = reader->records_.Read(reader->columns_, EndRecord(block) - block.first_record);
  if (!read.ok()) return Damaged(which + ": " + read.message());
  return Status::Ok();
}

Result<std::string> EventBlocks::Payload(uint32_t record, Reader* reader) const {
  if (record >= records_) return Status::NotFound("sealed events: no record " + std::to_string(record));
  const Block* block =
      std::upper_bound(blocks_, blocks_ + block_count_, record,
                       [](uint32_t wanted, const Block& b) { return wanted < b.first_record; }) -
      1;
  const char* compressed = compressed_.data() + block->offset;
  if (reader->block_ != compressed || reader->owner_ != owner_) {
    // A damaged block is kept as the key too, with its error: its other records fail at once rather than
    // decompressing it again each.
    reader->failure_ = Decompress(*block, reader);
    reader->block_ = compressed;
    reader->owner_ = owner_;
  }
  if (!reader->failure_.ok()) return reader->failure_;
  std::string payload;
  reader->records_.AppendPayload(record - block->first_record, &payload);
  return payload;
}

}  // namespace tally

// A sealed hour's whole events, so that the hour answers a question about them (an event's versions, a
// user's timeline, later any property) without the log: the log's records of the hour's first rows, in the
// hour's row order, each read back byte for byte as the log holds it, in zstd-compressed blocks of about
// 8 KiB of payloads, each block's records as columns (views/event_columns.h).
// Written into the hour's sealed file (segments/sealed_hour_file.h) and read in place from its memory map:
//   u32 records | u32 blocks | per block: u32 first record, u32 bytes (its columns), u32 offset,
//   u32 compressed bytes | the compressed blocks back to back (offsets from the first) | zero bytes up to a
//   multiple of 4
// (little endian, as the machine is). A block is checked when it is read, not when the file is opened: by
// zstd's checksum of its content (the frames' own checksums are not kept: random bytes zstd cannot
// shrink), and its columns must hold together.
#pragma once

#include <zstd.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "tally/status.h"
#include "views/event_columns.h"

namespace tally {

class EventBlocks;

class EventBlocksWriter {
 public:
  EventBlocksWriter();
  ~EventBlocksWriter();
  EventBlocksWriter(const EventBlocksWriter&) = delete;
  EventBlocksWriter& operator=(const EventBlocksWriter&) = delete;

  // The next record's payload.
  void Add(std::string_view payload);
  // Into an empty writer: the records of `previous` (a section this writer's rules wrote), its whole blocks
  // copied as they are compressed and its last block's records added again, so that the section written
  // is the one adding every record would write, byte for byte, for the cost of the last block. A damaged
  // last block is an error (the writer is then empty again); damage in the blocks copied is found when
  // they are read, as in the previous section.
  Status AddRecordsOf(const EventBlocks& previous);
  // The section's bytes (a multiple of 4), or an error if a block could not be compressed or the blocks
  // do not fit the format's 32-bit offsets. The writer is empty again after it.
  Result<std::string> Finish();

 private:
  Status CompressBlock();

  ZSTD_CCtx* context_;
  std::string block_;    // the records of the block being filled, each after its length
  std::string columns_;  // the last block's columns
  EventColumnsWriter columns_writer_;
  uint32_t records_ = 0, block_first_ = 0;
  std::string table_, compressed_;
  Status failed_ = Status::Ok();
};

class EventBlocks {
 public:
  EventBlocks() = default;  // no records

  // Checks the section's table (blocks in record order, each inside the bytes; the blocks themselves are
  // checked when read) and reads it in place; `owner` keeps the bytes alive (4-byte aligned).
  static Result<EventBlocks> FromBytes(std::string_view bytes, std::shared_ptr<const void> owner);

  // A section without records (written when an hour's events could not be read).
  static constexpr std::string_view kEmptySection{"\0\0\0\0\0\0\0\0", 8};
  // Where the blocks of `section` start: the bytes of its header and table, which a sealed hour file's
  // checksum covers (the blocks are checked when read). At most section.size(), whatever the bytes.
  static size_t TableEnd(std::string_view section);

  uint32_t records() const { return records_; }
  size_t bytes() const { return bytes_.size(); }

  // Keeps the last block it read, decompressed: a user's events or an event's versions are often in one.
  class Reader {
   public:
    Reader();
    ~Reader();
    Reader(const Reader&) = delete;
    Reader& operator=(const Reader&) = delete;

   private:
    friend class EventBlocks;
    ZSTD_DCtx* context_ = nullptr;
    const char* block_ = nullptr;        // the compressed block `records_` holds (null: none)
    std::shared_ptr<const void> owner_;  // of block_'s bytes: kept mapped while it is the key
    Status failure_ = Status::Ok();      // why block_ could not be read, if it could not
    std::string columns_;                // the block decompressed
    EventColumns records_;               // read from columns_
  };
  // The payload of record number `record` (a Corruption error names what is damaged).
  Result<std::string> Payload(uint32_t record, Reader* reader) const;

 private:
  friend class EventBlocksWriter;
  struct Block {
    uint32_t first_record, bytes, offset, compressed_bytes;
  };
  static_assert(sizeof(Block) == 16);
  static constexpr size_t kHeaderBytes = 8;  // u32 records, u32 blocks

  // The first record after `block`'s: the next block's first, or records_ after the last block.
  uint32_t EndRecord(const Block& block) const;
  // Decompresses `block` into the reader and finds its records' places.
  Status Decompress(const Block& block, Reader* reader) const;

  uint32_t records_ = 0;
  const Block* blocks_ = nullptr;
  uint32_t block_count_ = 0;
  std::string_view compressed_;  // every block's bytes
  std::string_view bytes_;       // the whole section
  std::shared_ptr<const void> owner_;
};

}  // namespace tally

// A part of a sealed hour (views/shard_views.h: SealedPart) in a file of its own, read in place through a
// memory map, so the index sits in the page cache instead of the heap and survives a restart. A file is
// "DATA/segments/s<shard>of<shards>-h<hour>.seg" for the part that begins with the hour's first row, and
// "...-h<hour>-r<first row>.seg" for a later one:
//   "TALLYSEG" | u32 format version | u32 crc32c of every byte after this field
//   u32 shard | u32 shards | i64 hour | u32 end row | u32 first row | u64 rows digest
//   u64 product words | u64 store words | u64 row bytes | the product index's words | the store index's
//   words | the part's rows (views/row_columns.h) | the part's whole events (views/event_blocks.h)
// (little endian, as the machine is). The checksum covers everything up to the events' blocks, which are
// checked when they are read. It is derived data: written as a .tmp file and renamed into place, not
// fsynced. At start an hour's files are used in the order of their first rows while each begins where the
// one before it ends (a merge's file, written under a pending name, replaces the part with its first row
// once installed and the others it covers are deleted; a crash in between leaves them behind): a file is
// used only if it is of today's format, its checksum holds, its indexes and rows pass their checks, and the
// digest of the hour's rows it covers (their log positions and states, rebuilt from the log) equals the one
// it was built from (taken from the checkpoint's note of the hour's seal when it says the same and no row of
// the hour was retracted since); any other file is deleted and its rows sealed again.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tally/status.h"
#include "views/shard_views.h"

namespace tally {

struct SealedHourFile {
  uint32_t shard = 0;
  uint32_t shard_count = 1;
  int64_t hour = 0;
  PartRows rows;  // the hour's rows it seals, and their digest
  std::shared_ptr<const SealedHour> sealed;
};

// What a sealed hour file's name says.
struct SealedHourFileId {
  uint32_t shard = 0;
  uint32_t shard_count = 1;
  int64_t hour = 0;
  uint32_t first_row = 0;
};
std::string SealedHourFileName(const SealedHourFileId& id);
// What a file's path names (nullopt: not a sealed hour file's name).
std::optional<SealedHourFileId> ParseSealedHourFileName(const std::string& path);

// Writes `file` with `events` (an EventBlocksWriter's section of its rows' records; empty: none) into
// `directory` (created if missing) and returns it read back from its memory map. `name`: the file's own
// (SealedHourFileName) when empty.
Result<SealedHourFile> WriteSealedHourFile(const std::string& directory, const SealedHourFile& file,
                                           std::string_view events = {}, const std::string& name = {});
// The name a merge's file has until its part is installed (then renamed to its own): a start deletes one
// that a crash left.
std::string PendingSealedHourFileName(const SealedHourFileId& id);
// Maps and checks a file.
Result<SealedHourFile> OpenSealedHourFile(const std::string& path);
// The checksum a file's header holds for these bytes (nullopt: too short to be a file).
std::optional<uint32_t> SealedHourFileChecksum(std::string_view bytes);
// Checks the bytes of a file (kept alive by `owner`; 4-byte aligned) and reads them in place.
Result<SealedHourFile> ParseSealedHourFile(std::string_view bytes, std::shared_ptr<const void> owner);

// The files of `directory` (paths), and removes leftover .tmp and pending files of a crash while writing.
std::vector<std::string> ListSealedHourFiles(const std::string& directory);

}  // namespace tally

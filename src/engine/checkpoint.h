// Checkpoints: the views saved with the log position they cover, so a restart loads them and replays
// only the log's tail. A file is "views-<lsn>.snap":
//   "TALLYSNP" | u32 format version | u32 crc32c(payload) | u64 lsn | u64 payload length | payload
// written as a .tmp file, fsynced, renamed into place and the directory fsynced: a crash while writing
// leaves the previous checkpoint intact, and the .tmp is removed at the next start.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/files.h"
#include "tally/status.h"

namespace tally {

struct CheckpointFile {
  uint64_t lsn = 0;
  std::string path;
};

// Writes a checkpoint of `views_bytes` covering the first `lsn` records; keeps the newest `keep`.
Status WriteCheckpoint(const std::string& directory, uint64_t lsn, std::string_view views_bytes,
                       size_t keep = 2);
// The checkpoints in `directory`, newest first. Leftover .tmp files (a crash while writing) are removed.
std::vector<CheckpointFile> ListCheckpoints(const std::string& directory);
struct CheckpointPayload {
  std::shared_ptr<const MappedFile> file;
  std::string_view bytes;  // inside `file`
};
// The payload of a checkpoint, after checking its header, length and checksum.
Result<CheckpointPayload> ReadCheckpoint(const CheckpointFile& file);

}  // namespace tally

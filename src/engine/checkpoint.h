// Checkpoints: the views saved with the log position they cover, so a restart loads them and replays
// only the log's tail. A file is "views-<lsn>.snap":
//   "TALLYSNP" | u32 format version | u32 crc32c(payload) | u64 lsn | u64 payload length | payload
// written as a .tmp file (the payload as the views are saved, then the header), fsynced, renamed into
// place and the directory fsynced: a crash while writing leaves the previous checkpoint intact, and the
// .tmp is removed at the next start.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/byte_sink.h"
#include "common/files.h"
#include "tally/status.h"
#include "views/shard_views.h"

namespace tally {

struct CheckpointFile {
  uint64_t lsn = 0;
  std::string path;
};

// A checkpoint covering the first `lsn` records, its payload written to the .tmp file a buffer at a time
// (so the views are never copied whole into memory) and checksummed on the way.
class CheckpointWriter final : public ByteSink {
 public:
  // Creates the .tmp file in `directory` (created if missing).
  static Result<std::unique_ptr<CheckpointWriter>> Create(const std::string& directory, uint64_t lsn);
  ~CheckpointWriter() override;  // a checkpoint not finished leaves no file
  // Writes what is buffered and the header, fsyncs the file, renames it into place and keeps the newest
  // `keep` checkpoints. Returns the file's bytes.
  Result<uint64_t> Finish(size_t keep = 2);

 private:
  static constexpr size_t kBufferBytes = size_t{4} << 20;

  CheckpointWriter(std::string directory, uint64_t lsn, std::string path, int fd);
  Status Drain(std::string_view bytes) override;

  const std::string directory_;
  const uint64_t lsn_;
  const std::string path_;
  const std::string temporary_;  // written until Finish renames it to path_
  int fd_;
  uint64_t payload_bytes_ = 0;  // written so far
  uint32_t checksum_ = 0;       // of the payload written so far
  bool finished_ = false;
};
// The checkpoints in `directory`, newest first. Leftover .tmp files (a crash while writing) are removed.
std::vector<CheckpointFile> ListCheckpoints(const std::string& directory);
struct CheckpointPayload {
  std::shared_ptr<const MappedFile> file;  // copies on write: the views may use its rows in place
  std::string_view bytes;                  // inside `file`
  SavedLayout layout = kSavedLayout;       // by the file's format version
  uint32_t checksum = 0;                   // what the header says the bytes' CRC-32C is
  std::string path;

  // Whether the bytes are what was written (their checksum).
  Status Verify() const;
};
// The payload of a checkpoint, after checking its header and length. Its checksum is checked by Verify,
// which a restart runs beside the load: loading refuses anything that does not parse, so damaged bytes are
// at worst loaded and then dropped.
Result<CheckpointPayload> ReadCheckpoint(const CheckpointFile& file);

}  // namespace tally

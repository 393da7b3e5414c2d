#include "engine/checkpoint.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstring>

#include "common/files.h"
#include "common/fixed_width.h"
#include "log/crc32c.h"

namespace tally {
namespace {

constexpr char kMagic[8] = {'T', 'A', 'L', 'L', 'Y', 'S', 'N', 'P'};
// 2: views split into shards; 3: no cells per product and store; 4: retention (hours kept, log positions
// the views still need); 5: each event id's hour, each shard's part after its length (loaded in parallel);
// 6: timelines as chains through the rows
constexpr uint32_t kFormatVersion = 6;
constexpr size_t kHeaderBytes = 8 + 4 + 4 + 8 + 8;

std::string FileName(uint64_t lsn) {
  char name[48];
  std::snprintf(name, sizeof(name), "views-%020" PRIu64 ".snap", lsn);
  return name;
}

}  // namespace

Status WriteCheckpoint(const std::string& directory, uint64_t lsn, std::string_view views_bytes,
                       size_t keep) {
  if (::mkdir(directory.c_str(), 0755) != 0 && errno != EEXIST)
    return Status::FromErrno("mkdir " + directory, errno);
  std::string header(kMagic, sizeof(kMagic));
  PutFixed<uint32_t>(&header, kFormatVersion);
  PutFixed<uint32_t>(&header, Crc32c(views_bytes));
  PutFixed<uint64_t>(&header, lsn);
  PutFixed<uint64_t>(&header, views_bytes.size());
  const std::string path = directory + "/" + FileName(lsn);
  const std::string temporary = path + ".tmp";
  TALLY_RETURN_IF_ERROR(WriteFileDurably(temporary, {header, views_bytes}));
  if (::rename(temporary.c_str(), path.c_str()) != 0) return Status::FromErrno("rename " + temporary, errno);
  TALLY_RETURN_IF_ERROR(SyncDirectory(directory));
  std::vector<CheckpointFile> files = ListCheckpoints(directory);
  for (size_t i = keep; i < files.size(); ++i) ::unlink(files[i].path.c_str());
  return Status::Ok();
}

std::vector<CheckpointFile> ListCheckpoints(const std::string& directory) {
  std::vector<CheckpointFile> files;
  DIR* dir = ::opendir(directory.c_str());
  if (dir == nullptr) return files;
  while (dirent* entry = ::readdir(dir)) {
    std::string_view name(entry->d_name);
    if (name.starts_with("views-") && name.ends_with(".snap.tmp")) {
      ::unlink((directory + "/" + std::string(name)).c_str());
      continue;
    }
    uint64_t lsn = 0;
    if (name.size() == 6 + 20 + 5 && name.starts_with("views-") && name.ends_with(".snap") &&
        std::sscanf(entry->d_name + 6, "%20" SCNu64, &lsn) == 1) {
      files.push_back({lsn, directory + "/" + std::string(name)});
    }
  }
  ::closedir(dir);
  std::sort(files.begin(), files.end(), [](const auto& a, const auto& b) { return a.lsn > b.lsn; });
  return files;
}

Result<CheckpointPayload> ReadCheckpoint(const CheckpointFile& file) {
  // Mapped, not read: a checkpoint is as large as the views, and a copy of it on the heap (zeroed first,
  // then filled by the kernel) took a third of a restart's time.
  auto mapping = MappedFile::Open(file.path, MappedFile::Reading::kWhole);
  if (!mapping.ok()) return mapping.status();
  const std::string_view bytes = (*mapping)->bytes();
  if (bytes.size() < kHeaderBytes || std::memcmp(bytes.data(), kMagic, sizeof(kMagic)) != 0)
    return Status::Corruption(file.path + ": not a checkpoint");
  if (GetFixed<uint32_t>(bytes.data() + 8) != kFormatVersion)
    return Status::Corruption(file.path + ": checkpoint format version not known");
  const auto checksum = GetFixed<uint32_t>(bytes.data() + 12);
  const auto lsn = GetFixed<uint64_t>(bytes.data() + 16);
  const auto length = GetFixed<uint64_t>(bytes.data() + 24);
  if (lsn != file.lsn || length != bytes.size() - kHeaderBytes)
    return Status::Corruption(file.path + ": checkpoint is truncated or mislabeled");
  CheckpointPayload payload{*mapping, bytes.substr(kHeaderBytes)};
  if (Crc32c(payload.bytes) != checksum)
    return Status::Corruption(file.path + ": checkpoint checksum does not match");
  return payload;
}

}  // namespace tally

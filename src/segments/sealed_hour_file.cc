#include "segments/sealed_hour_file.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cinttypes>
#include <cstring>

#include "common/files.h"
#include "common/fixed_width.h"
#include "log/crc32c.h"

namespace tally {
namespace {

constexpr char kMagic[8] = {'T', 'A', 'L', 'L', 'Y', 'S', 'E', 'G'};
// 2: the hour's whole events after the indexes (1 had none), as the log's frames; 3: as their payloads after
// their lengths; 4: each block of them as columns; 5: a part of the hour's rows, its first row after its
// end (0 in 4); 6: the part's rows as columns (views/row_columns.h) after the indexes, their size after the
// indexes' in the header. A file of another version is refused, and its rows sealed again.
constexpr uint32_t kFormatVersion = 6;
constexpr size_t kHeaderBytes = 72;
constexpr size_t kChecksummedFrom = 16;

std::string_view AsBytes(std::span<const uint32_t> words) {
  return {reinterpret_cast<const char*>(words.data()), words.size() * sizeof(uint32_t)};
}

}  // namespace

std::string SealedHourFileName(const SealedHourFileId& id) {
  char name[80];
  if (id.first_row == 0) {
    std::snprintf(name, sizeof(name), "s%" PRIu32 "of%" PRIu32 "-h%" PRId64 ".seg", id.shard, id.shard_count,
                  id.hour);
  } else {
    std::snprintf(name, sizeof(name), "s%" PRIu32 "of%" PRIu32 "-h%" PRId64 "-r%" PRIu32 ".seg", id.shard,
                  id.shard_count, id.hour, id.first_row);
  }
  return name;
}

std::optional<SealedHourFileId> ParseSealedHourFileName(const std::string& path) {
  const size_t slash = path.rfind('/');
  const std::string name = slash == std::string::npos ? path : path.substr(slash + 1);
  SealedHourFileId id;
  const int fields = std::sscanf(name.c_str(), "s%" SCNu32 "of%" SCNu32 "-h%" SCNd64 "-r%" SCNu32, &id.shard,
                                 &id.shard_count, &id.hour, &id.first_row);
  // (Printed again, the name must be the same: no other spelling of the numbers, nothing after them.)
  if (fields < 3 || name != SealedHourFileName(id)) return std::nullopt;
  return id;
}

std::optional<uint32_t> SealedHourFileChecksum(std::string_view bytes) {
  if (bytes.size() < kHeaderBytes) return std::nullopt;
  // Up to the events' blocks, which carry checksums of their own (EventBlocks), read when asked for.
  const uint64_t index_words = GetFixed<uint64_t>(bytes.data() + 48) + GetFixed<uint64_t>(bytes.data() + 56);
  const uint64_t row_bytes = GetFixed<uint64_t>(bytes.data() + 64);
  uint64_t end = bytes.size();
  if (index_words <= (bytes.size() - kHeaderBytes) / sizeof(uint32_t) &&
      row_bytes <= bytes.size() - kHeaderBytes - index_words * sizeof(uint32_t)) {
    const uint64_t events = kHeaderBytes + index_words * sizeof(uint32_t) + row_bytes;
    end = events + EventBlocks::TableEnd(bytes.substr(events));
  }
  return Crc32c(bytes.substr(kChecksummedFrom, end - kChecksummedFrom));
}

std::string PendingSealedHourFileName(const SealedHourFileId& id) {
  return SealedHourFileName(id) + ".pending";
}

Result<SealedHourFile> WriteSealedHourFile(const std::string& directory, const SealedHourFile& file,
                                           std::string_view events, const std::string& name) {
  if (::mkdir(directory.c_str(), 0755) != 0 && errno != EEXIST)
    return Status::FromErrno("mkdir " + directory, errno);
  const std::span<const uint32_t> product = file.sealed->by_product.words();
  const std::span<const uint32_t> store = file.sealed->by_store.words();
  std::string bytes(kMagic, sizeof(kMagic));
  PutFixed<uint32_t>(&bytes, kFormatVersion);
  PutFixed<uint32_t>(&bytes, 0);  // the checksum, filled in below
  PutFixed<uint32_t>(&bytes, file.shard);
  PutFixed<uint32_t>(&bytes, file.shard_count);
  PutFixed<int64_t>(&bytes, file.hour);
  PutFixed<uint32_t>(&bytes, file.rows.end);
  PutFixed<uint32_t>(&bytes, file.rows.first);
  PutFixed<uint64_t>(&bytes, file.rows.digest);
  PutFixed<uint64_t>(&bytes, product.size());
  PutFixed<uint64_t>(&bytes, store.size());
  const std::string_view rows = file.sealed->rows.bytes();
  PutFixed<uint64_t>(&bytes, rows.size());
  bytes.append(AsBytes(product));
  bytes.append(AsBytes(store));
  bytes.append(rows);
  bytes.append(events.empty() ? EventBlocks::kEmptySection : events);
  const uint32_t crc = *SealedHourFileChecksum(bytes);
  std::memcpy(bytes.data() + 12, &crc, sizeof(crc));

  const std::string path =
      directory + "/" +
      (name.empty() ? SealedHourFileName({file.shard, file.shard_count, file.hour, file.rows.first}) : name);
  const std::string temporary = path + ".tmp";
  int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Status::FromErrno("create " + temporary, errno);
  Status written = WriteAll(fd, bytes, temporary);
  ::close(fd);
  if (written.ok() && ::rename(temporary.c_str(), path.c_str()) != 0)
    written = Status::FromErrno("rename " + temporary, errno);
  if (!written.ok()) {
    ::unlink(temporary.c_str());
    return written;
  }
  return OpenSealedHourFile(path);
}

Result<SealedHourFile> ParseSealedHourFile(std::string_view bytes, std::shared_ptr<const void> owner) {
  auto damaged = [](const std::string& what) { return Status::Corruption("sealed hour file: " + what); };
  if (bytes.size() < kHeaderBytes || std::memcmp(bytes.data(), kMagic, sizeof(kMagic)) != 0)
    return damaged("not a sealed hour file");
  const uint32_t version = GetFixed<uint32_t>(bytes.data() + 8);
  if (version != kFormatVersion) return damaged("format version " + std::to_string(version) + " not read");
  if (GetFixed<uint32_t>(bytes.data() + 12) != SealedHourFileChecksum(bytes))
    return damaged("checksum mismatch");
  if (reinterpret_cast<uintptr_t>(bytes.data()) % alignof(uint32_t) != 0) return damaged("not aligned");
  SealedHourFile file;
  file.shard = GetFixed<uint32_t>(bytes.data() + 16);
  file.shard_count = GetFixed<uint32_t>(bytes.data() + 20);
  file.hour = GetFixed<int64_t>(bytes.data() + 24);
  file.rows.end = GetFixed<uint32_t>(bytes.data() + 32);
  file.rows.first = GetFixed<uint32_t>(bytes.data() + 36);
  file.rows.digest = GetFixed<uint64_t>(bytes.data() + 40);
  if (file.rows.first >= file.rows.end) return damaged("its rows are not a part of an hour");
  const uint64_t product_words = GetFixed<uint64_t>(bytes.data() + 48);
  const uint64_t store_words = GetFixed<uint64_t>(bytes.data() + 56);
  const uint64_t row_bytes = GetFixed<uint64_t>(bytes.data() + 64);
  const uint64_t body_words = (bytes.size() - kHeaderBytes) / sizeof(uint32_t);
  if ((bytes.size() - kHeaderBytes) % sizeof(uint32_t) != 0 || product_words > body_words ||
      store_words > body_words - product_words || row_bytes % sizeof(uint32_t) != 0 ||
      row_bytes / sizeof(uint32_t) > body_words - product_words - store_words) {
    return damaged("its size does not match its header");
  }
  const auto* words = reinterpret_cast<const uint32_t*>(bytes.data() + kHeaderBytes);
  auto product = DimensionIndex::FromWords({words, product_words}, owner);
  if (!product.ok()) return product.status();
  auto store = DimensionIndex::FromWords({words + product_words, store_words}, owner);
  if (!store.ok()) return store.status();
  if (row_bytes == 0) return damaged("it holds no rows");
  const uint64_t rows_at = kHeaderBytes + (product_words + store_words) * sizeof(uint32_t);
  auto rows = RowColumns::FromBytes(bytes.substr(rows_at, row_bytes), owner, file.hour, file.rows.count());
  if (!rows.ok()) return rows.status();
  auto events = EventBlocks::FromBytes(bytes.substr(rows_at + row_bytes), owner);
  if (!events.ok()) return events.status();
  if (events->records() != 0 && events->records() != file.rows.count())
    return damaged("its events are not the rows it was sealed from");
  auto sealed = std::make_shared<SealedHour>();
  sealed->by_product = std::move(*product);
  sealed->by_store = std::move(*store);
  sealed->rows = std::move(*rows);
  sealed->events = std::move(*events);
  file.sealed = std::move(sealed);
  return file;
}

Result<SealedHourFile> OpenSealedHourFile(const std::string& path) {
  auto mapping = MappedFile::Open(path);
  if (!mapping.ok()) return mapping.status();
  if ((*mapping)->bytes().size() < kHeaderBytes)
    return Status::Corruption(path + ": shorter than a sealed hour file's header");
  auto file = ParseSealedHourFile((*mapping)->bytes(), *mapping);
  if (!file.ok()) return Status::Corruption(path + ": " + file.status().message());
  return file;
}

std::vector<std::string> ListSealedHourFiles(const std::string& directory) {
  std::vector<std::string> paths;
  DIR* dir = ::opendir(directory.c_str());
  if (dir == nullptr) return paths;
  while (const dirent* entry = ::readdir(dir)) {
    const std::string_view name = entry->d_name;
    const std::string path = directory + "/" + std::string(name);
    if (name.ends_with(".seg.tmp") || name.ends_with(".seg.pending") || name.ends_with(".seg.pending.tmp")) {
      ::unlink(path.c_str());
    } else if (name.ends_with(".seg")) {
      paths.push_back(path);
    }
  }
  ::closedir(dir);
  return paths;
}

}  // namespace tally

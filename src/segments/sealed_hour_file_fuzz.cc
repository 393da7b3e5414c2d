// libFuzzer target: the bytes of a sealed hour file as a start finds them (damaged, cut, or crafted).
// Parsing must never read outside them: a file either fails its checks or every question its indexes and rows
// can be asked stays inside the bytes (AddressSanitizer sees any read past them), and every event it holds is
// read or refused. Most inputs fail the checksum; so that the checks behind it are fuzzed too, the checksum
// is also set right for the fuzzer's bytes before they are parsed a second time.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <string>

#include "segments/sealed_hour_file.h"

namespace {

void AskEverything(const tally::SealedHourFile& file) {
  for (const tally::DimensionIndex* index : {&file.sealed->by_product, &file.sealed->by_store}) {
    Roaring users;
    uint64_t events = 0;
    for (const std::optional<uint32_t> type : {std::optional<uint32_t>(), std::optional<uint32_t>(0)})
      index->ForEachKeyEvents(type, [&](uint32_t, uint64_t count) { events += count; });
    (void)events;
    for (size_t at = 0; at < index->key_count(); ++at) {
      (void)index->Find(index->key_at(at));
      (void)index->Events(at, std::nullopt);
      index->AddUsers(at, std::nullopt, &users);
      index->ForEachGroup(
          at, [&](const tally::DimensionIndex::Group& group) { (void)index->Events(at, group.type); });
    }
  }
  const tally::RowColumns& rows = file.sealed->rows;
  uint64_t users = 0;
  for (uint32_t place = 0; place < rows.rows(); ++place) {
    const tally::EventRow row = rows.Row(place);
    rows.ForEachOf(row.user, [&](uint32_t) { ++users; });
  }
  (void)users;
  tally::EventBlocks::Reader reader;
  for (uint32_t record = 0; record < file.sealed->events.records(); ++record)
    (void)file.sealed->events.Payload(record, &reader);
}

void Parse(const std::string& bytes) {
  // The bytes are copied into 4-byte-aligned memory, as a memory map is.
  auto words = std::make_shared<std::vector<uint32_t>>((bytes.size() + 3) / 4);
  if (!bytes.empty()) std::memcpy(words->data(), bytes.data(), bytes.size());
  auto file = tally::ParseSealedHourFile({reinterpret_cast<const char*>(words->data()), bytes.size()}, words);
  if (file.ok()) AskEverything(*file);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string bytes(reinterpret_cast<const char*>(data), size);
  Parse(bytes);
  if (const std::optional<uint32_t> crc = tally::SealedHourFileChecksum(bytes)) {
    std::memcpy(bytes.data() + 12, &*crc, sizeof(*crc));
    Parse(bytes);
  }
  return 0;
}

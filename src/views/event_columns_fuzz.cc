// libFuzzer target: a sealed hour's block of events as columns, damaged or crafted past its checksum.
// Reading must refuse it or give records that are read without leaving the bytes (AddressSanitizer sees any
// read outside them), and what it gives must be written again and read back the same.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "views/event_columns.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const uint32_t records = data[0];  // a block holds a few hundred records; these bytes can hold fewer
  const std::string columns(reinterpret_cast<const char*>(data + 1), size - 1);
  tally::EventColumns read;
  if (!read.Read(columns, records).ok()) return 0;
  if (read.records() != records) __builtin_trap();
  std::vector<std::string> payloads(records);
  for (uint32_t record = 0; record < records; ++record) read.AppendPayload(record, &payloads[record]);
  const std::vector<std::string_view> views(payloads.begin(), payloads.end());
  std::string again;
  tally::EventColumnsWriter().Write(views, &again);
  tally::EventColumns read_again;
  if (!read_again.Read(again, records).ok()) __builtin_trap();
  for (uint32_t record = 0; record < records; ++record) {
    std::string payload;
    read_again.AppendPayload(record, &payload);
    if (payload != payloads[record]) __builtin_trap();
  }
  return 0;
}

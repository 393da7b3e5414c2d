// A block of a sealed hour's events (views/event_blocks.h) as columns: each field of its events beside the
// same field of the others, so that zstd finds an hour's repeats (names, types, ids' prefixes, the next
// timestamp's high bytes) next to each other. On a shop's month (1 M users, 20 000 products) this takes
// the blocks from 24.8 to 19.5 bytes an event (BENCHMARKS.md, "A sealed hour's events as columns").
//
//   varint bytes of each stream but the last | the streams back to back:
//   kinds       one byte a record: 0 an event in the columns, 1 a record kept whole (verbatim)
//   received    an event's received_at minus the previous event's (zigzag varint; the first minus 0)
//   timestamps  varint base | u8 width | `width` planes of one byte an event, the highest byte first, of
//               each timestamp minus the base (the block's smallest)
//   versions    varint an event
//   lengths     an event's: the bytes its id shares with the previous event's id, the rest of its id, its
//               type, user, session, product, store and properties; a verbatim record's length
//   types, users, ids (what is not shared), sessions, products, stores, properties, verbatim: the bytes
//
// Only an event whose payload AppendEventPayload writes again byte for byte goes into the columns, so a
// record reads back exactly as the log held it, whatever its encoding.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "tally/event.h"
#include "tally/status.h"

namespace tally {

class EventColumnsWriter {
 public:
  // Appends the columns of `payloads` (a block's records, in order) to `out`.
  void Write(std::span<const std::string_view> payloads, std::string* out);

 private:
  static constexpr int kStreams = 13;
  std::array<std::string, kStreams> streams_;  // kept from block to block with their capacity
  std::vector<Millis> timestamps_;
};

// A block's columns read: each record found, its payload written when asked for.
class EventColumns {
 public:
  // Reads the `records` records of `columns`, which must stay alive and unchanged while they are asked
  // for. A Corruption error says what does not hold together (nothing is then held).
  Status Read(std::string_view columns, uint32_t records);
  uint32_t records() const { return static_cast<uint32_t>(records_.size()); }
  // Appends record `record`'s payload (record < records()) to `out`.
  void AppendPayload(uint32_t record, std::string* out) const;

 private:
  struct Record {
    EventView event;                   // its texts in the columns, but its id (below)
    uint32_t id_at = 0, id_bytes = 0;  // in ids_
    bool kept_whole = false;
    std::string_view whole;  // a record kept whole: itself
  };
  Status Fail(const std::string& what);  // nothing held, and why
  std::vector<Record> records_;
  std::string ids_;  // the events' ids, back to back
};

}  // namespace tally

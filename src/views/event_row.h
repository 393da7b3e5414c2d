// A row: what the views keep of an event (views/shard_views.h), with its dictionaries' numbers for its
// texts and its log position for the whole event.
#pragma once

#include <cstdint>

#include "tally/event.h"

namespace tally {

inline constexpr uint32_t kNoDimension = UINT32_MAX;

enum class RowState : uint8_t {
  kCurrent,     // counted everywhere
  kSuperseded,  // a higher version of the same event_id replaced it
  kDuplicate,   // the same or a lower version of an event_id already seen: no effect
};

// Every timestamp an applied event can have (the API and the log's decoder refuse any other) fits a row.
static_assert(kMaxTimestampMillis < int64_t{1} << 55);

struct EventRow {
  // 56 bits hold every timestamp the API takes (years 0 to 9999 are within 2^48 ms) and leave the state a
  // byte of the same word.
  Millis timestamp : 56;
  RowState state : 8;
  uint64_t position;  // LogPosition::Packed() of the whole record
  uint32_t user;
  uint32_t type;
  uint32_t product;  // kNoDimension when absent
  uint32_t store;    // kNoDimension when absent
  uint32_t version;
  // (Rows are saved as they are in memory and used in place at a restart: the padding is named, and zero,
  // so that the same rows save the same bytes.)
  uint32_t unused = 0;
  bool operator==(const EventRow&) const = default;
};

}  // namespace tally

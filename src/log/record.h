// The log's record format. Every record is one frame:
//
//   u32 payload_length (little endian) | u32 crc32c(payload) | payload
//   payload = u8 format_version | u8 kind | body
//
// Bodies use unsigned LEB128 varints for integers and varint-length-prefixed bytes for strings; an empty
// string means "absent" (no field of the model may be present and empty). New kinds or a new format
// version are added beside the old ones; a reader refuses what it does not know rather than guess.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>

#include "tally/event.h"
#include "tally/status.h"

namespace tally {

inline constexpr uint8_t kRecordFormatVersion = 1;
inline constexpr size_t kFrameHeaderBytes = 8;
// No single record may be larger; a length above it is treated as damage, not as a record to wait for.
inline constexpr uint32_t kMaxPayloadBytes = 32u << 20;
// format version + kind: a shorter payload (for example a run of zero bytes) is never a record.
inline constexpr uint32_t kMinPayloadBytes = 2;

enum class RecordKind : uint8_t {
  kEvent = 1,
  kRejected = 2,
  kSchemaChange = 3,
};

using LogRecord = std::variant<Event, RejectedInput, SchemaChange>;

// Append one whole frame to `out`.
void AppendEventFrame(const Event& event, std::string* out);
void AppendRejectedFrame(const RejectedInput& rejected, std::string* out);
void AppendSchemaChangeFrame(const SchemaChange& change, std::string* out);

Result<LogRecord> DecodePayload(std::string_view payload);

enum class FrameCheck {
  kComplete,    // a whole frame whose checksum matches
  kIncomplete,  // the bytes end inside the frame (a torn write, or more is still to come)
  kCorrupt,     // the length is impossible or the checksum does not match
};

struct FrameView {
  std::string_view payload;
  size_t frame_bytes = 0;  // header + payload
};

// Looks at the frame starting at bytes[0].
FrameCheck ReadFrame(std::string_view bytes, FrameView* frame);

}  // namespace tally

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
  // In cluster mode, one message of the stream as this node applied it, kept whole so that it is in the
  // local log entirely or not at all: u64 stream sequence (fixed, little endian) | the frames of its
  // records, back to back, byte for byte as published. Each inner frame is a valid frame where it lies,
  // so a row's log position can point straight at it.
  kStreamBatch = 4,
  kRetentionCut = 5,
};
inline constexpr uint8_t kLastRecordKind = static_cast<uint8_t>(RecordKind::kRetentionCut);
inline constexpr size_t kStreamBatchHeaderBytes = 2 + 8;  // format version, kind, sequence

using LogRecord = std::variant<Event, RejectedInput, SchemaChange, RetentionCut>;
// A record as the views apply it: an event's texts are views into the frame it was decoded from (the
// other kinds are rare and small, and are copied).
using RecordView = std::variant<EventView, RejectedInput, SchemaChange, RetentionCut>;
RecordView ViewOf(const LogRecord& record);

// Reads a record's values front to back (and other bytes written the same way); every read fails rather
// than pass the end.
class PayloadReader {
 public:
  explicit PayloadReader(std::string_view bytes = {}) : rest_(bytes) {}

  bool Varint(uint64_t* value) {
    uint64_t result = 0;
    for (int shift = 0; shift <= 63 && !rest_.empty(); shift += 7) {
      const auto byte = static_cast<uint8_t>(rest_.front());
      rest_.remove_prefix(1);
      result |= uint64_t{byte & 0x7fu} << shift;
      if (byte < 0x80) {
        *value = result;
        return true;
      }
    }
    return false;
  }
  // The next `count` bytes.
  bool Take(uint64_t count, std::string_view* value) {
    if (count > rest_.size()) return false;
    *value = rest_.substr(0, count);
    rest_.remove_prefix(count);
    return true;
  }
  // Bytes after their length.
  bool Bytes(std::string_view* value) {
    uint64_t length = 0;
    return Varint(&length) && Take(length, value);
  }
  bool Bytes(std::string* value) {
    std::string_view view;
    if (!Bytes(&view)) return false;
    value->assign(view);
    return true;
  }
  std::string_view rest() const { return rest_; }
  bool AtEnd() const { return rest_.empty(); }

 private:
  std::string_view rest_;
};

// `value` as an unsigned LEB128 varint, as a record's integers are written.
void PutVarint(uint64_t value, std::string* out);
// `bytes` after their length (a LEB128 varint), as a record's strings are written.
void PutBytes(std::string_view bytes, std::string* out);

// Append one whole frame to `out`.
void AppendEventFrame(const EventView& event, std::string* out);
inline void AppendEventFrame(const Event& event, std::string* out) { AppendEventFrame(ViewOf(event), out); }
// An event's payload alone (what a frame holds after its header), as AppendEventFrame writes it.
void AppendEventPayload(const EventView& event, std::string* out);
// How many bytes AppendEventPayload writes for `event`.
size_t EventPayloadBytes(const EventView& event);
void AppendRejectedFrame(const RejectedInput& rejected, std::string* out);
void AppendSchemaChangeFrame(const SchemaChange& change, std::string* out);
void AppendRetentionCutFrame(const RetentionCut& cut, std::string* out);

void AppendStreamBatchFrame(uint64_t sequence, std::string_view frames, std::string* out);

// A record (not a stream batch: see ParseStreamBatch).
Result<LogRecord> DecodePayload(std::string_view payload);
// The same without copying an event's texts: they stay views into `payload`.
Result<RecordView> DecodePayloadView(std::string_view payload);

struct StreamBatchView {
  uint64_t sequence = 0;
  std::string_view frames;
};
bool IsStreamBatch(std::string_view payload);
Result<StreamBatchView> ParseStreamBatch(std::string_view payload);

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

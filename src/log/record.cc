#include "log/record.h"

#include <cstring>
#include <type_traits>

#include "log/crc32c.h"

namespace tally {

void PutVarint(uint64_t value, std::string* out) {
  while (value >= 0x80) {
    out->push_back(static_cast<char>((value & 0x7F) | 0x80));
    value >>= 7;
  }
  out->push_back(static_cast<char>(value));
}

void PutBytes(std::string_view bytes, std::string* out) {
  PutVarint(bytes.size(), out);
  out->append(bytes);
}

namespace {

void PutFixed32(uint32_t value, char* at) {
  for (int i = 0; i < 4; ++i) at[i] = static_cast<char>((value >> (8 * i)) & 0xFF);
}

uint32_t GetFixed32(const char* at) {
  uint32_t value = 0;
  for (int i = 0; i < 4; ++i) value |= static_cast<uint32_t>(static_cast<uint8_t>(at[i])) << (8 * i);
  return value;
}

// Reserves the frame header, lets `write_payload` append the payload, then fills in length and checksum.
template <typename WritePayload>
void AppendFrame(RecordKind kind, std::string* out, WritePayload write_payload) {
  const size_t header_at = out->size();
  out->append(kFrameHeaderBytes, '\0');
  const size_t payload_at = out->size();
  out->push_back(static_cast<char>(kRecordFormatVersion));
  out->push_back(static_cast<char>(kind));
  write_payload(out);
  std::string_view payload(out->data() + payload_at, out->size() - payload_at);
  PutFixed32(static_cast<uint32_t>(payload.size()), out->data() + header_at);
  PutFixed32(Crc32c(payload), out->data() + header_at + 4);
}

Result<RecordView> DecodeEvent(PayloadReader& reader) {
  EventView event;
  uint64_t received_at = 0, timestamp = 0, version = 0;
  bool ok = reader.Varint(&received_at) && reader.Varint(&timestamp) && reader.Varint(&version) &&
            reader.Bytes(&event.type) && reader.Bytes(&event.user_id) && reader.Bytes(&event.event_id) &&
            reader.Bytes(&event.session_id) && reader.Bytes(&event.product_id) &&
            reader.Bytes(&event.store_id) && reader.Bytes(&event.properties_json) && reader.AtEnd();
  if (!ok) return Status::Corruption("event record: body does not parse");
  if (timestamp > static_cast<uint64_t>(kMaxTimestampMillis) || version == 0 || version > UINT32_MAX ||
      event.type.empty() || event.user_id.empty() || event.event_id.size() > kMaxEventIdBytes) {
    return Status::Corruption("event record: field out of range");
  }
  event.received_at = static_cast<Millis>(received_at);
  event.timestamp = static_cast<Millis>(timestamp);
  event.version = static_cast<uint32_t>(version);
  return RecordView(event);
}

Result<RecordView> DecodeRejected(PayloadReader& reader) {
  RejectedInput rejected;
  uint64_t received_at = 0;
  bool ok = reader.Varint(&received_at) && reader.Bytes(&rejected.source) && reader.Bytes(&rejected.reason) &&
            reader.Bytes(&rejected.raw) && reader.Bytes(&rejected.key_name) && reader.AtEnd();
  if (!ok) return Status::Corruption("rejected record: body does not parse");
  rejected.received_at = static_cast<Millis>(received_at);
  return RecordView(std::move(rejected));
}

Result<RecordView> DecodeSchemaChange(PayloadReader& reader) {
  SchemaChange change;
  uint64_t received_at = 0;
  bool ok = reader.Varint(&received_at) && reader.Bytes(&change.type) && reader.Bytes(&change.schema_json) &&
            reader.AtEnd();
  if (!ok || change.type.empty()) return Status::Corruption("schema record: body does not parse");
  change.received_at = static_cast<Millis>(received_at);
  return RecordView(std::move(change));
}

Result<RecordView> DecodeRetentionCut(PayloadReader& reader) {
  uint64_t received_at = 0, first_kept_hour = 0;
  bool ok = reader.Varint(&received_at) && reader.Varint(&first_kept_hour) && reader.AtEnd();
  if (!ok || first_kept_hour > static_cast<uint64_t>(HourOf(kMaxTimestampMillis)) + 1)
    return Status::Corruption("retention record: body does not parse");
  return RecordView(RetentionCut{static_cast<Millis>(received_at), static_cast<int64_t>(first_kept_hour)});
}

}  // namespace

void AppendRetentionCutFrame(const RetentionCut& cut, std::string* out) {
  AppendFrame(RecordKind::kRetentionCut, out, [&](std::string* payload) {
    PutVarint(static_cast<uint64_t>(cut.received_at), payload);
    PutVarint(static_cast<uint64_t>(cut.first_kept_hour), payload);
  });
}

void AppendSchemaChangeFrame(const SchemaChange& change, std::string* out) {
  AppendFrame(RecordKind::kSchemaChange, out, [&](std::string* payload) {
    PutVarint(static_cast<uint64_t>(change.received_at), payload);
    PutBytes(change.type, payload);
    PutBytes(change.schema_json, payload);
  });
}

namespace {

void PutEventBody(const EventView& event, std::string* payload) {
  PutVarint(static_cast<uint64_t>(event.received_at), payload);
  PutVarint(static_cast<uint64_t>(event.timestamp), payload);
  PutVarint(event.version, payload);
  PutBytes(event.type, payload);
  PutBytes(event.user_id, payload);
  PutBytes(event.event_id, payload);
  PutBytes(event.session_id, payload);
  PutBytes(event.product_id, payload);
  PutBytes(event.store_id, payload);
  PutBytes(event.properties_json, payload);
}

}  // namespace

void AppendEventFrame(const EventView& event, std::string* out) {
  AppendFrame(RecordKind::kEvent, out, [&](std::string* payload) { PutEventBody(event, payload); });
}

size_t EventPayloadBytes(const EventView& event) {
  const auto varint_bytes = [](uint64_t value) {
    size_t bytes = 1;
    for (; value >= 0x80; value >>= 7) ++bytes;
    return bytes;
  };
  size_t bytes = 2 + varint_bytes(static_cast<uint64_t>(event.received_at)) +
                 varint_bytes(static_cast<uint64_t>(event.timestamp)) + varint_bytes(event.version);
  for (const std::string_view text : {event.type, event.user_id, event.event_id, event.session_id,
                                      event.product_id, event.store_id, event.properties_json})
    bytes += varint_bytes(text.size()) + text.size();
  return bytes;
}

void AppendEventPayload(const EventView& event, std::string* out) {
  out->push_back(static_cast<char>(kRecordFormatVersion));
  out->push_back(static_cast<char>(RecordKind::kEvent));
  PutEventBody(event, out);
}

void AppendRejectedFrame(const RejectedInput& rejected, std::string* out) {
  AppendFrame(RecordKind::kRejected, out, [&](std::string* payload) {
    PutVarint(static_cast<uint64_t>(rejected.received_at), payload);
    PutBytes(rejected.source, payload);
    PutBytes(rejected.reason, payload);
    PutBytes(rejected.raw.size() > kMaxRejectedRawBytes
                 ? std::string_view(rejected.raw).substr(0, kMaxRejectedRawBytes)
                 : std::string_view(rejected.raw),
             payload);
    PutBytes(rejected.key_name, payload);
  });
}

void AppendStreamBatchFrame(uint64_t sequence, std::string_view frames, std::string* out) {
  AppendFrame(RecordKind::kStreamBatch, out, [&](std::string* payload) {
    char fixed[8];
    for (int i = 0; i < 8; ++i) fixed[i] = static_cast<char>((sequence >> (8 * i)) & 0xFF);
    payload->append(fixed, sizeof(fixed));
    payload->append(frames);
  });
}

bool IsStreamBatch(std::string_view payload) {
  return payload.size() >= 2 && static_cast<uint8_t>(payload[0]) == kRecordFormatVersion &&
         static_cast<RecordKind>(static_cast<uint8_t>(payload[1])) == RecordKind::kStreamBatch;
}

Result<StreamBatchView> ParseStreamBatch(std::string_view payload) {
  if (!IsStreamBatch(payload) || payload.size() < kStreamBatchHeaderBytes)
    return Status::Corruption("not a stream batch record");
  StreamBatchView batch;
  for (int i = 0; i < 8; ++i)
    batch.sequence |= static_cast<uint64_t>(static_cast<uint8_t>(payload[2 + i])) << (8 * i);
  batch.frames = payload.substr(kStreamBatchHeaderBytes);
  return batch;
}

RecordView ViewOf(const LogRecord& record) {
  return std::visit(
      [](const auto& other) -> RecordView {
        if constexpr (std::is_same_v<std::decay_t<decltype(other)>, Event>) {
          return ViewOf(other);
        } else {
          return other;
        }
      },
      record);
}

Result<LogRecord> DecodePayload(std::string_view payload) {
  auto view = DecodePayloadView(payload);
  if (!view.ok()) return view.status();
  return std::visit(
      [](auto& other) -> LogRecord {
        if constexpr (std::is_same_v<std::decay_t<decltype(other)>, EventView>) {
          return ToEvent(other);
        } else {
          return std::move(other);
        }
      },
      *view);
}

Result<RecordView> DecodePayloadView(std::string_view payload) {
  if (payload.size() < kMinPayloadBytes) return Status::Corruption("record shorter than its header");
  auto format = static_cast<uint8_t>(payload[0]);
  if (format != kRecordFormatVersion) {
    return Status::Corruption("record format version " + std::to_string(format) + " is not known");
  }
  auto kind = static_cast<RecordKind>(static_cast<uint8_t>(payload[1]));
  PayloadReader reader(payload.substr(2));
  switch (kind) {
    case RecordKind::kEvent:
      return DecodeEvent(reader);
    case RecordKind::kRejected:
      return DecodeRejected(reader);
    case RecordKind::kSchemaChange:
      return DecodeSchemaChange(reader);
    case RecordKind::kRetentionCut:
      return DecodeRetentionCut(reader);
    case RecordKind::kStreamBatch:
      return Status::Corruption("a stream batch holds records; it is not one");
  }
  return Status::Corruption("record kind " + std::to_string(static_cast<int>(payload[1])) + " is not known");
}

FrameCheck ReadFrame(std::string_view bytes, FrameView* frame) {
  if (bytes.size() < kFrameHeaderBytes) return FrameCheck::kIncomplete;
  uint32_t length = GetFixed32(bytes.data());
  uint32_t checksum = GetFixed32(bytes.data() + 4);
  if (length < kMinPayloadBytes || length > kMaxPayloadBytes) return FrameCheck::kCorrupt;
  if (bytes.size() - kFrameHeaderBytes < length) return FrameCheck::kIncomplete;
  std::string_view payload = bytes.substr(kFrameHeaderBytes, length);
  if (Crc32c(payload) != checksum) return FrameCheck::kCorrupt;
  frame->payload = payload;
  frame->frame_bytes = kFrameHeaderBytes + length;
  return FrameCheck::kComplete;
}

}  // namespace tally

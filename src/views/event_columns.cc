#include "views/event_columns.h"

#include <algorithm>
#include <array>
#include <limits>
#include <variant>

#include "log/record.h"

namespace tally {
namespace {

enum Stream : uint8_t {
  kKinds,
  kReceived,
  kTimestamps,
  kVersions,
  kLengths,
  kTypes,
  kUsers,
  kIds,
  kSessions,
  kProducts,
  kStores,
  kProperties,
  kVerbatim,
  kStreamCount,
};
enum Kind : uint8_t { kEventInColumns = 0, kKeptWhole = 1 };
constexpr int kMaxTimestampWidth = 8;

uint64_t Zigzag(int64_t value) {
  return (static_cast<uint64_t>(value) << 1) ^ static_cast<uint64_t>(value >> 63);
}
int64_t Unzigzag(uint64_t value) {
  return static_cast<int64_t>(value >> 1) ^ -static_cast<int64_t>(value & 1);
}

size_t SharedPrefix(std::string_view a, std::string_view b) {
  return static_cast<size_t>(
      std::mismatch(a.begin(), a.begin() + std::min(a.size(), b.size()), b.begin()).first - a.begin());
}

// As many bytes of `stream` as the next length in `lengths` says.
bool Sized(PayloadReader& lengths, PayloadReader& stream, std::string_view* value) {
  uint64_t count = 0;
  return lengths.Varint(&count) && stream.Take(count, value);
}

Status Damaged(const std::string& what) { return Status::Corruption("columns: " + what); }

}  // namespace

void EventColumnsWriter::Write(std::span<const std::string_view> payloads, std::string* out) {
  static_assert(kStreams == kStreamCount);
  std::array<std::string, kStreamCount>& streams = streams_;
  for (std::string& stream : streams) stream.clear();
  std::string& lengths = streams[kLengths];
  const auto put = [&](std::string_view value, Stream stream) {
    PutVarint(value.size(), &lengths);
    streams[stream].append(value);
  };
  std::vector<Millis>& timestamps = timestamps_;
  timestamps.clear();
  Millis received = 0;
  std::string_view previous_id;
  for (const std::string_view payload : payloads) {
    auto record = DecodePayloadView(payload);
    const EventView* event = record.ok() ? std::get_if<EventView>(&*record) : nullptr;
    // A payload that parses whole is the one AppendEventPayload writes exactly when it is as long: each of
    // its varints is as short as it can be or longer. (Not so for a value of 64 bits, whose tenth byte
    // reads only its lowest bit: the only field that can hold one, received_at, must be below 2^63.)
    if (event == nullptr || event->received_at < 0 || EventPayloadBytes(*event) != payload.size()) {
      streams[kKinds].push_back(static_cast<char>(kKeptWhole));
      put(payload, kVerbatim);
      continue;
    }
    streams[kKinds].push_back(static_cast<char>(kEventInColumns));
    timestamps.push_back(event->timestamp);
    PutVarint(Zigzag(static_cast<int64_t>(static_cast<uint64_t>(event->received_at) -
                                          static_cast<uint64_t>(received))),
              &streams[kReceived]);
    received = event->received_at;
    PutVarint(event->version, &streams[kVersions]);
    const size_t shared = SharedPrefix(previous_id, event->event_id);
    previous_id = event->event_id;
    PutVarint(shared, &lengths);
    put(event->event_id.substr(shared), kIds);
    put(event->type, kTypes);
    put(event->user_id, kUsers);
    put(event->session_id, kSessions);
    put(event->product_id, kProducts);
    put(event->store_id, kStores);
    put(event->properties_json, kProperties);
  }

  const auto [low, high] = std::minmax_element(timestamps.begin(), timestamps.end());
  const uint64_t base = timestamps.empty() ? 0 : static_cast<uint64_t>(*low);
  const uint64_t span = timestamps.empty() ? 0 : static_cast<uint64_t>(*high) - base;
  int width = 0;
  while (width < kMaxTimestampWidth && (span >> (8 * width)) != 0) ++width;
  std::string& planes = streams[kTimestamps];
  PutVarint(base, &planes);
  planes.push_back(static_cast<char>(width));
  for (int plane = width - 1; plane >= 0; --plane) {
    for (const Millis timestamp : timestamps)
      planes.push_back(static_cast<char>((static_cast<uint64_t>(timestamp) - base) >> (8 * plane)));
  }

  for (int stream = 0; stream + 1 < kStreamCount; ++stream) PutVarint(streams[stream].size(), out);
  for (const std::string& stream : streams) out->append(stream);
}

Status EventColumns::Read(std::string_view columns, uint32_t records) {
  records_.clear();
  ids_.clear();
  std::array<uint64_t, kStreamCount - 1> sizes{};
  PayloadReader header(columns);
  for (uint64_t& size : sizes) {
    if (!header.Varint(&size)) return Damaged("its header is cut");
  }
  std::array<PayloadReader, kStreamCount> streams;
  PayloadReader body(header.rest());
  for (size_t stream = 0; stream < sizes.size(); ++stream) {
    std::string_view content;
    if (!body.Take(sizes[stream], &content)) return Damaged("its streams pass its end");
    streams[stream] = PayloadReader(content);
  }
  streams[kVerbatim] = PayloadReader(body.rest());

  std::string_view kinds;
  if (!streams[kKinds].Take(records, &kinds) || !streams[kKinds].AtEnd())
    return Damaged("not one kind a record");
  const auto events = static_cast<uint64_t>(std::count(kinds.begin(), kinds.end(), kEventInColumns));
  uint64_t base = 0;
  std::string_view width_byte;
  PayloadReader& timestamps = streams[kTimestamps];
  if (!timestamps.Varint(&base) || !timestamps.Take(1, &width_byte))
    return Damaged("timestamps' base is cut");
  const auto width = static_cast<uint8_t>(width_byte[0]);
  if (width > kMaxTimestampWidth || timestamps.rest().size() != width * events)
    return Damaged("timestamps' planes do not fit the events");
  const std::string_view planes = timestamps.rest();

  records_.resize(records);
  uint64_t received = 0, event = 0;
  size_t previous_id_at = 0, previous_id_bytes = 0;
  for (uint32_t number = 0; number < records; ++number) {
    Record& record = records_[number];
    if (kinds[number] == kKeptWhole) {
      if (!Sized(streams[kLengths], streams[kVerbatim], &record.whole) ||
          record.whole.size() > kMaxPayloadBytes)
        return Fail("record " + std::to_string(number) + " is cut or longer than a record");
      record.kept_whole = true;
      continue;
    }
    if (kinds[number] != kEventInColumns) {
      return Fail("record " + std::to_string(number) + " is of no kind known");
    }
    EventView& view = record.event;
    uint64_t delta = 0, version = 0, shared = 0;
    std::string_view rest_of_id;
    PayloadReader& lengths = streams[kLengths];
    const bool whole =
        streams[kReceived].Varint(&delta) && streams[kVersions].Varint(&version) && lengths.Varint(&shared) &&
        shared <= previous_id_bytes && Sized(lengths, streams[kIds], &rest_of_id) &&
        Sized(lengths, streams[kTypes], &view.type) && Sized(lengths, streams[kUsers], &view.user_id) &&
        Sized(lengths, streams[kSessions], &view.session_id) &&
        Sized(lengths, streams[kProducts], &view.product_id) &&
        Sized(lengths, streams[kStores], &view.store_id) &&
        Sized(lengths, streams[kProperties], &view.properties_json);
    // As the log's reader refuses them: an event is never longer than a record, nor its id than an id.
    if (!whole || version > std::numeric_limits<uint32_t>::max() ||
        shared + rest_of_id.size() > kMaxEventIdBytes)
      return Fail("event " + std::to_string(number) + " is cut or out of range");
    received += static_cast<uint64_t>(Unzigzag(delta));
    uint64_t offset = 0;
    for (uint8_t plane = 0; plane < width; ++plane)
      offset = (offset << 8) | static_cast<uint8_t>(planes[plane * events + event]);
    ++event;
    view.received_at = static_cast<Millis>(received);
    view.timestamp = static_cast<Millis>(base + offset);
    view.version = static_cast<uint32_t>(version);
    // The id: its shared bytes from the previous id, then the rest (room made first: the shared bytes are
    // copied from ids_ itself).
    const size_t id_at = ids_.size();
    ids_.reserve(id_at + shared + rest_of_id.size());
    ids_.append(ids_.data() + previous_id_at, shared);
    ids_.append(rest_of_id);
    record.id_at = static_cast<uint32_t>(id_at);
    record.id_bytes = static_cast<uint32_t>(ids_.size() - id_at);
    previous_id_at = id_at;
    previous_id_bytes = record.id_bytes;
    EventView written = view;
    written.event_id = std::string_view(ids_).substr(id_at);
    if (EventPayloadBytes(written) > kMaxPayloadBytes)
      return Fail("event " + std::to_string(number) + " is longer than a record");
  }
  for (int stream = kReceived; stream < kStreamCount; ++stream) {
    if (stream != kTimestamps && !streams[stream].AtEnd()) {
      return Fail("its streams do not end together");
    }
  }
  return Status::Ok();
}

Status EventColumns::Fail(const std::string& what) {
  records_.clear();
  ids_.clear();
  return Damaged(what);
}

void EventColumns::AppendPayload(uint32_t record, std::string* out) const {
  const Record& found = records_[record];
  if (found.kept_whole) {
    out->append(found.whole);
    return;
  }
  EventView event = found.event;
  event.event_id = std::string_view(ids_).substr(found.id_at, found.id_bytes);
  AppendEventPayload(event, out);
}

}  // namespace tally

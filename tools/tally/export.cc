#include "tools/tally/export.h"

#include <absl/container/flat_hash_map.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <vector>

#include "common/json_writer.h"
#include "engine/engine.h"
#include "log/record.h"
#include "log/segment_log.h"
#include "query/event_json.h"

namespace tally {
namespace {

// The materializer's rule (views.cc), in log order: a version not above the one in force is a duplicate,
// a higher one is a correction that replaces it.
class CurrentEvents {
 public:
  Status Take(std::string_view payload) {
    if (IsStreamBatch(payload)) {
      // The inner records of a cluster node's stream message, decoded as the materializer decodes them.
      auto batch = ParseStreamBatch(payload);
      auto inner = batch.ok() ? IngestBatch::FromFrames(batch->frames) : Result<IngestBatch>(batch.status());
      if (!inner.ok()) return inner.status();
      for (const LogRecord& record : inner->records()) Take(record);
      return Status::Ok();
    }
    auto record = DecodePayload(payload);
    if (!record.ok()) return record.status();
    Take(*record);
    return Status::Ok();
  }
  absl::flat_hash_map<std::string, Event>& events() { return events_; }

 private:
  void Take(const LogRecord& record) {
    const auto* event = std::get_if<Event>(&record);
    if (event == nullptr) return;
    auto [at, inserted] = events_.try_emplace(event->event_id, *event);
    if (!inserted && event->version > at->second.version) at->second = *event;
  }
  absl::flat_hash_map<std::string, Event> events_;
};

void WriteCsvField(std::string_view text, std::ostream& out) {
  if (text.find_first_of(",\"\r\n") == std::string_view::npos) {
    out << text;
    return;
  }
  out << '"';
  for (const char c : text) {
    if (c == '"') out << '"';
    out << c;
  }
  out << '"';
}

}  // namespace

Result<uint64_t> ExportEvents(const ExportOptions& options, std::ostream& out) {
  CurrentEvents current;
  uint64_t records = 0;
  auto last_progress = std::chrono::steady_clock::now();
  SegmentLog::ScanResult scan;
  Status status = SegmentLog::Scan(
      options.data_dir + "/log",
      [&](uint64_t, LogPosition, std::string_view payload) {
        if (++records % 65536 == 0 &&
            std::chrono::steady_clock::now() - last_progress > std::chrono::seconds(2)) {
          std::fprintf(stderr, "tally export: %llu log records read\n",
                       static_cast<unsigned long long>(records));
          last_progress = std::chrono::steady_clock::now();
        }
        return current.Take(payload);
      },
      UINT64_MAX, &scan);
  if (!status.ok()) return status;
  std::vector<const Event*> selected;
  for (const auto& [id, event] : current.events()) {
    if (event.timestamp >= options.from && event.timestamp < options.to) selected.push_back(&event);
  }
  std::sort(selected.begin(), selected.end(), [](const Event* a, const Event* b) {
    return a->timestamp != b->timestamp ? a->timestamp < b->timestamp : a->event_id < b->event_id;
  });
  if (options.format == ExportFormat::kCsv) {
    out << "event_id,type,user_id,timestamp,received_at,version,session_id,product_id,store_id,"
           "properties\r\n";
  }
  for (const Event* event : selected) {
    if (options.format == ExportFormat::kNdjson) {
      JsonWriter json;
      BeginEventJson(*event, &json);
      json.EndObject();
      out << json.str() << '\n';
      continue;
    }
    for (std::string_view field : {std::string_view(event->event_id), std::string_view(event->type),
                                   std::string_view(event->user_id)}) {
      WriteCsvField(field, out);
      out << ',';
    }
    out << event->timestamp << ',' << event->received_at << ',' << event->version << ',';
    WriteCsvField(event->session_id, out);
    out << ',';
    WriteCsvField(event->product_id, out);
    out << ',';
    WriteCsvField(event->store_id, out);
    out << ',';
    WriteCsvField(event->properties_json, out);
    out << "\r\n";
  }
  out.flush();
  if (!out) return Status::IoError("export: writing the output failed");
  return static_cast<uint64_t>(selected.size());
}

}  // namespace tally

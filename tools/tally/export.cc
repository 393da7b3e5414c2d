#include "tools/tally/export.h"

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
  // The views decide which version of each event is current, exactly as in the server (duplicates and
  // corrections in log order, events without an id each their own); their rows point at the records.
  auto replay = ReplayLog(options.data_dir, UINT64_MAX, 1);
  if (!replay.ok()) return replay.status();
  if (!replay->stopped_at.empty()) std::fprintf(stderr, "tally export: %s\n", replay->stopped_at.c_str());
  const ShardViews& views = replay->views->shard(0);
  LogReader reader(std::move(replay->segment_paths), replay->first_segment_id);
  std::vector<Event> selected;
  auto last_progress = std::chrono::steady_clock::now();
  const auto& hours = views.hours();
  for (auto hour = hours.lower_bound(HourOf(options.from));
       hour != hours.end() && hour->first <= HourOf(options.to); ++hour) {
    for (const EventRow& row : hour->second.rows) {
      if (row.state != RowState::kCurrent || row.timestamp < options.from || row.timestamp >= options.to)
        continue;
      auto payload = reader.ReadPayload(LogPosition::Unpack(row.position));
      if (!payload.ok()) return payload.status();
      auto record = DecodePayload(*payload);
      if (!record.ok()) return record.status();
      selected.push_back(std::move(std::get<Event>(*record)));
      if (selected.size() % 65536 == 0 &&
          std::chrono::steady_clock::now() - last_progress > std::chrono::seconds(2)) {
        std::fprintf(stderr, "tally export: %zu events read\n", selected.size());
        last_progress = std::chrono::steady_clock::now();
      }
    }
  }
  // Rows are in hour order, each hour's in log order; the output is by (timestamp, event_id), and stable for
  // events without an id.
  std::stable_sort(selected.begin(), selected.end(), [](const Event& a, const Event& b) {
    return a.timestamp != b.timestamp ? a.timestamp < b.timestamp : a.event_id < b.event_id;
  });
  if (options.format == ExportFormat::kCsv) {
    out << "event_id,type,user_id,timestamp,received_at,version,session_id,product_id,store_id,"
           "properties\r\n";
  }
  for (const Event& row_event : selected) {
    const Event* event = &row_event;
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

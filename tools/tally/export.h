// tally export: every event of a time range, as the views hold it (duplicates dropped, corrections
// applied), read from a data directory's log without changing it (safe while tallyd runs).
#pragma once

#include <cstdint>
#include <ostream>
#include <string>

#include "tally/event.h"
#include "tally/status.h"

namespace tally {

enum class ExportFormat { kNdjson, kCsv };

struct ExportOptions {
  std::string data_dir;
  Millis from = 0;                      // inclusive, by event time
  Millis to = kMaxTimestampMillis + 1;  // exclusive
  ExportFormat format = ExportFormat::kNdjson;
};

// Writes the events in the range ordered by (timestamp, event_id); returns how many. Progress goes to
// standard error every few seconds on a long log.
Result<uint64_t> ExportEvents(const ExportOptions& options, std::ostream& out);

}  // namespace tally

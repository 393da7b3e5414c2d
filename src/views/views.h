// Everything queries read, built only by applying log records in log order (the materializer's target).
// Applying is deterministic: the same records in the same order give the same views on every server.
#pragma once

#include <cstdint>

#include "log/record.h"
#include "views/dictionary.h"
#include "views/hour_rollups.h"

namespace tally {

struct TakeHomeCounts {
  uint64_t unique_users = 0;
  uint64_t clicks = 0;
  uint64_t impressions = 0;
  bool operator==(const TakeHomeCounts&) const = default;
};

class Views {
 public:
  void Apply(const LogRecord& record);

  TakeHomeCounts TakeHomeHour(int64_t hour) const;

  uint64_t events_applied() const { return events_applied_; }
  uint64_t rejected_applied() const { return rejected_applied_; }
  size_t user_count() const { return users_.size(); }

 private:
  void ApplyEvent(const Event& event);

  Dictionary users_;
  Dictionary types_;
  HourRollups hours_;
  uint64_t events_applied_ = 0;
  uint64_t rejected_applied_ = 0;
};

}  // namespace tally

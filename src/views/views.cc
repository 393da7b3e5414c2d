#include "views/views.h"

#include "ingest/take_home.h"

namespace tally {

void Views::Apply(const LogRecord& record) {
  if (const auto* event = std::get_if<Event>(&record)) {
    ApplyEvent(*event);
  } else {
    ++rejected_applied_;
  }
}

void Views::ApplyEvent(const Event& event) {
  const uint32_t user = users_.Intern(event.user_id);
  const uint32_t type = types_.Intern(event.type);
  hours_.Add(HourOf(event.timestamp), type, user);
  ++events_applied_;
}

TakeHomeCounts Views::TakeHomeHour(int64_t hour) const {
  TakeHomeCounts counts;
  const HourRollup* rollup = hours_.Find(hour);
  if (rollup == nullptr) return counts;
  counts.unique_users = rollup->users.cardinality();
  if (auto click = types_.Find(kClickType)) counts.clicks = rollup->EventsOfType(*click);
  if (auto impression = types_.Find(kImpressionType)) counts.impressions = rollup->EventsOfType(*impression);
  return counts;
}

}  // namespace tally

#include "views/shard_views.h"

#include <algorithm>

#include "ingest/take_home.h"

namespace tally {
namespace {

// Where `row` sits in a timeline ordered by (event time, row).
std::vector<uint32_t>::iterator TimelinePosition(std::vector<uint32_t>& timeline,
                                                 const ChunkedVector<EventRow>& rows, uint32_t row) {
  return std::lower_bound(timeline.begin(), timeline.end(), row, [&](uint32_t a, uint32_t b) {
    return rows[a].timestamp != rows[b].timestamp ? rows[a].timestamp < rows[b].timestamp : a < b;
  });
}

}  // namespace

uint32_t ShardViews::Include(const Event& event, uint64_t position, RowState state) {
  const auto row_index = static_cast<uint32_t>(rows_.size());
  EventRow row{};
  row.timestamp = event.timestamp;
  row.position = position;
  row.user = users_.Intern(event.user_id);
  row.type = types_.Intern(event.type);
  row.product = event.product_id.empty() ? kNoDimension : products_.Intern(event.product_id);
  row.store = event.store_id.empty() ? kNoDimension : stores_.Intern(event.store_id);
  row.version = event.version;
  row.state = state;
  if (timelines_.size() < users_.size()) timelines_.resize(users_.size());
  if (type_stats_.size() < types_.size()) type_stats_.resize(types_.size());
  rows_.push_back(row);
  if (state == RowState::kCurrent) Count(row_index, event.received_at);
  return row_index;
}

void ShardViews::Count(uint32_t row_index, Millis received_at) {
  const EventRow& row = rows_[row_index];
  HourData& hour = hours_[HourOf(row.timestamp)];
  hour.rows.push_back(row_index);
  hour.all.Add(row.type, row.user);
  if (row.product != kNoDimension) hour.by_product[row.product].Add(row.type, row.user);
  if (row.store != kNoDimension) hour.by_store[row.store].Add(row.type, row.user);
  std::vector<uint32_t>& timeline = timelines_[row.user];
  // Most events arrive in time order for their user: one comparison with the newest, instead of a binary
  // search whose every step is a cache miss into the event table.
  if (timeline.empty() || rows_[timeline.back()].timestamp <= row.timestamp) {
    timeline.push_back(row_index);
  } else {
    timeline.insert(TimelinePosition(timeline, rows_, row_index), row_index);
  }
  TypeStats& stats = type_stats_[row.type];
  if (!stats.seen || received_at < stats.first_seen) stats.first_seen = received_at;
  if (!stats.seen || received_at > stats.last_seen) stats.last_seen = received_at;
  stats.seen = true;
  ++stats.events;
}

void ShardViews::Retract(uint32_t row_index) {
  EventRow& row = rows_[row_index];
  std::vector<uint32_t>& timeline = timelines_[row.user];
  timeline.erase(TimelinePosition(timeline, rows_, row_index));

  // What the user still has in the same hour decides whether they leave each cell.
  const int64_t hour_index = HourOf(row.timestamp);
  const Millis hour_start = hour_index * kMillisPerHour;
  bool stays = false, stays_in_type = false;
  bool stays_in_product = false, stays_in_product_type = false;
  bool stays_in_store = false, stays_in_store_type = false;
  auto first = std::lower_bound(timeline.begin(), timeline.end(), hour_start,
                                [&](uint32_t r, Millis t) { return rows_[r].timestamp < t; });
  for (auto it = first; it != timeline.end() && rows_[*it].timestamp < hour_start + kMillisPerHour; ++it) {
    const EventRow& other = rows_[*it];
    const bool same_type = other.type == row.type;
    stays = true;
    stays_in_type |= same_type;
    if (row.product != kNoDimension && other.product == row.product) {
      stays_in_product = true;
      stays_in_product_type |= same_type;
    }
    if (row.store != kNoDimension && other.store == row.store) {
      stays_in_store = true;
      stays_in_store_type |= same_type;
    }
  }
  HourData& hour = hours_[hour_index];
  hour.all.Remove(row.type, row.user, stays, stays_in_type);
  if (row.product != kNoDimension) {
    hour.by_product[row.product].Remove(row.type, row.user, stays_in_product, stays_in_product_type);
  }
  if (row.store != kNoDimension) {
    hour.by_store[row.store].Remove(row.type, row.user, stays_in_store, stays_in_store_type);
  }
  --type_stats_[row.type].events;
  row.state = RowState::kSuperseded;
}

TakeHomeCounts ShardViews::TakeHomeHour(int64_t hour) const {
  TakeHomeCounts counts;
  auto it = hours_.find(hour);
  if (it == hours_.end()) return counts;
  const Cell& cell = it->second.all;
  counts.unique_users = cell.users.cardinality();
  if (auto click = types_.Find(kClickType)) counts.clicks = cell.EventsOfType(*click);
  if (auto impression = types_.Find(kImpressionType)) counts.impressions = cell.EventsOfType(*impression);
  return counts;
}

}  // namespace tally

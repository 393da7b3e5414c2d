#include "views/shard_views.h"

#include <algorithm>
#include <iterator>
#include <utility>

#include "common/hasher.h"
#include "ingest/take_home.h"
#include "views/sorted_runs.h"

namespace tally {
namespace {

// What the digest of an hour's rows (ShardViews::RowsDigest) takes from each row.
void HashRowForDigest(const EventRow& row, Hasher* hasher) {
  hasher->Value(row.position);
  hasher->Value(row.state);
}

}  // namespace
void UserRows::Merge() const {
  if (recent_.empty()) return;
  std::vector<uint64_t> recent(recent_.begin(), recent_.end());
  std::sort(recent.begin(), recent.end());
  Notes merged;
  std::merge(merged_.begin(), merged_.end(), recent.begin(), recent.end(), std::back_inserter(merged));
  merged_ = std::move(merged);
  recent_ = Notes();
}

void ShardViews::Include(const EventView& event, uint32_t user, uint64_t position, RowState state) {
  EventRow row{};
  row.timestamp = event.timestamp;
  row.position = position;
  row.user = user;
  row.type = types_.Intern(event.type);
  row.product = event.product_id.empty() ? kNoDimension : products_.Intern(event.product_id);
  row.store = event.store_id.empty() ? kNoDimension : stores_.Intern(event.store_id);
  row.version = event.version;
  row.state = state;
  if (type_stats_.size() < types_.size()) type_stats_.resize(types_.size());
  if (state == RowState::kCurrent) {
    TypeStats& stats = type_stats_[row.type];
    if (!stats.seen || event.received_at < stats.first_seen) stats.first_seen = event.received_at;
    if (!stats.seen || event.received_at > stats.last_seen) stats.last_seen = event.received_at;
    stats.seen = true;
    ++stats.events;
  }
  if (staged_rows_.empty()) staged_rows_.reserve(kStagedRowsLimit);
  staged_rows_.push_back(row);
  if (staged_rows_.size() >= kStagedRowsLimit) FoldStagedRows();
}

// Hours fit in 32 bits (the log refuses a timestamp outside [0, kMaxTimestampMillis]).
static_assert(HourOf(kMaxTimestampMillis) <= UINT32_MAX);

void ShardViews::FoldStagedRows() const {
  if (staged_rows_.empty()) return;
  // Sorted by hour, each hour's in log order (as staged): the hour's rows are kept so.
  std::vector<uint64_t> order;
  order.reserve(staged_rows_.size());
  for (size_t i = 0; i < staged_rows_.size(); ++i)
    order.push_back(static_cast<uint64_t>(HourOf(staged_rows_[i].timestamp)) << 32 | i);
  ForEachSortedRun(order, [&](uint32_t hour, std::span<const uint64_t> staged) {
    HourData& data = hours_[hour];
    // Rows are staged and folded within one sealing pass (CollectSealJobs folds before it starts another).
    data.changed_pass = seal_pass_;
    for (const uint64_t note : staged) {
      const EventRow& row = staged_rows_[static_cast<uint32_t>(note)];
      if (row.state == RowState::kCurrent) {
        data.all.Add(row.type, row.user);
        data.by_user.Add(row.user, static_cast<uint32_t>(data.rows.size()));
      }
      data.rows.push_back(row);
    }
  });
  staged_rows_.clear();
}

std::optional<int64_t> ShardViews::FoldPending(int64_t first_hour, size_t hours) const {
  FoldStagedRows();
  auto it = hours_.lower_bound(first_hour);
  for (; it != hours_.end() && hours > 0; ++it, --hours) it->second.all.Fold();
  if (it == hours_.end()) return std::nullopt;
  return it->first;
}

std::optional<RowAt> ShardViews::Find(int64_t hour, uint64_t position) const {
  const auto& hours = this->hours();
  auto it = hours.find(hour);
  if (it == hours.end()) return std::nullopt;
  const std::optional<uint32_t> index = it->second.IndexOf(position);
  if (!index) return std::nullopt;
  return RowAt{hour, *index};
}

uint64_t ShardViews::RowCount() const {
  uint64_t rows = 0;
  for (const auto& [hour, data] : hours()) rows += data.rows.size();
  return rows;
}

void ShardViews::Retract(int64_t hour_index, uint64_t position) {
  FoldStagedRows();
  // Not found: retention dropped it from every view already (with its hour, which a later event may have
  // made again), and the correction that replaces it counts as the event.
  const auto hour = hours_.find(hour_index);
  if (hour == hours_.end()) return;
  HourData& data = hour->second;
  const std::optional<uint32_t> index = data.IndexOf(position);
  if (!index || data.rows[*index].state != RowState::kCurrent) return;
  EventRow& row = data.rows[*index];
  // What the user still has in the same hour decides whether they leave the hour's cell and its seal's
  // groups.
  const OtherRows others = OtherRowsOf(*index, data);
  data.all.Remove(row.type, row.user, others.stays, others.stays_in_type);
  // A part of the seal counts the row: masked from its answers until the part is sealed again
  // (CollectSealJobs), not at once.
  if (others.in_seal) data.masked.push_back(others.masked);
  ++data.retractions;
  data.changed_pass = seal_pass_;
  --type_stats_[row.type].events;
  row.state = RowState::kSuperseded;
  data.rows.NoteWritten(*index);
}

ShardViews::OtherRows ShardViews::OtherRowsOf(uint32_t index, const HourData& data) {
  const EventRow& row = data.rows[index];
  const std::optional<uint32_t> part = data.PartOf(index);
  OtherRows others;
  others.in_seal = part.has_value();
  others.masked = {index, part.value_or(0), row.product != kNoDimension, row.store != kNoDimension};
  const uint32_t part_first = part ? data.parts[*part].rows.first : 0;
  const uint32_t part_end = part ? data.parts[*part].rows.end : 0;
  data.by_user.ForEachOf(row.user, [&](uint32_t other) {
    const EventRow& other_row = data.rows[other];
    if (other == index || other_row.state != RowState::kCurrent || other_row.user != row.user) return;
    others.stays = true;
    if (other_row.type != row.type) return;
    others.stays_in_type = true;
    if (!part || other < part_first || other >= part_end) return;
    if (other_row.product == row.product) others.masked.leaves_product_group = false;
    if (other_row.store == row.store) others.masked.leaves_store_group = false;
  });
  return others;
}

void ShardViews::DropHoursBefore(int64_t first_kept_hour) {
  FoldStagedRows();
  first_kept_hour_ = std::max(first_kept_hour_, first_kept_hour);
  const auto end = hours_.lower_bound(first_kept_hour_);
  for (auto it = hours_.begin(); it != end; ++it) {
    for (const EventRow& row : it->second.rows) {
      if (row.state == RowState::kCurrent) --type_stats_[row.type].events;
    }
  }
  hours_.erase(hours_.begin(), end);
}

Result<size_t> ShardViews::MoveColdChunks(const std::shared_ptr<ColdChunkFile>& cold) {
  FoldStagedRows();
  size_t moved = 0;
  // An hour's rows are written again only by a retraction: all but the chunk being filled move, and that
  // one too once the hour is quiet (there are hundreds of hours, each with a chunk of 20 KiB). A sealed
  // hour's rows by user only grow if a late event comes. Its cell's user sets are frozen while the seal
  // covers every row, or while it waits quiet to be merged, with a few late or retracted rows beside its
  // parts (a late event thaws them, and they wait until the hour is quiet again: an hour that keeps
  // receiving late events is not copied back and forth).
  for (auto& [hour, data] : hours_) {
    const bool quiet = data.SealedWhole() || data.WaitsToMerge();
    auto rows = data.rows.MoveToCold(data.rows.size(), cold, quiet);
    if (!rows.ok()) return rows.status();
    moved += *rows;
    // A quiet hour's in one run, moved whole; the others' whole chunks (written once each).
    if (quiet) data.by_user.Merge();
    for (UserRows::Notes* notes : {&data.by_user.mutable_merged(), &data.by_user.mutable_recent()}) {
      auto by_user = notes->MoveToCold(notes->size(), cold, quiet);
      if (!by_user.ok()) return by_user.status();
      moved += *by_user;
    }
    if (quiet) {
      auto cell = data.all.Freeze(cold);
      if (!cell.ok()) return cell.status();
      moved += *cell ? 1 : 0;
    }
  }
  return moved;
}

std::optional<uint64_t> ShardViews::FirstKeptPosition() const {
  std::optional<uint64_t> first;
  for (const auto& [hour, data] : hours()) {
    if (!data.rows.empty() && (!first || data.rows[0].position < *first)) first = data.rows[0].position;
  }
  return first;
}

std::vector<RowAt> ShardViews::Timeline(uint32_t user) const {
  struct Found {
    Millis timestamp;
    uint64_t position;
    RowAt at;
  };
  std::vector<Found> found;
  // The hours whose cell has the user: the rows by user of a hour without them are not read.
  for (const auto& [hour_key, hour_data] : hours()) {
    // (Named again: a structured binding is not captured by clang's C++20.)
    const int64_t hour = hour_key;
    const HourData& data = hour_data;
    if (!data.all.users().contains(user)) continue;
    data.by_user.ForEachOf(user, [&](uint32_t index) {
      const EventRow& row = data.rows[index];
      if (row.state == RowState::kCurrent && row.user == user)
        found.push_back({row.timestamp, row.position, {hour, index}});
    });
  }
  std::sort(found.begin(), found.end(), [](const Found& a, const Found& b) {
    return a.timestamp != b.timestamp ? a.timestamp < b.timestamp : a.position < b.position;
  });
  std::vector<RowAt> timeline;
  timeline.reserve(found.size());
  for (const Found& row : found) timeline.push_back(row.at);
  return timeline;
}

TakeHomeCounts ShardViews::TakeHomeHour(int64_t hour) const {
  FoldStagedRows();
  TakeHomeCounts counts;
  auto it = hours_.find(hour);
  if (it == hours_.end()) return counts;
  const Cell& cell = it->second.all;
  counts.unique_users = cell.users().cardinality();
  if (auto click = types_.Find(kClickType)) counts.clicks = cell.EventsOfType(*click);
  if (auto impression = types_.Find(kImpressionType)) counts.impressions = cell.EventsOfType(*impression);
  return counts;
}

void SealJob::Add(const EventRow& row) {
  if (columns) {
    columns->Add(row);  // (its entries are read from the columns, off the lock: Build)
    return;
  }
  AddEntries(row);
}

void SealJob::AddEntries(const EventRow& row) {
  if (row.state != RowState::kCurrent) return;
  if (row.product != kNoDimension) by_product.push_back({row.product, row.type, row.user});
  if (row.store != kNoDimension) by_store.push_back({row.store, row.type, row.user});
}

void SealJob::Build() {
  auto built = std::make_shared<SealedHour>();
  if (columns) {
    auto bytes = std::make_shared<const std::string>(columns->Finish());
    columns.reset();
    auto read = RowColumns::FromBytes(*bytes, bytes, hour, rows - first);
    if (!read.ok()) return;  // (written just now, they hold together: not to be installed otherwise)
    built->rows = std::move(*read);
    for (uint32_t place = 0; place < built->rows.rows(); ++place) AddEntries(built->rows.Row(place));
  }
  built->by_product = DimensionIndex::Build(std::move(by_product));
  built->by_store = DimensionIndex::Build(std::move(by_store));
  sealed = std::move(built);
}

std::vector<SealJob> ShardViews::CollectSealJobs(uint32_t quiet_passes, uint32_t busy_rows,
                                                 uint64_t max_rows) {
  FoldStagedRows();  // (with the pass its rows were counted in)
  const uint64_t pass = ++seal_pass_;
  std::vector<SealJob> jobs;
  uint64_t rows_taken = 0;
  for (auto& [hour, data] : hours_) {
    if (rows_taken >= max_rows) break;
    const size_t unsealed = data.RowsBesideSeal();
    if (unsealed == 0 && data.parts.size() <= 1) continue;
    const bool quiet = data.changed_pass + quiet_passes < pass;
    const bool busy = busy_rows > 0 && unsealed >= std::max<size_t>(busy_rows, data.sealed_rows());
    // A quiet hour's pending users go into its bitmaps now, and their buffer's memory back.
    if (quiet) data.all.Settle();
    if (!(quiet || busy)) continue;
    // The first row of the part to seal: after the last parts it merges with (0: every part, and the
    // whole hour sealed anew).
    uint32_t first = 0;
    if (data.sealed() && !busy) {
      const uint32_t late_rows = static_cast<uint32_t>(data.rows.size()) - data.sealed_rows();
      if (unsealed * kLateRowsShare <= data.sealed_rows()) {
        // In parts, or with a few rows beside them: merged into one after the long quiet.
        if (data.changed_pass + uint64_t{quiet_passes} * kLateRowsQuietFactor >= pass) {
          data.waiting_pass = pass;
          continue;
        }
      } else if (late_rows > 0 && data.masked.size() * kLateRowsShare <= data.sealed_rows()) {
        uint64_t merged = late_rows;
        auto kept = static_cast<uint32_t>(data.parts.size());
        while (kept > 0 && merged * 2 >= data.parts[kept - 1].rows.count())
          merged += data.parts[--kept].rows.count();
        first = kept == data.parts.size() ? data.sealed_rows() : data.parts[kept].rows.first;
        if (first > 0) data.waiting_pass = pass;  // in parts once it is installed: merged after the quiet
      }
    }
    SealJob job;
    job.hour = hour;
    job.first = first;
    job.rows = static_cast<uint32_t>(data.rows.size());
    job.retractions = data.retractions;
    for (const SealedPart& part : data.parts) {
      if (part.rows.first >= first) job.replaced_firsts.push_back(part.rows.first);
      // (Its events are none if it was sealed in memory only: its file could not be written.)
      if (part.rows.first == first && part.index->events.records() == part.rows.count())
        job.previous = part.index;
    }
    job.columns.emplace(
        hour, job.rows - first,
        RowBounds{static_cast<uint32_t>(users_.size()), static_cast<uint32_t>(types_.size()),
                  static_cast<uint32_t>(products_.size()), static_cast<uint32_t>(stores_.size()),
                  data.rows[first].position, data.rows[job.rows - 1].position});
    // One pass over the rows, under the shard's lock: the copy and the digest (RowsDigest) together.
    Hasher digest;
    for (uint32_t i = first; i < job.rows; ++i) {
      const EventRow& row = data.rows[i];
      HashRowForDigest(row, &digest);
      job.Add(row);
    }
    job.rows_digest = digest.Finish();
    rows_taken += job.rows - first;
    jobs.push_back(std::move(job));
  }
  return jobs;
}

std::vector<bool> ShardViews::InstallSealed(std::span<SealJob> jobs) {
  std::vector<bool> installed(jobs.size());
  for (size_t i = 0; i < jobs.size(); ++i) {
    SealJob& job = jobs[i];
    auto it = hours_.find(job.hour);
    if (it == hours_.end() || it->second.retractions != job.retractions || job.sealed == nullptr) continue;
    HourData& data = it->second;
    // (Built from the rows as they are: no retraction since the copy.) A part after others must begin
    // where one of them begins, or where they end.
    if (job.first > 0 && job.first != data.sealed_rows() &&
        std::none_of(data.parts.begin(), data.parts.end(),
                     [&](const SealedPart& part) { return part.rows.first == job.first; })) {
      continue;
    }
    data.ReplacePartsFrom({job.part(), std::move(job.sealed)});
    installed[i] = true;
  }
  return installed;
}

void ShardViews::SealHours(uint32_t quiet_passes, uint32_t busy_rows) {
  std::vector<SealJob> jobs = CollectSealJobs(quiet_passes, busy_rows);
  for (SealJob& job : jobs) job.Build();
  InstallSealed(jobs);
}

uint64_t ShardViews::RowsDigest(int64_t hour, uint32_t first, uint32_t end) const {
  const auto& hours = this->hours();
  auto it = hours.find(hour);
  return DigestOfRows(it == hours.end() ? nullptr : &it->second, first, end);
}

uint64_t ShardViews::DigestOfRows(const HourData* data, uint32_t first, uint32_t end) {
  Hasher digest;
  if (data != nullptr) {
    end = std::min<uint32_t>(end, static_cast<uint32_t>(data->rows.size()));
    for (uint32_t i = first; i < end; ++i) HashRowForDigest(data->rows[i], &digest);
  }
  return digest.Finish();
}

SealedFileFit ShardViews::HowSealedFileFits(int64_t hour, const PartRows& part,
                                            const SealedHour& sealed) const {
  const auto& hours = this->hours();
  auto it = hours.find(hour);
  if (it == hours.end() || part.first >= part.end || it->second.rows.size() < part.end ||
      (part.first > 0 && part.first != it->second.sealed_rows()) ||
      !sealed.by_product.Fits(products_.size(), types_.size()) ||
      !sealed.by_store.Fits(stores_.size(), types_.size()) ||
      !sealed.rows.Fits(users_.size(), types_.size(), products_.size(), stores_.size())) {
    return SealedFileFit::kNo;
  }
  // The checkpoint's views held this part, with the rows retracted since then noted as its mask (the
  // digest is of the rows as they were sealed); only a retraction changes a row of an hour that is kept
  // (retention drops whole hours), and none came after the checkpoint.
  const HourData::NotedSeal& noted = it->second.noted_seal;
  if (noted.retractions == it->second.retractions &&
      std::find(noted.parts.begin(), noted.parts.end(), part) != noted.parts.end()) {
    return SealedFileFit::kAsNoted;
  }
  return DigestOfRows(&it->second, part.first, part.end) == part.digest ? SealedFileFit::kByDigest
                                                                        : SealedFileFit::kNo;
}

void ShardViews::InstallFittingSealedFile(int64_t hour, SealedPart part, SealedFileFit fit) {
  HourData& data = hours_.at(hour);
  const PartRows rows = part.rows;
  // A digest that fits says the rows are as they were sealed; a noted part, that they are as the
  // checkpoint saw them, with its mask.
  data.ReplacePartsFrom(std::move(part));
  if (fit != SealedFileFit::kAsNoted) return;
  for (uint32_t row : data.noted_seal.masked_rows) {
    if (row >= rows.first && row < rows.end) data.masked.push_back(OtherRowsOf(row, data).masked);
  }
}

std::optional<SealedEventAt> ShardViews::SealedEventOf(RowAt at) const {
  const auto& hours = this->hours();
  auto it = hours.find(at.hour);
  if (it == hours.end()) return std::nullopt;
  const HourData& data = it->second;
  const std::optional<uint32_t> part_index = data.PartOf(at.index);
  if (!part_index) return std::nullopt;
  const SealedPart& part = data.parts[*part_index];
  // A part's records are its rows', in the hour's order.
  const uint32_t record = at.index - part.rows.first;
  if (record >= part.index->events.records()) return std::nullopt;
  return SealedEventAt{at.hour, part.rows.first, part.index, record};
}

std::vector<uint32_t> ShardViews::Unseal(int64_t hour, const SealedHour* sealed) {
  FoldStagedRows();
  auto it = hours_.find(hour);
  std::vector<uint32_t> first_rows;
  if (it == hours_.end() ||
      std::none_of(it->second.parts.begin(), it->second.parts.end(),
                   [&](const SealedPart& part) { return part.index.get() == sealed; })) {
    return first_rows;
  }
  for (const SealedPart& part : it->second.parts) first_rows.push_back(part.rows.first);
  it->second.DropSeal();
  it->second.noted_seal = {};  // (a checkpoint must not note the damaged file's seal)
  return first_rows;
}

SealedHour ShardViews::BuildSealedHour(int64_t hour) const {
  FoldStagedRows();
  SealJob job;
  if (auto it = hours_.find(hour); it != hours_.end()) {
    for (const EventRow& row : it->second.rows) job.Add(row);
  }
  job.Build();
  return *job.sealed;
}

SealMask::SealMask(const HourData& data, uint32_t part, bool by_product) {
  for (const MaskedRow& masked : data.masked) {
    if (masked.part != part) continue;
    const EventRow& row = data.rows[masked.row];
    const uint32_t key = by_product ? row.product : row.store;
    if (key == kNoDimension) continue;
    entries_.push_back(
        {key, row.type, row.user, by_product ? masked.leaves_product_group : masked.leaves_store_group});
  }
  std::sort(entries_.begin(), entries_.end());
}

std::span<const SealMask::Entry> SealMask::Of(uint32_t key, uint32_t type) const {
  const auto first = std::lower_bound(entries_.begin(), entries_.end(), Entry{key, type, 0, false});
  auto last = first;
  while (last != entries_.end() && last->key == key && last->type == type) ++last;
  return {first, last};
}

uint64_t SealMask::Events(uint32_t key, const DimensionIndex::Group& group) const {
  return group.events - Of(key, group.type).size();
}

void SealMask::AddUsers(uint32_t key, const DimensionIndex::Group& group, Roaring* users) const {
  const std::span<const Entry> masked = Of(key, group.type);
  if (std::none_of(masked.begin(), masked.end(), [](const Entry& entry) { return entry.leaves; })) {
    users->addMany(group.users.size(), group.users.data());
    return;
  }
  // Both sorted by user: a user leaves if any of their masked rows says so (the last one retracted does).
  auto next = masked.begin();
  for (uint32_t user : group.users) {
    bool leaves = false;
    for (; next != masked.end() && next->user <= user; ++next) leaves |= next->user == user && next->leaves;
    if (!leaves) users->add(user);
  }
}

}  // namespace tally

#include "query/stats.h"

#include <algorithm>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include <absl/container/flat_hash_map.h>

namespace tally {
namespace {

constexpr Millis kMillisPerDay = 24 * kMillisPerHour;

// A filter resolved to dictionary indices; `matches_nothing` when a named value was never seen.
struct ResolvedFilter {
  std::optional<uint32_t> type, product, store;
  bool matches_nothing = false;

  bool Matches(const EventRow& row) const {
    return (!type || row.type == *type) && (!product || row.product == *product) &&
           (!store || row.store == *store);
  }
};

ResolvedFilter Resolve(const ShardViews& views, const EventFilter& filter) {
  ResolvedFilter resolved;
  auto resolve = [&](const std::optional<std::string>& name, const Dictionary& dictionary,
                     std::optional<uint32_t>* out) {
    if (!name) return;
    *out = dictionary.Find(*name);
    if (!*out) resolved.matches_nothing = true;
  };
  resolve(filter.type, views.types(), &resolved.type);
  resolve(filter.product_id, views.products(), &resolved.product);
  resolve(filter.store_id, views.stores(), &resolved.store);
  return resolved;
}

// Counts by type index and the users, for the events of one hour (or bucket) that fall in the range and
// match. A cell's whole user sets are kept as pointers, read where they are (the views' locks are held
// until the answer is summarized), and put together once per bucket: copying each hour's set into the
// bucket's and the total's took a month's hourly stats 0.22 s at 100 M events, most of it copying.
struct Partial {
  absl::flat_hash_map<uint32_t, uint64_t> events_by_type;
  Roaring users;                          // added one by one: rows scanned, a sealed index's groups
  std::vector<const Roaring*> user_sets;  // the views' own sets, added whole

  void AddCell(const Cell& cell, std::optional<uint32_t> type) {
    if (type) {
      const uint64_t events = cell.EventsOfType(*type);
      if (events > 0) events_by_type[*type] += events;
      if (const Roaring* users_of_type = cell.UsersOfType(*type)) user_sets.push_back(users_of_type);
      return;
    }
    for (uint32_t t = 0; t < cell.events_by_type.size(); ++t) {
      if (cell.events_by_type[t] > 0) events_by_type[t] += cell.events_by_type[t];
    }
    user_sets.push_back(&cell.users());
  }
  // Adds another part's events and users (its sets by pointer: they are the views').
  void Add(const Partial& other) {
    for (const auto& [type, events] : other.events_by_type) events_by_type[type] += events;
    users |= other.users;
    user_sets.insert(user_sets.end(), other.user_sets.begin(), other.user_sets.end());
  }
  // How many users are in `users` and the sets together.
  uint64_t UniqueUsers() const {
    if (user_sets.empty()) return users.cardinality();
    if (user_sets.size() == 1 && users.isEmpty()) return user_sets[0]->cardinality();
    std::vector<const roaring_bitmap_t*> all;
    all.reserve(user_sets.size() + 1);
    for (const Roaring* set : user_sets) all.push_back(&set->roaring);
    if (!users.isEmpty()) all.push_back(&users.roaring);
    // A lazy union of them all at once, its containers' cardinalities mended at the end.
    return Roaring(roaring_bitmap_or_many(all.size(), all.data())).cardinality();
  }
  // The key at `at` of a sealed index, less what `mask` takes off it.
  void AddIndexed(const DimensionIndex& index, size_t at, std::optional<uint32_t> type,
                  const SealMask& mask) {
    const uint32_t key = index.key_at(at);
    index.ForEachGroup(at, [&](const DimensionIndex::Group& group) {
      if (type && group.type != *type) return;
      const uint64_t events = mask.Events(key, group);
      if (events == 0) return;  // (every event of the group retracted: so are its users)
      events_by_type[group.type] += events;
      mask.AddUsers(key, group, &users);
    });
  }
};

bool CoversWholeHour(int64_t hour, Millis from, Millis to) {
  return hour * kMillisPerHour >= from && (hour + 1) * kMillisPerHour <= to;
}

// Calls `visit(row)` for the current rows among the hour's rows[first, end) within [from, to).
template <typename Visit>
void ScanRows(const HourData& data, uint32_t first, Millis from, Millis to, Visit&& visit) {
  for (size_t i = first; i < data.rows.size(); ++i) {
    const EventRow& row = data.rows[i];
    if (row.state == RowState::kCurrent && row.timestamp >= from && row.timestamp < to) visit(row);
  }
}

// The events of `hour` within [from, to) matching `filter`: from the hour's cell or its sealed parts when
// the hour is whole and they answer the filter, otherwise (and for rows added after the seal) by scanning
// the hour's rows. Exact either way.
void AddHour(int64_t hour, const HourData& data, Millis from, Millis to, const ResolvedFilter& filter,
             Partial* partial) {
  uint32_t first_unsealed = 0;
  if (CoversWholeHour(hour, from, to) && !(filter.product && filter.store)) {
    if (!filter.product && !filter.store) {
      partial->AddCell(data.all, filter.type);
      return;
    }
    for (uint32_t part = 0; part < data.parts.size(); ++part) {
      const SealedHour& sealed = *data.parts[part].index;
      const DimensionIndex& index = filter.product ? sealed.by_product : sealed.by_store;
      if (auto at = index.Find(filter.product ? *filter.product : *filter.store)) {
        partial->AddIndexed(index, *at, filter.type, SealMask(data, part, filter.product.has_value()));
      }
    }
    first_unsealed = data.sealed_rows();
  }
  ScanRows(data, first_unsealed, from, to, [&](const EventRow& row) {
    if (!filter.Matches(row)) return;
    ++partial->events_by_type[row.type];
    partial->users.add(row.user);
  });
}

Aggregate Summarize(const ShardViews& views, const Partial& partial) {
  Aggregate aggregate;
  for (const auto& [type, events] : partial.events_by_type) {
    aggregate.events += events;
    aggregate.by_type.emplace_back(views.types().KeyOf(type), events);
  }
  std::sort(aggregate.by_type.begin(), aggregate.by_type.end());
  aggregate.unique_users = partial.UniqueUsers();
  return aggregate;
}

Millis BucketStart(Millis time, Bucket bucket, Millis from) {
  switch (bucket) {
    case Bucket::kHour:
      return time - time % kMillisPerHour;
    case Bucket::kDay:
      return time - time % kMillisPerDay;
    case Bucket::kAll:
      return from;
  }
  return from;
}

Millis BucketEnd(Millis start, Bucket bucket, Millis to) {
  switch (bucket) {
    case Bucket::kHour:
      return std::min(start + kMillisPerHour, to);
    case Bucket::kDay:
      return std::min(start + kMillisPerDay, to);
    case Bucket::kAll:
      return to;
  }
  return to;
}

// One shard's answer: every bucket of the range, as ComputeStats gives them.
StatsResult ComputeShardStats(const ShardViews& views, const StatsRequest& request) {
  const Millis first_start = BucketStart(request.from, request.bucket, request.from);
  const Millis width = request.bucket == Bucket::kHour ? kMillisPerHour : kMillisPerDay;
  const ResolvedFilter filter = Resolve(views, request.filter);
  // Buckets by start time; each bucket's partial results are merged as hours are visited in order.
  std::map<Millis, Partial> partials;
  Partial total;
  if (!filter.matches_nothing) {
    const auto& hours = views.hours();
    for (auto it = hours.lower_bound(HourOf(request.from));
         it != hours.end() && it->first * kMillisPerHour < request.to; ++it) {
      Partial hour_partial;
      AddHour(it->first, it->second, request.from, request.to, filter, &hour_partial);
      if (hour_partial.events_by_type.empty()) continue;
      partials[BucketStart(std::max(it->first * kMillisPerHour, request.from), request.bucket, request.from)]
          .Add(hour_partial);
      total.Add(hour_partial);
    }
  }
  StatsResult result;
  result.total = Summarize(views, total);
  for (Millis start = first_start; start < request.to;) {
    StatsBucket bucket;
    bucket.start = std::max(start, request.from);
    bucket.end = BucketEnd(start, request.bucket, request.to);
    if (auto it = partials.find(BucketStart(bucket.start, request.bucket, request.from));
        it != partials.end()) {
      // (One bucket for the whole range holds what the total does.)
      bucket.aggregate = request.bucket == Bucket::kAll ? result.total : Summarize(views, it->second);
    }
    result.buckets.push_back(std::move(bucket));
    if (request.bucket == Bucket::kAll) break;
    start += width;
  }
  return result;
}

// Adds a shard's aggregate to the sum of the others'. Shards hold disjoint users: unique users add up.
void MergeInto(const Aggregate& shard, Aggregate* merged) {
  merged->events += shard.events;
  merged->unique_users += shard.unique_users;
  std::vector<std::pair<std::string, uint64_t>> by_type;
  by_type.reserve(merged->by_type.size() + shard.by_type.size());
  auto a = merged->by_type.begin();
  auto b = shard.by_type.begin();
  while (a != merged->by_type.end() || b != shard.by_type.end()) {
    if (b == shard.by_type.end() || (a != merged->by_type.end() && a->first < b->first)) {
      by_type.push_back(std::move(*a++));
    } else if (a == merged->by_type.end() || b->first < a->first) {
      by_type.push_back(*b++);
    } else {
      by_type.emplace_back(std::move(a->first), a->second + b->second);
      ++a, ++b;
    }
  }
  merged->by_type = std::move(by_type);
}

}  // namespace

Result<StatsResult> ComputeStats(const Views& views, const StatsRequest& request) {
  const Millis first_start = BucketStart(request.from, request.bucket, request.from);
  const Millis width = request.bucket == Bucket::kHour ? kMillisPerHour : kMillisPerDay;
  if (request.bucket != Bucket::kAll &&
      (request.to - first_start + width - 1) / width > static_cast<Millis>(kMaxBuckets)) {
    return Status::InvalidArgument("to", "the range needs more than " + std::to_string(kMaxBuckets) +
                                             " buckets; use a coarser bucket or a shorter range");
  }
  StatsResult result = ComputeShardStats(views.shard(0), request);
  for (uint32_t shard = 1; shard < views.shard_count(); ++shard) {
    StatsResult part = ComputeShardStats(views.shard(shard), request);
    for (size_t i = 0; i < result.buckets.size(); ++i)
      MergeInto(part.buckets[i].aggregate, &result.buckets[i].aggregate);
    MergeInto(part.total, &result.total);
  }
  return result;
}

namespace {

// One shard's part of a top list: events per key, then the unique users of the keys that make the list.
// Take and CopyRows run under the views' locks; Count and Users read only what they took (the sealed
// hours' indexes, which never change, and copies of the rows counted one by one), so they run without the
// locks unless the rows were too many to copy; the keys are ranked by name (RankTop) under the locks again.
class ShardTop {
 public:
  // `day_counts` (may be null): where whole days' sums are kept between lists.
  ShardTop(uint32_t shard, const TopRequest& request, DayCounts* day_counts)
      : shard_(shard), by_product_(request.by == TopDimension::kProduct), day_counts_(day_counts) {}

  // What the list needs of the shard's hours in the range; returns how many rows are to be counted one by
  // one (those after each hour's seal, or the whole hour's). Nothing when the shard has no event of the
  // type asked.
  uint64_t Take(const ShardViews& views, const TopRequest& request) {
    views_ = &views;
    key_count_ = static_cast<uint32_t>(keys().size());
    if (request.type) {
      type_ = views.types().Find(*request.type);
      if (!type_) {
        no_such_type_ = true;
        return 0;
      }
    }
    uint64_t rows = 0;
    const auto& hours = views.hours();
    for (auto it = hours.lower_bound(HourOf(request.from));
         it != hours.end() && it->first * kMillisPerHour < request.to; ++it) {
      const HourData& data = it->second;
      uint32_t first_unsealed = 0;
      if (CoversWholeHour(it->first, request.from, request.to) && data.sealed()) {
        for (uint32_t part = 0; part < data.parts.size(); ++part) {
          const std::shared_ptr<const SealedHour>& index = data.parts[part].index;
          Sealed& hour = sealed_.emplace_back(Sealed{it->first, index, nullptr, std::nullopt});
          hour.index = by_product_ ? &index->by_product : &index->by_store;
          // Less the rows retracted since the part's seal, which it counted.
          if (std::any_of(data.masked.begin(), data.masked.end(),
                          [&](const MaskedRow& row) { return row.part == part; })) {
            hour.mask.emplace(data, part, by_product_);
          }
        }
        first_unsealed = data.sealed_rows();
      }
      if (first_unsealed < data.rows.size()) {
        scanned_.push_back({&data, first_unsealed});
        rows += data.rows.size() - first_unsealed;
      }
    }
    if (day_counts_ != nullptr) FindWholeDays(request);
    return rows;
  }

  // Copies the rows Take found to count one by one (their key and user, if they count), so that Count and
  // Users need no lock.
  void CopyRows(const TopRequest& request) {
    ForEachRow(request, [&](uint32_t key, uint32_t user) { copied_.push_back({key, user}); });
    scanned_.clear();
    rows_copied_ = true;
  }

  // Events only. The users come after (Users), for the keys that make the list alone: collecting every
  // key's users while scanning was 70 % of a month's top list answered from 100 M rows. (Not inlined:
  // inlined into the list's steps, its loop over the sealed indexes, most of a sealed month's list, took
  // 40 % longer.)
  [[gnu::noinline]] void Count(const TopRequest& request) {
    if (no_such_type_) return;
    events_.assign(key_count_, 0);
    size_t next = 0;  // of sealed_
    auto count_index = [&](const Sealed& hour) {
      hour.index->ForEachKeyEvents(type_, [&](uint32_t key, uint64_t count) { AddEvents(key, count); });
    };
    for (const WholeDay& day : days_) {
      for (; next < day.first; ++next) count_index(sealed_[next]);
      DayCounts::Seals seals;
      for (; next < day.end; ++next) seals.emplace_back(sealed_[next].hour_number, sealed_[next].hour);
      const DayCounts::Key key{shard_, day.day, by_product_, type_};
      std::shared_ptr<const DayCounts::Counts> counts = day_counts_->Find(key, seals);
      if (!counts) {
        counts = DayCounts::Sum(seals, by_product_, type_, key_count_);
        day_counts_->Keep(key, seals, counts);
      }
      for (size_t i = 0; i < counts->keys.size(); ++i) AddEvents(counts->keys[i], counts->events[i]);
    }
    for (; next < sealed_.size(); ++next) count_index(sealed_[next]);
    bool any_masked = false;
    for (const Sealed& hour : sealed_) {
      if (hour.mask) {
        for (const SealMask::Entry& entry : hour.mask->entries()) {
          if (!type_ || entry.type == *type_) --events_[entry.key];
        }
        any_masked = true;
      }
    }
    ForEachRow(request, [&](uint32_t key, uint32_t) { AddEvents(key, 1); });
    if (any_masked) {
      // A key whose events were all retracted came to 0 (and, counted again after, was listed twice).
      std::vector<bool> listed(events_.size());
      std::erase_if(counted_, [&](uint32_t key) {
        if (events_[key] == 0 || listed[key]) return true;
        listed[key] = true;
        return false;
      });
    }
  }

  // The keys counted and their events (read with the shard's dictionary: under the locks).
  size_t counted() const { return counted_.size(); }
  uint32_t KeyAt(size_t position) const { return counted_[position]; }
  uint64_t EventsAt(size_t position) const { return events_[counted_[position]]; }
  const Dictionary& Keys(const Views& views) const {
    const ShardViews& shard = views.shard(shard_);
    return by_product_ ? shard.products() : shard.stores();
  }

  // Adds the users of the keys `keys` names (by position; none where the shard has no such key) to `users`
  // (the same positions): from the sealed indexes and a second pass over the rows counted one by one.
  void Users(std::span<const std::optional<uint32_t>> keys, const TopRequest& request,
             std::vector<Roaring>* users) const {
    if (no_such_type_) return;
    std::vector<int32_t> position_of_key(key_count_, -1);
    std::vector<std::pair<size_t, uint32_t>> found;  // (position, key)
    for (size_t i = 0; i < keys.size(); ++i) {
      if (keys[i] && *keys[i] < key_count_) {
        position_of_key[*keys[i]] = static_cast<int32_t>(i);
        found.emplace_back(i, *keys[i]);
      }
    }
    if (found.empty()) return;
    ForEachRow(request, [&](uint32_t key, uint32_t user) {
      if (position_of_key[key] >= 0) (*users)[position_of_key[key]].add(user);
    });
    // Key by key: one key's set stays in the cache while every index adds to it (index by index, ten
    // keys' sets took 15 % longer).
    for (const auto& [position, key] : found) {
      for (const Sealed& hour : sealed_) {
        auto at = hour.index->Find(key);
        if (!at) continue;
        Roaring& key_users = (*users)[position];
        if (!hour.mask) {
          hour.index->AddUsers(*at, type_, &key_users);
          continue;
        }
        const SealMask& mask = *hour.mask;
        const uint32_t masked_key = key;  // (a structured binding: not captured by clang's C++20)
        hour.index->ForEachGroup(*at, [&](const DimensionIndex::Group& group) {
          if (!type_ || group.type == *type_) mask.AddUsers(masked_key, group, &key_users);
        });
      }
    }
  }

 private:
  struct Scanned {
    const HourData* data;  // (under the locks only)
    uint32_t first_row;
  };
  struct Sealed {
    int64_t hour_number;
    std::shared_ptr<const SealedHour> hour;  // a part, held: replaced or dropped meanwhile it stays readable
    const DimensionIndex* index;
    std::optional<SealMask> mask;  // if rows were retracted since the seal
  };
  struct Copied {
    uint32_t key, user;
  };
  // A day wholly in the range whose sealed hours are sealed_[first, end).
  struct WholeDay {
    int64_t day;
    size_t first, end;
  };

  // The days wholly in the range with at least two sealed parts, whose sums day_counts_ may keep.
  void FindWholeDays(const TopRequest& request) {
    constexpr int64_t kHoursPerDay = kMillisPerDay / kMillisPerHour;
    for (size_t first = 0; first < sealed_.size();) {
      const int64_t day = FloorDiv(sealed_[first].hour_number, kHoursPerDay);
      size_t end = first + 1;
      while (end < sealed_.size() && FloorDiv(sealed_[end].hour_number, kHoursPerDay) == day) ++end;
      if (end - first >= 2 && day * kMillisPerDay >= request.from && (day + 1) * kMillisPerDay <= request.to)
        days_.push_back({day, first, end});
      first = end;
    }
  }
  static int64_t FloorDiv(int64_t a, int64_t b) { return a / b - (a % b < 0 ? 1 : 0); }

  const Dictionary& keys() const { return by_product_ ? views_->products() : views_->stores(); }

  void AddEvents(uint32_t key, uint64_t count) {
    if (events_[key] == 0) counted_.push_back(key);
    events_[key] += count;
  }
  // The row's key, if it counts.
  std::optional<uint32_t> KeyOf(const EventRow& row) const {
    const uint32_t key = by_product_ ? row.product : row.store;
    if (key == kNoDimension || (type_ && row.type != *type_)) return std::nullopt;
    return key;
  }
  // Calls visit(key, user) for each row counted one by one: its copy, or the row itself (under the locks)
  // when they were not copied.
  template <typename Visit>
  void ForEachRow(const TopRequest& request, Visit&& visit) const {
    if (rows_copied_) {
      for (const Copied& row : copied_) visit(row.key, row.user);
      return;
    }
    for (const Scanned& hour : scanned_) {
      ScanRows(*hour.data, hour.first_row, request.from, request.to, [&](const EventRow& row) {
        if (auto key = KeyOf(row)) visit(*key, row.user);
      });
    }
  }

  const uint32_t shard_;
  const bool by_product_;
  DayCounts* const day_counts_;
  const ShardViews* views_ = nullptr;  // (under the locks only)
  uint32_t key_count_ = 0;             // the dictionary's keys when taken: every key the list can meet
  std::optional<uint32_t> type_;
  bool no_such_type_ = false;
  std::vector<Sealed> sealed_;    // the whole hours' sealed parts, and their indexes, in hour order
  std::vector<WholeDay> days_;    // in day order
  std::vector<Scanned> scanned_;  // the hours' rows counted one by one (until copied)
  std::vector<Copied> copied_;
  bool rows_copied_ = false;
  std::vector<uint64_t> events_;   // by key index (dense: a dictionary's keys are numbered from 0)
  std::vector<uint32_t> counted_;  // the key indices with events, in first-seen order
};

// The keys that make the list, with their events, and each one's key in every shard.
struct TopRanking {
  std::vector<TopEntry> top;                                  // users not yet counted
  std::vector<std::vector<std::optional<uint32_t>>> keys_of;  // [shard][position in top]
};

// Ranks the shards' counts by events, then name (each shard has its own dictionary: under the locks), and
// copies out the names that make the list.
TopRanking RankTop(const std::vector<ShardTop>& shards, const Views& views, const TopRequest& request) {
  std::vector<std::pair<std::string_view, uint64_t>> ranked;
  if (shards.size() == 1) {
    const Dictionary& keys = shards[0].Keys(views);
    for (size_t at = 0; at < shards[0].counted(); ++at)
      ranked.emplace_back(keys.KeyOf(shards[0].KeyAt(at)), shards[0].EventsAt(at));
  } else {
    absl::flat_hash_map<std::string_view, uint64_t> events;
    for (const ShardTop& shard : shards) {
      const Dictionary& keys = shard.Keys(views);
      for (size_t at = 0; at < shard.counted(); ++at)
        events[keys.KeyOf(shard.KeyAt(at))] += shard.EventsAt(at);
    }
    ranked.assign(events.begin(), events.end());
  }
  const size_t keep = std::min(ranked.size(), request.limit);
  std::partial_sort(ranked.begin(), ranked.begin() + static_cast<ptrdiff_t>(keep), ranked.end(),
                    [](const auto& a, const auto& b) {
                      return a.second != b.second ? a.second > b.second : a.first < b.first;
                    });
  TopRanking ranking;
  for (size_t i = 0; i < keep; ++i)
    ranking.top.push_back(TopEntry{std::string(ranked[i].first), ranked[i].second, 0});
  for (const ShardTop& shard : shards) {
    auto& keys_of = ranking.keys_of.emplace_back();
    for (const TopEntry& entry : ranking.top) keys_of.push_back(shard.Keys(views).Find(entry.key));
  }
  return ranking;
}

// The listed keys' unique users, from what the shards took.
std::vector<TopEntry> WithUsers(const std::vector<ShardTop>& shards, TopRanking ranking,
                                const TopRequest& request) {
  const size_t keep = ranking.top.size();
  for (size_t shard = 0; shard < shards.size(); ++shard) {
    std::vector<Roaring> users(keep);
    shards[shard].Users(ranking.keys_of[shard], request, &users);
    // Shards' users are disjoint.
    for (size_t i = 0; i < keep; ++i) ranking.top[i].unique_users += users[i].cardinality();
  }
  return std::move(ranking.top);
}

}  // namespace

std::vector<TopEntry> ComputeTop(const Views& views, const TopRequest& request) {
  return ComputeTopBetweenReads([&](const std::function<void(const Views&)>& step) { step(views); }, request,
                                nullptr);
}

std::vector<TopEntry> ComputeTopBetweenReads(const ReadViews& read, const TopRequest& request,
                                             DayCounts* day_counts, uint64_t max_rows_copied) {
  std::vector<ShardTop> shards;
  std::optional<std::vector<TopEntry>> top;
  read([&](const Views& views) {
    uint64_t rows = 0;
    for (uint32_t index = 0; index < views.shard_count(); ++index)
      rows += shards.emplace_back(index, request, day_counts).Take(views.shard(index), request);
    if (rows > max_rows_copied) {
      // Too many to copy (hours not sealed yet, as after a backfill): the whole list under the locks.
      for (ShardTop& shard : shards) shard.Count(request);
      top = WithUsers(shards, RankTop(shards, views, request), request);
      return;
    }
    for (ShardTop& shard : shards) shard.CopyRows(request);
  });
  if (top) return std::move(*top);
  for (ShardTop& shard : shards) shard.Count(request);
  TopRanking ranking;
  read([&](const Views& views) { ranking = RankTop(shards, views, request); });
  return WithUsers(shards, std::move(ranking), request);
}

}  // namespace tally

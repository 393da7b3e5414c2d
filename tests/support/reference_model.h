// A deliberately simple reference for tally's semantics: it keeps every current event in a list and
// answers each query by brute force. Tests compare the real engine's answers with it.
#pragma once

#include <algorithm>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "tally/event.h"

namespace tally::testing {

struct ModelAggregate {
  uint64_t events = 0;
  std::map<std::string, uint64_t> by_type;
  std::set<std::string> users;
};

struct ModelFilter {
  std::optional<std::string> type, product_id, store_id;
  bool Matches(const Event& event) const {
    return (!type || event.type == *type) && (!product_id || event.product_id == *product_id) &&
           (!store_id || event.store_id == *store_id);
  }
};

enum class ModelOutcome { kAccepted, kDuplicate, kCorrection };

class ReferenceModel {
 public:
  ModelOutcome Apply(const Event& event) {
    if (!event.event_id.empty()) {
      auto it = by_id_.find(event.event_id);
      if (it != by_id_.end()) {
        if (event.version <= current_[it->second].event.version) return ModelOutcome::kDuplicate;
        current_[it->second].live = false;
        it->second = current_.size();
        current_.push_back({event, true});
        return ModelOutcome::kCorrection;
      }
      by_id_[event.event_id] = current_.size();
    }
    current_.push_back({event, true});
    return ModelOutcome::kAccepted;
  }

  // Retention: events of hours before `first_kept_hour` count no more, and their ids are forgotten.
  void DropHoursBefore(int64_t first_kept_hour) {
    for (auto& entry : current_) {
      if (HourOf(entry.event.timestamp) < first_kept_hour) entry.live = false;
    }
    std::erase_if(by_id_, [&](const auto& id) {
      return HourOf(current_[id.second].event.timestamp) < first_kept_hour;
    });
  }

  // The current version of every event, in the order those versions were applied.
  std::vector<Event> Current() const {
    std::vector<Event> events;
    for (const auto& entry : current_) {
      if (entry.live) events.push_back(entry.event);
    }
    return events;
  }

  ModelAggregate Aggregate(Millis from, Millis to, const ModelFilter& filter) const {
    ModelAggregate aggregate;
    for (const Event& event : Current()) {
      if (event.timestamp < from || event.timestamp >= to || !filter.Matches(event)) continue;
      ++aggregate.events;
      ++aggregate.by_type[event.type];
      aggregate.users.insert(event.user_id);
    }
    return aggregate;
  }

  struct TopEntry {
    std::string key;
    uint64_t events = 0;
    uint64_t unique_users = 0;
  };
  std::vector<TopEntry> Top(bool by_product, Millis from, Millis to, const std::optional<std::string>& type,
                            size_t limit) const {
    std::map<std::string, std::pair<uint64_t, std::set<std::string>>> groups;
    for (const Event& event : Current()) {
      const std::string& key = by_product ? event.product_id : event.store_id;
      if (key.empty() || event.timestamp < from || event.timestamp >= to || (type && event.type != *type))
        continue;
      ++groups[key].first;
      groups[key].second.insert(event.user_id);
    }
    std::vector<TopEntry> top;
    for (const auto& [key, group] : groups) top.push_back({key, group.first, group.second.size()});
    std::sort(top.begin(), top.end(), [](const TopEntry& a, const TopEntry& b) {
      return a.events != b.events ? a.events > b.events : a.key < b.key;
    });
    if (top.size() > limit) top.resize(limit);
    return top;
  }

  // A user's current events newest first; equal timestamps: the later applied first.
  std::vector<Event> Timeline(const std::string& user, Millis before,
                              const std::optional<std::string>& type) const {
    std::vector<Event> events;
    std::vector<Event> current = Current();
    for (auto it = current.rbegin(); it != current.rend(); ++it) {
      if (it->user_id == user && it->timestamp < before && (!type || it->type == *type))
        events.push_back(*it);
    }
    std::stable_sort(events.begin(), events.end(),
                     [](const Event& a, const Event& b) { return a.timestamp > b.timestamp; });
    return events;
  }

  const Event* Find(const std::string& event_id) const {
    auto it = by_id_.find(event_id);
    return it == by_id_.end() ? nullptr : &current_[it->second].event;
  }

 private:
  struct Entry {
    Event event;
    bool live;
  };
  std::vector<Entry> current_;
  std::map<std::string, size_t> by_id_;
};

// Random events with the mix the engine must get right: few users and products so sets overlap, events
// spread over a few hours (late ones included), repeated ids (duplicates) and higher versions
// (corrections that may move an event to another hour, user, type, product or store).
class RandomEvents {
 public:
  // `users`: few make dense hours (sets overlap), many make sparse ones (a correction often takes a
  // user's only event out of an hour, which the user sets must notice).
  explicit RandomEvents(uint64_t seed, uint64_t users = 40)
      : state_(seed * 0x9E3779B97F4A7C15ull + 1), users_(users) {}

  uint64_t Next() {
    state_ ^= state_ << 13;
    state_ ^= state_ >> 7;
    state_ ^= state_ << 17;
    return state_;
  }
  uint64_t Below(uint64_t n) { return Next() % n; }

  Event Make(Millis base, int hours) {
    Event event;
    const uint64_t roll = Below(100);
    if (roll < 15 && !ids_.empty()) {
      // A duplicate or a correction of an earlier id.
      const auto& [id, version] = ids_[Below(ids_.size())];
      event = Fresh(base, hours);
      event.event_id = id;
      event.version = roll < 7 ? version : version + 1 + static_cast<uint32_t>(Below(2));
      if (event.version > version) ids_version_bump(id, event.version);
      return event;
    }
    event = Fresh(base, hours);
    if (roll < 85) {
      event.event_id = "id-" + std::to_string(counter_++);
      ids_.push_back({event.event_id, 1});
    }
    return event;
  }

 private:
  Event Fresh(Millis base, int hours) {
    static const char* kTypes[] = {"click", "impression", "page_view", "ArticleAddedToCart"};
    Event event;
    event.type = kTypes[Below(4)];
    event.user_id = "user-" + std::to_string(Below(users_));
    event.timestamp = base + static_cast<Millis>(Below(static_cast<uint64_t>(hours) * kMillisPerHour));
    if (Below(10) < 8) event.product_id = "product-" + std::to_string(Below(12));
    if (Below(10) < 6) event.store_id = "store-" + std::to_string(Below(5));
    if (Below(10) < 2) event.properties_json = R"({"n":)" + std::to_string(Below(1000)) + "}";
    return event;
  }
  void ids_version_bump(const std::string& id, uint32_t version) {
    for (auto& [known, known_version] : ids_) {
      if (known == id) known_version = std::max(known_version, version);
    }
  }

  uint64_t state_;
  uint64_t users_;
  uint64_t counter_ = 0;
  std::vector<std::pair<std::string, uint32_t>> ids_;
};

}  // namespace tally::testing

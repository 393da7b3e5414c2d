// A deterministic stream of events for load tests and data sets: users, types, products and stores drawn
// from fixed-size populations, a share of late events (hours in the past) and of duplicates (an event id
// sent again).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "tally/event.h"

namespace tally {

struct EventMixOptions {
  uint64_t seed = 1;
  uint64_t users = 200'000;
  uint64_t products = 10'000;
  uint64_t stores = 100;
  double impression_share = 0.7;  // the rest: clicks, page views, add-to-cart
  double late_share = 0.05;       // events stamped 1..24 hours before `now`
  double duplicate_share = 0.01;  // events that repeat an earlier event id
  Millis now = 0;                 // the time events are stamped around
  Millis spread = 0;              // 0: stamped `now`; otherwise uniformly over [now - spread, now]
  // 0: each event's time drawn anew over the spread (a shuffled backfill: every batch touches most hours).
  // N: the k-th of N events is stamped now - spread + spread * k / N, as a live stream arrives, before the
  // late share sets some back.
  uint64_t in_time_order = 0;
};

class EventMix {
 public:
  explicit EventMix(EventMixOptions options);
  // Appends one event as a JSON object (no newline).
  void AppendJson(std::string* out);
  // The same event as AppendJson would draw, as a CSV line:
  // event_id,type,user_id,timestamp,product_id,store_id
  void AppendCsv(std::string* out);
  // One take-home request target: "/analytics?timestamp=..&user=..&event=.."
  void AppendTakeHomeTarget(std::string* out);
  uint64_t generated() const { return generated_; }

 private:
  uint64_t Next();
  double Unit() { return static_cast<double>(Next() >> 11) * (1.0 / 9007199254740992.0); }
  Millis Timestamp();
  struct Drawn {
    uint64_t id, user, product, store;
    const char* type;
    Millis timestamp;
  };
  Drawn Draw();

  EventMixOptions options_;
  uint64_t state_;
  uint64_t generated_ = 0;
};

}  // namespace tally

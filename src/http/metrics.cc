#include "http/metrics.h"

#include <unistd.h>

#include <fstream>

#include "query/day_counts.h"

namespace tally {
namespace {

constexpr std::array<std::string_view, kRouteLabels> kRouteNames = {
    "analytics", "events", "event",  "user_events", "stats",   "top",     "rejected",
    "schemas",   "admin",  "health", "metrics",     "segment", "posthog", "other"};
constexpr std::array<std::string_view, 4> kOutcomeNames = {"accepted", "duplicate", "correction", "rejected"};

uint64_t Sum(const std::vector<std::unique_ptr<ThreadMetrics>>& threads,
             const std::atomic<uint64_t> ThreadMetrics::*field) {
  uint64_t sum = 0;
  for (const auto& thread : threads) sum += ((*thread).*field).load(std::memory_order_relaxed);
  return sum;
}

uint64_t ResidentBytes() {
  std::ifstream statm("/proc/self/statm");
  uint64_t pages = 0, resident = 0;
  statm >> pages >> resident;
  return resident * static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
}

void Header(std::string* out, std::string_view name, std::string_view type, std::string_view help) {
  out->append("# HELP ").append(name).append(" ").append(help).append("\n");
  out->append("# TYPE ").append(name).append(" ").append(type).append("\n");
}

void Sample(std::string* out, std::string_view name, std::string_view labels, double value) {
  char number[32];
  std::snprintf(number, sizeof(number), "%.17g", value);
  out->append(name);
  if (!labels.empty()) out->append("{").append(labels).append("}");
  out->append(" ").append(number).append("\n");
}

// key="value" (appended, not concatenated: GCC 12 warns falsely on short literal + string).
std::string Label(std::string_view key, std::string_view value) {
  std::string label;
  label.append(key).append("=\"").append(value).append("\"");
  return label;
}

}  // namespace

RouteLabel RouteOf(std::string_view path) {
  const RouteSpec* route = RouteOfPath(path);
  return route != nullptr ? route->label : RouteLabel::kOther;
}

void ThreadMetrics::CountResponse(RouteLabel route, int status, uint64_t micros) {
  const auto r = static_cast<size_t>(route);
  const size_t status_class = status >= 100 && status < 600 ? static_cast<size_t>(status / 100) : 5;
  responses[r][status_class].fetch_add(1, std::memory_order_relaxed);
  size_t bucket = 0;
  while (bucket < kLatencyBoundsMicros.size() && micros > kLatencyBoundsMicros[bucket]) ++bucket;
  latency[r][bucket].fetch_add(1, std::memory_order_relaxed);
  latency_sum_micros[r].fetch_add(micros, std::memory_order_relaxed);
}

void ThreadMetrics::CountOutcome(ApplyOutcome outcome) {
  switch (outcome) {
    case ApplyOutcome::kAccepted:
      events[0].fetch_add(1, std::memory_order_relaxed);
      break;
    case ApplyOutcome::kDuplicate:
      events[1].fetch_add(1, std::memory_order_relaxed);
      break;
    case ApplyOutcome::kCorrection:
      events[2].fetch_add(1, std::memory_order_relaxed);
      break;
    case ApplyOutcome::kRejectedKept:
      events[3].fetch_add(1, std::memory_order_relaxed);
      break;
    case ApplyOutcome::kSchemaChanged:
    case ApplyOutcome::kRetentionCut:
      break;
  }
}

Metrics::Metrics(int threads) {
  for (int i = 0; i < threads; ++i) threads_.push_back(std::make_unique<ThreadMetrics>());
}

void Metrics::CountRejected(std::string_view reason) {
  std::string field(reason.substr(0, std::min(reason.find(':'), size_t{64})));
  // A label value: keep it printable and unquoted-safe.
  for (char& c : field) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-' || c == '[' ||
          c == ']'))
      c = '_';
  }
  std::lock_guard lock(reasons_mutex_);
  if (rejected_by_reason_.count(field) == 0 && rejected_by_reason_.size() >= kMaxReasons) field = "other";
  ++rejected_by_reason_[field];
}

std::string Metrics::Render(Engine& engine, ReadConsistency* cluster, const DayCounts* day_counts) const {
  std::string out;
  Header(&out, "tally_events_total", "counter",
         "Events received by this node, by what the materializer decided.");
  for (size_t i = 0; i < kOutcomeNames.size(); ++i) {
    uint64_t sum = 0;
    for (const auto& thread : threads_) sum += thread->events[i].load(std::memory_order_relaxed);
    Sample(&out, "tally_events_total", Label("outcome", kOutcomeNames[i]), static_cast<double>(sum));
  }
  Header(&out, "tally_late_events_total", "counter",
         "Accepted events whose time is before the hour they arrived in.");
  Sample(&out, "tally_late_events_total", "",
         static_cast<double>(Sum(threads_, &ThreadMetrics::late_events)));
  Header(&out, "tally_refused_total", "counter",
         "Requests (or connections) refused by a limit: 414, 431, 429, or 503 at accept.");
  for (size_t i = 0; i < kLimits; ++i) {
    uint64_t sum = 0;
    for (const auto& thread : threads_) sum += thread->refused[i].load(std::memory_order_relaxed);
    Sample(&out, "tally_refused_total", Label("limit", LimitName(static_cast<Limit>(i))),
           static_cast<double>(sum));
  }
  Header(&out, "tally_rejected_total", "counter",
         "Rejected input kept in the log, by the field its reason names.");
  {
    std::lock_guard lock(reasons_mutex_);
    for (const auto& [field, count] : rejected_by_reason_)
      Sample(&out, "tally_rejected_total", Label("field", field), static_cast<double>(count));
  }
  Header(&out, "tally_http_responses_total", "counter", "HTTP responses by route and status class.");
  for (size_t r = 0; r < kRouteLabels; ++r) {
    for (size_t c = 1; c < 6; ++c) {
      uint64_t sum = 0;
      for (const auto& thread : threads_) sum += thread->responses[r][c].load(std::memory_order_relaxed);
      if (sum == 0) continue;
      Sample(&out, "tally_http_responses_total",
             Label("route", kRouteNames[r]) + "," + Label("code", std::to_string(c) + "xx"),
             static_cast<double>(sum));
    }
  }
  Header(&out, "tally_http_request_duration_seconds", "histogram",
         "From the request's arrival to its response, by route.");
  for (size_t r = 0; r < kRouteLabels; ++r) {
    std::array<uint64_t, kLatencyBoundsMicros.size() + 1> buckets{};
    uint64_t sum_micros = 0;
    for (const auto& thread : threads_) {
      for (size_t b = 0; b < buckets.size(); ++b)
        buckets[b] += thread->latency[r][b].load(std::memory_order_relaxed);
      sum_micros += thread->latency_sum_micros[r].load(std::memory_order_relaxed);
    }
    uint64_t cumulative = 0;
    for (size_t b = 0; b < buckets.size(); ++b) cumulative += buckets[b];
    if (cumulative == 0) continue;
    const std::string route = Label("route", kRouteNames[r]);
    uint64_t running = 0;
    for (size_t b = 0; b < kLatencyBoundsMicros.size(); ++b) {
      running += buckets[b];
      char bound[32];
      std::snprintf(bound, sizeof(bound), "%g", static_cast<double>(kLatencyBoundsMicros[b]) / 1e6);
      Sample(&out, "tally_http_request_duration_seconds_bucket", route + "," + Label("le", bound),
             static_cast<double>(running));
    }
    Sample(&out, "tally_http_request_duration_seconds_bucket", route + "," + Label("le", "+Inf"),
           static_cast<double>(cumulative));
    Sample(&out, "tally_http_request_duration_seconds_sum", route, static_cast<double>(sum_micros) / 1e6);
    Sample(&out, "tally_http_request_duration_seconds_count", route, static_cast<double>(cumulative));
  }
  Header(&out, "tally_log_records", "gauge", "Records in the local log.");
  Sample(&out, "tally_log_records", "", static_cast<double>(engine.log().next_lsn()));
  Header(&out, "tally_log_first_record", "gauge",
         "The first record the local log still holds (retention deletes the oldest segments).");
  Sample(&out, "tally_log_first_record", "", static_cast<double>(engine.log().first_record()));
  Header(&out, "tally_log_durable_records", "gauge", "Records of the local log known to be fsynced.");
  Sample(&out, "tally_log_durable_records", "", static_cast<double>(engine.log().durable_lsn()));
  if (syncer_ != nullptr) {
    Header(&out, "tally_log_fsync_seconds", "summary", "fsyncs of the local log and the time they took.");
    Sample(&out, "tally_log_fsync_seconds_sum", "", static_cast<double>(syncer_->fsync_micros()) / 1e6);
    Sample(&out, "tally_log_fsync_seconds_count", "", static_cast<double>(syncer_->fsyncs()));
  }
  Header(&out, "tally_view_rows", "gauge",
         "Event rows held in the views (current, superseded and duplicate).");
  Sample(&out, "tally_view_rows", "",
         static_cast<double>(engine.Read([](const Views& views) { return views.rows(); })));
  const Views::Tiers tiers = engine.Read([](const Views& views) { return views.tiers(); });
  Header(&out, "tally_hours", "gauge",
         "(shard, hour) pairs by tier: sealed (answered from the sealed parts), sealed_late_rows (the parts "
         "with a few corrected rows masked, merged after a long quiet) or hot (rows scanned).");
  Sample(&out, "tally_hours", "tier=\"hot\"", static_cast<double>(tiers.hot_hours));
  Sample(&out, "tally_hours", "tier=\"sealed\"", static_cast<double>(tiers.sealed_hours));
  Sample(&out, "tally_hours", "tier=\"sealed_late_rows\"", static_cast<double>(tiers.late_rows_hours));
  Header(&out, "tally_sealed_parts", "gauge",
         "Parts of the sealed hours' seals (late rows are sealed as a part of their own; an hour's parts "
         "are merged in the background).");
  Sample(&out, "tally_sealed_parts", "", static_cast<double>(tiers.sealed_parts));
  Header(&out, "tally_frozen_hours", "gauge",
         "(shard, hour) pairs whose user sets are read in place from the cold chunk file, not the heap.");
  Sample(&out, "tally_frozen_hours", "", static_cast<double>(tiers.frozen_hours));
  Header(&out, "tally_sealed_index_bytes", "gauge",
         "Bytes of the sealed hours' indexes by product and store (mapped from DATA/segments, or in memory "
         "where a file could not be written).");
  Sample(&out, "tally_sealed_index_bytes", "", static_cast<double>(tiers.sealed_bytes));
  Header(
      &out, "tally_cold_chunk_bytes", "gauge",
      "Bytes of the views (older rows and event ids, sealed hours' row lists and user sets) moved from the "
      "heap to a file the kernel pages in and out.");
  Sample(&out, "tally_cold_chunk_bytes", "", static_cast<double>(engine.cold_bytes()));
  if (day_counts != nullptr) {
    Header(&out, "tally_top_day_sums_bytes", "gauge",
           "Bytes of whole days' events by product or store, summed from their sealed hours for top lists "
           "and kept for the next (at most --top-day-sums-mib).");
    Sample(&out, "tally_top_day_sums_bytes", "", static_cast<double>(day_counts->bytes()));
  }
  Header(&out, "tally_retention_kept_from_seconds", "gauge",
         "Retention: the start (Unix time) of the first hour kept; 0 while no hour was dropped.");
  Sample(&out, "tally_retention_kept_from_seconds", "",
         static_cast<double>(engine.ReadGlobal([](const GlobalViews& global) {
           return global.first_kept_hour();
         }) * (kMillisPerHour / 1000)));
  Header(&out, "tally_checkpoint_records", "gauge", "Log records the newest checkpoint covers.");
  Sample(&out, "tally_checkpoint_records", "", static_cast<double>(engine.last_checkpoint_lsn()));
  Header(&out, "tally_resident_memory_bytes", "gauge", "Resident memory of the process.");
  Sample(&out, "tally_resident_memory_bytes", "", static_cast<double>(ResidentBytes()));
  if (cluster != nullptr) {
    Header(&out, "tally_stream_applied_sequence", "gauge",
           "Cluster: the last stream sequence this node applied.");
    Sample(&out, "tally_stream_applied_sequence", "", static_cast<double>(engine.stream_sequence()));
    // As of the newest fetch of the stream's last sequence (at most about a second old): a JetStream
    // request is not made on an event loop.
    cluster->RequestStreamTip();
    if (auto tip = cluster->StreamTip(0); tip && tip->ok()) {
      const uint64_t last = **tip;
      Header(&out, "tally_stream_lag_messages", "gauge",
             "Cluster: stream messages this node has not applied yet (as of the last fetch of the stream's "
             "last sequence, at most about a second ago).");
      Sample(&out, "tally_stream_lag_messages", "",
             static_cast<double>(last > engine.stream_sequence() ? last - engine.stream_sequence() : 0));
    }
  }
  return out;
}

}  // namespace tally

#include "tools/tally/commands.h"

#include <simdjson.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <thread>

#include "ingest/query_string.h"
#include "tools/tally/http_call.h"

namespace tally {
namespace {

std::string Encode(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (const unsigned char c : text) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
        c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.append({'%', kHex[c >> 4], kHex[c & 15]});
    }
  }
  return out;
}

// "?a=1&b=2" of the parameters that are set.
std::string Query(std::initializer_list<std::pair<std::string_view, std::string>> params) {
  std::string query;
  for (const auto& [name, value] : params) {
    if (value.empty()) continue;
    query.append(query.empty() ? "?" : "&").append(name).append("=").append(Encode(value));
  }
  return query;
}

int Fail(const std::string& message) {
  std::fprintf(stderr, "tally: %s\n", message.c_str());
  return 1;
}

// GETs `target`; prints the server's JSON as it is with --json, else `print_table` of the parsed answer.
// Returns the exit code, having printed the error (the server's message when it sent one).
template <typename PrintTable>
int ShowAnswer(const Remote& remote, const std::string& target, PrintTable&& print_table) {
  auto answer = HttpCall(remote.server, "GET", target, remote.key);
  if (!answer.ok()) return Fail(answer.status().message());
  simdjson::dom::parser parser;
  simdjson::dom::element document;
  const bool parsed = parser.parse(answer->body).get(document) == simdjson::SUCCESS;
  if (answer->status != 200) {
    std::string_view message;
    if (parsed && document["message"].get(message) == simdjson::SUCCESS)
      return Fail(std::to_string(answer->status) + ": " + std::string(message));
    return Fail(std::to_string(answer->status) + ": " + answer->body);
  }
  if (!parsed) return Fail("the answer is not JSON");
  if (remote.json) {
    std::printf("%s\n", answer->body.c_str());
  } else {
    print_table(document);
  }
  return 0;
}

std::string Utc(int64_t millis) {
  const std::time_t seconds = millis / 1000;
  std::tm parts{};
  gmtime_r(&seconds, &parts);
  char text[32];
  std::strftime(text, sizeof(text), "%Y-%m-%d %H:%M", &parts);
  return text;
}

// A field's value, or T{} when it is absent, null or of another type.
template <typename T>
T Field(simdjson::dom::element element, const char* field) {
  T value{};
  if (element[field].get(value) != simdjson::SUCCESS) return T{};
  return value;
}

uint64_t Uint(simdjson::dom::element element, const char* field) { return Field<uint64_t>(element, field); }

void PrintAggregate(const char* label, simdjson::dom::element aggregate) {
  std::printf("%-17s %12llu %12llu  ", label, static_cast<unsigned long long>(Uint(aggregate, "events")),
              static_cast<unsigned long long>(Uint(aggregate, "unique_users")));
  simdjson::dom::object by_type;
  if (aggregate["by_type"].get(by_type) == simdjson::SUCCESS) {
    for (auto [type, count] : by_type)
      std::printf(" %.*s=%llu", static_cast<int>(type.size()), type.data(),
                  static_cast<unsigned long long>(count.get_uint64().value_unsafe()));
  }
  std::printf("\n");
}

}  // namespace

int RunStats(const Remote& remote, const StatsQuery& query) {
  const std::string target = "/v1/stats" + Query({{"from", query.from},
                                                  {"to", query.to},
                                                  {"bucket", query.bucket},
                                                  {"type", query.type},
                                                  {"product_id", query.product_id},
                                                  {"store_id", query.store_id}});
  return ShowAnswer(remote, target, [](simdjson::dom::element document) {
    std::printf("%-17s %12s %12s   by type\n", "from (UTC)", "events", "unique users");
    simdjson::dom::array buckets;
    if (document["buckets"].get(buckets) == simdjson::SUCCESS) {
      for (simdjson::dom::element bucket : buckets)
        PrintAggregate(Utc(Field<int64_t>(bucket, "start")).c_str(), bucket);
    }
    PrintAggregate("total (exact)", document["total"].value_unsafe());
  });
}

int RunTop(const Remote& remote, const TopQuery& query) {
  const std::string target = "/v1/top" + Query({{"by", query.by},
                                                {"from", query.from},
                                                {"to", query.to},
                                                {"hours", query.hours > 0 ? std::to_string(query.hours) : ""},
                                                {"type", query.type},
                                                {"limit", std::to_string(query.limit)}});
  return ShowAnswer(remote, target, [&](simdjson::dom::element document) {
    std::printf("%-32s %12s %12s\n", query.by.c_str(), "events", "unique users");
    simdjson::dom::array top;
    if (document["top"].get(top) != simdjson::SUCCESS) return;
    for (simdjson::dom::element entry : top) {
      const auto key = Field<std::string_view>(entry, "key");
      std::printf("%-32.*s %12llu %12llu\n", static_cast<int>(key.size()), key.data(),
                  static_cast<unsigned long long>(Uint(entry, "events")),
                  static_cast<unsigned long long>(Uint(entry, "unique_users")));
    }
  });
}

int RunUser(const Remote& remote, const std::string& user_id, int limit) {
  const std::string target =
      "/v1/users/" + Encode(user_id) + "/events" + Query({{"limit", std::to_string(limit)}});
  return ShowAnswer(remote, target, [](simdjson::dom::element document) {
    std::printf("%-17s %-24s %-16s %-16s %s\n", "time (UTC)", "type", "product", "store", "event id");
    simdjson::dom::array events;
    if (document["events"].get(events) != simdjson::SUCCESS) return;
    for (simdjson::dom::element event : events) {
      const auto type = Field<std::string_view>(event, "type");
      const auto product = Field<std::string_view>(event, "product_id");
      const auto store = Field<std::string_view>(event, "store_id");
      const auto id = Field<std::string_view>(event, "event_id");
      std::printf("%-17s %-24.*s %-16.*s %-16.*s %.*s\n", Utc(Field<int64_t>(event, "timestamp")).c_str(),
                  static_cast<int>(type.size()), type.data(), static_cast<int>(product.size()),
                  product.data(), static_cast<int>(store.size()), store.data(), static_cast<int>(id.size()),
                  id.data());
    }
  });
}

int RunSend(const Remote& remote, const std::string& path, int batch) {
  std::ifstream file;
  if (path != "-") {
    file.open(path);
    if (!file) return Fail(path + ": cannot be read");
  }
  std::istream& in = path == "-" ? std::cin : file;
  uint64_t sent = 0, accepted = 0, duplicates = 0, rejected = 0;
  auto last_progress = std::chrono::steady_clock::now();
  std::string body, line;
  int lines = 0;
  simdjson::dom::parser parser;
  auto flush = [&]() -> bool {
    if (lines == 0) return true;
    for (int attempt = 0;; ++attempt) {
      auto answer = HttpCall(remote.server, "POST", "/v1/events", remote.key, "application/x-ndjson", body);
      const bool retry = !answer.ok() || answer->status == 429 || answer->status == 503;
      if (retry && attempt < 8) {
        // The batch is re-sent whole: events with ids are dropped as duplicates if it had been kept.
        const int wait_ms = answer.ok() && !answer->retry_after.empty()
                                ? std::atoi(answer->retry_after.c_str()) * 1000
                                : 100 << attempt;
        std::this_thread::sleep_for(std::chrono::milliseconds(wait_ms));
        continue;
      }
      if (!answer.ok()) return Fail(answer.status().message()), false;
      if (answer->status != 200) return Fail(std::to_string(answer->status) + ": " + answer->body), false;
      simdjson::dom::element result;
      if (parser.parse(answer->body).get(result) != simdjson::SUCCESS)
        return Fail("the answer is not JSON"), false;
      accepted += Uint(result, "accepted");
      duplicates += Uint(result, "duplicates");
      simdjson::dom::array refused;
      if (result["rejected"].get(refused) == simdjson::SUCCESS) {
        for (simdjson::dom::element entry : refused) {
          const auto error = Field<std::string_view>(entry, "error");
          ++rejected;
          std::fprintf(stderr, "tally: event %llu rejected: %.*s\n",
                       static_cast<unsigned long long>(sent + Uint(entry, "index") + 1),
                       static_cast<int>(error.size()), error.data());
        }
      }
      break;
    }
    sent += static_cast<uint64_t>(lines);
    body.clear();
    lines = 0;
    if (std::chrono::steady_clock::now() - last_progress > std::chrono::seconds(1)) {
      std::fprintf(stderr, "\rtally: %llu events sent", static_cast<unsigned long long>(sent));
      last_progress = std::chrono::steady_clock::now();
    }
    return true;
  };
  while (std::getline(in, line)) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    body.append(line).push_back('\n');
    if (++lines >= batch && !flush()) return 1;
  }
  if (!flush()) return 1;
  std::printf("sent %llu: accepted %llu, duplicates %llu, rejected %llu\n",
              static_cast<unsigned long long>(sent), static_cast<unsigned long long>(accepted),
              static_cast<unsigned long long>(duplicates), static_cast<unsigned long long>(rejected));
  return rejected > 0 ? 2 : 0;
}

}  // namespace tally

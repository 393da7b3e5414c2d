#include "tools/tally/event_mix.h"

#include <algorithm>
#include <charconv>

namespace tally {
namespace {

void AppendNumber(uint64_t value, std::string* out) {
  char digits[24];
  auto [end, ec] = std::to_chars(digits, digits + sizeof(digits), value);
  out->append(digits, end);
}

}  // namespace

EventMix::EventMix(EventMixOptions options)
    : options_(options), state_(options.seed * 0x9E3779B97F4A7C15ull | 1) {}

uint64_t EventMix::Next() {
  // xorshift64*: fast, deterministic, good enough for drawing test data.
  state_ ^= state_ >> 12;
  state_ ^= state_ << 25;
  state_ ^= state_ >> 27;
  return state_ * 0x2545F4914F6CDD1Dull;
}

Millis EventMix::Timestamp() {
  Millis timestamp = options_.now;
  const auto spread = static_cast<uint64_t>(options_.spread);
  if (spread > 0 && options_.in_time_order > 0) {
    const uint64_t events = options_.in_time_order;
    const uint64_t still_to_come = events - std::min(generated_, events);
    // spread * still_to_come / events, without the product overflowing
    timestamp -=
        static_cast<Millis>(spread / events * still_to_come + spread % events * still_to_come / events);
  } else if (spread > 0) {
    timestamp -= static_cast<Millis>(Next() % spread);
  }
  if (Unit() < options_.late_share) timestamp -= static_cast<Millis>(1 + Next() % 24) * kMillisPerHour;
  return timestamp < 0 ? 0 : timestamp;
}

EventMix::Drawn EventMix::Draw() {
  const uint64_t sequence = generated_++;
  // A duplicate repeats the id of an earlier event: the server must count it once.
  const bool duplicate = sequence > 0 && Unit() < options_.duplicate_share;
  Drawn drawn{};
  drawn.id = duplicate ? Next() % sequence : sequence;
  const double kind = Unit();
  drawn.type = kind < options_.impression_share          ? "impression"
               : kind < options_.impression_share + 0.15 ? "click"
               : kind < options_.impression_share + 0.25 ? "page_view"
                                                         : "ArticleAddedToCart";
  drawn.user = Next() % options_.users;
  drawn.timestamp = Timestamp();
  drawn.product = Next() % options_.products;
  drawn.store = Next() % options_.stores;
  return drawn;
}

void EventMix::AppendJson(std::string* out) {
  const Drawn drawn = Draw();
  out->append(R"({"event_id":"e)");
  AppendNumber(options_.seed, out);
  out->push_back('-');
  AppendNumber(drawn.id, out);
  out->append(R"(","type":")");
  out->append(drawn.type);
  out->append(R"(","user_id":"u)");
  AppendNumber(drawn.user, out);
  out->append(R"(","timestamp":)");
  AppendNumber(static_cast<uint64_t>(drawn.timestamp), out);
  out->append(R"(,"product_id":"p)");
  AppendNumber(drawn.product, out);
  out->append(R"(","store_id":"s)");
  AppendNumber(drawn.store, out);
  out->append(R"("})");
}

void EventMix::AppendCsv(std::string* out) {
  const Drawn drawn = Draw();
  out->push_back('e');
  AppendNumber(options_.seed, out);
  out->push_back('-');
  AppendNumber(drawn.id, out);
  out->push_back(',');
  out->append(drawn.type);
  out->append(",u");
  AppendNumber(drawn.user, out);
  out->push_back(',');
  AppendNumber(static_cast<uint64_t>(drawn.timestamp), out);
  out->append(",p");
  AppendNumber(drawn.product, out);
  out->append(",s");
  AppendNumber(drawn.store, out);
}

void EventMix::AppendTakeHomeTarget(std::string* out) {
  ++generated_;
  out->append("/analytics?timestamp=");
  AppendNumber(static_cast<uint64_t>(Timestamp()), out);
  out->append("&user=u");
  AppendNumber(Next() % options_.users, out);
  out->append(Unit() < options_.impression_share ? "&event=impression" : "&event=click");
}

}  // namespace tally

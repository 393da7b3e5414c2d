// libFuzzer target: saved views (a checkpoint's payload) as a restart finds them, damaged or crafted. A
// restart loads them while their checksum is checked beside the load, so a load must refuse whatever does
// not parse or whose indices do not fit, without reading outside the bytes; views it accepts must answer
// every question, and take an event and a correction of it, without reading outside what was loaded
// (AddressSanitizer sees either). The first byte picks the layout; the views' own first four bytes say how
// many shards to load them with.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string_view>

#include "views/views.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 5) return 0;
  const auto layout = static_cast<tally::SavedLayout>(data[0] % (static_cast<int>(tally::kSavedLayout) + 1));
  uint32_t shards = 0;
  std::memcpy(&shards, data + 1, sizeof(shards));
  if (shards == 0 || shards > 8) return 0;
  const std::string_view bytes(reinterpret_cast<const char*>(data + 1), size - 1);
  auto loaded = tally::Views::Load(bytes, shards, layout);
  if (!loaded.ok()) return 0;
  tally::Views& views = **loaded;
  // An event, and a correction of it: the event-id index and the rows as loaded are searched and written.
  tally::Event event;
  event.type = "click";
  event.user_id = "fuzz";
  event.timestamp = 1793527200000;
  event.event_id = "fuzz-event";
  views.Apply(event, tally::LogPosition{0, 16});
  event.version = 2;
  event.timestamp += tally::kMillisPerHour;
  views.Apply(event, tally::LogPosition{0, 32});
  (void)views.Digest();
  for (uint32_t shard = 0; shard < shards; ++shard) {
    const tally::ShardViews& part = views.shard(shard);
    for (const auto& [hour, data] : part.hours()) {
      (void)views.TakeHomeHour(hour);
      (void)part.BuildSealedHour(hour);
    }
    for (uint32_t user = 0; user < part.users().size(); ++user) (void)part.Timeline(user);
  }
  return 0;
}

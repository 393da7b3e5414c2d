#include "query/event_json.h"

namespace tally {

void BeginEventJson(const Event& event, JsonWriter* json) {
  json->BeginObject();
  if (!event.event_id.empty()) json->Key("event_id").String(event.event_id);
  json->Key("type").String(event.type);
  json->Key("user_id").String(event.user_id);
  json->Key("timestamp").Int(event.timestamp);
  json->Key("version").Uint(event.version);
  if (!event.session_id.empty()) json->Key("session_id").String(event.session_id);
  if (!event.product_id.empty()) json->Key("product_id").String(event.product_id);
  if (!event.store_id.empty()) json->Key("store_id").String(event.store_id);
  if (!event.properties_json.empty()) json->Key("properties").Raw(event.properties_json);
  json->Key("received_at").Int(event.received_at);
}

}  // namespace tally

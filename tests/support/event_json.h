// An event as a client sends it in POST /v1/events (the fields set, nothing else).
#pragma once

#include <string>

#include "common/json_writer.h"
#include "tally/event.h"

namespace tally::testing {

inline std::string EventJson(const Event& event) {
  JsonWriter json;
  json.BeginObject();
  if (!event.event_id.empty()) json.Key("event_id").String(event.event_id);
  json.Key("type")
      .String(event.type)
      .Key("user_id")
      .String(event.user_id)
      .Key("timestamp")
      .Int(event.timestamp);
  if (event.version != 1 || event.event_id.size() % 2 == 0) json.Key("version").Uint(event.version);
  if (!event.product_id.empty()) json.Key("product_id").String(event.product_id);
  if (!event.store_id.empty()) json.Key("store_id").String(event.store_id);
  if (!event.properties_json.empty()) json.Key("properties").Raw(event.properties_json);
  json.EndObject();
  return json.Take();
}

}  // namespace tally::testing

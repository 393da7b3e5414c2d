// Per-type property rules (PUT /v1/schemas/{type}), e.g.
//   {"required":["article_price","currency"],"properties":{"article_price":"number","currency":"string"},
//    "dimensions":["product_id"]}
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tally/event.h"
#include "tally/status.h"

namespace tally {

enum class PropertyKind { kString, kNumber, kInteger, kBoolean, kObject, kArray };

struct Schema {
  std::vector<std::string> required;                             // property names that must be present
  std::vector<std::pair<std::string, PropertyKind>> properties;  // kinds of properties, when present
  std::vector<std::string> dimensions;                           // product_id / store_id / session_id

  bool operator==(const Schema&) const = default;
};

Result<Schema> ParseSchema(std::string_view json);
// The canonical JSON text of a schema (what GET /v1/schemas/{type} shows).
std::string SchemaToJson(const Schema& schema);
// Why `event` breaks its type's schema, or OK.
Status CheckAgainstSchema(const EventView& event, const Schema& schema);

}  // namespace tally

#include "ingest/schema.h"

#include <simdjson.h>

#include <algorithm>

#include "common/json_writer.h"

namespace tally {
namespace {

constexpr std::pair<std::string_view, PropertyKind> kKindNames[] = {
    {"string", PropertyKind::kString},   {"number", PropertyKind::kNumber},
    {"integer", PropertyKind::kInteger}, {"boolean", PropertyKind::kBoolean},
    {"object", PropertyKind::kObject},   {"array", PropertyKind::kArray},
};

std::string_view KindName(PropertyKind kind) {
  for (const auto& [name, value] : kKindNames) {
    if (value == kind) return name;
  }
  return "?";
}

Status ReadNameList(simdjson::dom::element element, std::string_view field, std::vector<std::string>* out) {
  simdjson::dom::array array;
  if (element.get_array().get(array) != simdjson::SUCCESS) {
    return Status::InvalidArgument(field, "must be an array of strings");
  }
  for (simdjson::dom::element item : array) {
    std::string_view name;
    if (item.get_string().get(name) != simdjson::SUCCESS || name.empty()) {
      return Status::InvalidArgument(field, "must be an array of non-empty strings");
    }
    if (std::find(out->begin(), out->end(), name) != out->end()) {
      return Status::InvalidArgument(field, "lists '" + std::string(name) + "' twice");
    }
    out->emplace_back(name);
  }
  return Status::Ok();
}

bool HasKind(simdjson::dom::element value, PropertyKind kind) {
  switch (kind) {
    case PropertyKind::kString:
      return value.is_string();
    case PropertyKind::kNumber:
      return value.is_number();
    case PropertyKind::kInteger:
      return value.is_int64() || value.is_uint64();
    case PropertyKind::kBoolean:
      return value.is_bool();
    case PropertyKind::kObject:
      return value.is_object();
    case PropertyKind::kArray:
      return value.is_array();
  }
  return false;
}

}  // namespace

Result<Schema> ParseSchema(std::string_view json) {
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (auto error = parser.parse(json.data(), json.size()).get(root)) {
    return Status::InvalidArgument("schema",
                                   std::string("not valid JSON (") + simdjson::error_message(error) + ")");
  }
  simdjson::dom::object object;
  if (root.get_object().get(object) != simdjson::SUCCESS)
    return Status::InvalidArgument("schema", "must be a JSON object");
  Schema schema;
  for (auto [key, value] : object) {
    if (key == "required") {
      TALLY_RETURN_IF_ERROR(ReadNameList(value, "required", &schema.required));
    } else if (key == "dimensions") {
      TALLY_RETURN_IF_ERROR(ReadNameList(value, "dimensions", &schema.dimensions));
      for (const std::string& dimension : schema.dimensions) {
        if (dimension != "product_id" && dimension != "store_id" && dimension != "session_id") {
          return Status::InvalidArgument("dimensions",
                                         "'" + dimension + "' is not product_id, store_id or session_id");
        }
      }
    } else if (key == "properties") {
      simdjson::dom::object kinds;
      if (value.get_object().get(kinds) != simdjson::SUCCESS) {
        return Status::InvalidArgument("properties", "must map property names to kinds");
      }
      for (auto [name, kind_value] : kinds) {
        std::string_view kind_name;
        if (kind_value.get_string().get(kind_name) != simdjson::SUCCESS) {
          return Status::InvalidArgument("properties." + std::string(name), "must be a kind name");
        }
        auto found = std::find_if(std::begin(kKindNames), std::end(kKindNames),
                                  [&](const auto& entry) { return entry.first == kind_name; });
        if (found == std::end(kKindNames)) {
          return Status::InvalidArgument("properties." + std::string(name),
                                         "kind must be string, number, integer, boolean, object or array");
        }
        schema.properties.emplace_back(std::string(name), found->second);
      }
    } else {
      return Status::InvalidArgument(std::string(key),
                                     "unknown field (fields: required, properties, dimensions)");
    }
  }
  return schema;
}

std::string SchemaToJson(const Schema& schema) {
  JsonWriter json;
  json.BeginObject().Key("required").BeginArray();
  for (const std::string& name : schema.required) json.String(name);
  json.EndArray().Key("properties").BeginObject();
  for (const auto& [name, kind] : schema.properties) json.Key(name).String(KindName(kind));
  json.EndObject().Key("dimensions").BeginArray();
  for (const std::string& name : schema.dimensions) json.String(name);
  json.EndArray().EndObject();
  return json.Take();
}

Status CheckAgainstSchema(const EventView& event, const Schema& schema) {
  // Made only for an error: most events pass.
  auto rule = [&] { return " (schema of " + std::string(event.type) + ")"; };
  for (const std::string& dimension : schema.dimensions) {
    const std::string_view value = dimension == "product_id" ? event.product_id
                                   : dimension == "store_id" ? event.store_id
                                                             : event.session_id;
    if (value.empty()) return Status::InvalidArgument(dimension, "missing" + rule());
  }
  if (schema.required.empty() && schema.properties.empty()) return Status::Ok();
  simdjson::dom::parser parser;
  simdjson::dom::object properties;
  if (!event.properties_json.empty()) {
    if (parser.parse(event.properties_json).get_object().get(properties) != simdjson::SUCCESS) {
      return Status::InvalidArgument("properties", "must be a JSON object");
    }
  }
  for (const std::string& name : schema.required) {
    if (event.properties_json.empty() || properties.at_key(name).error() != simdjson::SUCCESS) {
      return Status::InvalidArgument("properties." + name, "missing" + rule());
    }
  }
  if (event.properties_json.empty()) return Status::Ok();
  for (const auto& [name, kind] : schema.properties) {
    simdjson::dom::element value;
    if (properties.at_key(name).get(value) != simdjson::SUCCESS) continue;
    if (!HasKind(value, kind)) {
      return Status::InvalidArgument("properties." + name, "must be " + std::string(KindName(kind)) + rule());
    }
  }
  return Status::Ok();
}

}  // namespace tally

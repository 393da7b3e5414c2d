// A small streaming JSON writer for responses. Strings are escaped and made valid UTF-8 (invalid bytes
// become U+FFFD), so ids that arrived as arbitrary bytes through the take-home protocol still give JSON.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace tally {

class JsonWriter {
 public:
  JsonWriter& BeginObject();
  JsonWriter& EndObject();
  JsonWriter& BeginArray();
  JsonWriter& EndArray();
  JsonWriter& Key(std::string_view key);
  JsonWriter& String(std::string_view value);
  JsonWriter& Int(int64_t value);
  JsonWriter& Uint(uint64_t value);
  JsonWriter& Bool(bool value);
  JsonWriter& Null();
  // Already-valid JSON (for example properties kept verbatim).
  JsonWriter& Raw(std::string_view json);

  const std::string& str() const { return out_; }
  std::string Take() { return std::move(out_); }

 private:
  void BeforeValue();
  std::string out_;
  std::vector<bool> needs_comma_;  // one entry per open object/array
  bool after_key_ = false;
};

void AppendJsonString(std::string_view value, std::string* out);

}  // namespace tally

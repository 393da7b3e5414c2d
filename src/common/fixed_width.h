// Fixed-width values in file headers, in the machine's byte order (little endian here), at any alignment.
#pragma once

#include <cstring>
#include <string>
#include <type_traits>

namespace tally {

template <typename T>
void PutFixed(std::string* out, T value) {
  static_assert(std::is_trivially_copyable_v<T>);
  out->append(reinterpret_cast<const char*>(&value), sizeof(value));
}

template <typename T>
T GetFixed(const char* at) {
  static_assert(std::is_trivially_copyable_v<T>);
  T value;
  std::memcpy(&value, at, sizeof(value));
  return value;
}

}  // namespace tally

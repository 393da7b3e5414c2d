#include "views/dictionary.h"

namespace tally {
uint32_t Dictionary::Intern(std::string_view key) {
  auto [it, inserted] = index_of_.try_emplace(AbslView(key), static_cast<uint32_t>(keys_.size()));
  if (inserted) keys_.emplace_back(key);
  return it->second;
}

std::optional<uint32_t> Dictionary::Find(std::string_view key) const {
  auto it = index_of_.find(AbslView(key));
  if (it == index_of_.end()) return std::nullopt;
  return it->second;
}

}  // namespace tally

// API keys and their roles (API.md "Keys and roles"): a file of `name role secret` lines.
#pragma once

#include <array>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tally/status.h"

namespace tally {

enum class Role { kIngest, kRead, kAdmin };

std::string_view RoleName(Role role);

struct ApiKey {
  std::string name;
  Role role;
};

class KeyRing {
 public:
  // One key per line: `name role secret`, separated by spaces or tabs; blank lines and lines starting
  // with '#' are skipped. Names and secrets must be unique; a secret has at least 16 characters.
  static Result<KeyRing> Parse(std::string_view text);
  static Result<KeyRing> LoadFile(const std::string& path);

  // The key whose secret this is. Every key is compared, each in constant time (SHA-256 digests), so the
  // time taken says nothing about how much of a secret matched.
  std::optional<ApiKey> Find(std::string_view secret) const;
  size_t size() const { return keys_.size(); }

 private:
  struct Entry {
    ApiKey key;
    std::array<unsigned char, 32> digest;
  };
  std::vector<Entry> keys_;
};

// The keys in force, replaced whole by a reload (SIGHUP) while requests read them.
class KeyStore {
 public:
  explicit KeyStore(KeyRing keys) : keys_(std::make_shared<const KeyRing>(std::move(keys))) {}
  std::shared_ptr<const KeyRing> Get() const {
    std::lock_guard lock(mutex_);
    return keys_;
  }
  void Replace(KeyRing keys) {
    auto replacement = std::make_shared<const KeyRing>(std::move(keys));
    std::lock_guard lock(mutex_);
    keys_ = std::move(replacement);
  }

 private:
  mutable std::mutex mutex_;
  std::shared_ptr<const KeyRing> keys_;
};

}  // namespace tally

#include "http/keys.h"

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <set>
#include <sstream>

namespace tally {
namespace {

constexpr size_t kMinSecretBytes = 16;
constexpr uint64_t kMaxKeysFileBytes = 1u << 20;

std::array<unsigned char, 32> Digest(std::string_view secret) {
  std::array<unsigned char, 32> digest{};
  SHA256(reinterpret_cast<const unsigned char*>(secret.data()), secret.size(), digest.data());
  return digest;
}

}  // namespace

std::string_view RoleName(Role role) {
  switch (role) {
    case Role::kIngest:
      return "ingest";
    case Role::kRead:
      return "read";
    case Role::kAdmin:
      return "admin";
  }
  return "?";
}

Result<KeyRing> KeyRing::Parse(std::string_view text) {
  KeyRing ring;
  std::set<std::string> names, secrets;
  std::istringstream lines{std::string(text)};
  std::string line;
  for (int number = 1; std::getline(lines, line); ++number) {
    std::istringstream words(line);
    std::string name, role, secret, extra;
    if (!(words >> name) || name.starts_with("#")) continue;
    const std::string where = "keys line " + std::to_string(number);
    if (!(words >> role >> secret) || (words >> extra))
      return Status::InvalidArgument("keys", where + ": expected `name role secret`");
    ApiKey key{name, Role::kRead};
    if (role == "ingest") {
      key.role = Role::kIngest;
    } else if (role == "read") {
      key.role = Role::kRead;
    } else if (role == "admin") {
      key.role = Role::kAdmin;
    } else {
      return Status::InvalidArgument("keys",
                                     where + ": role must be ingest, read or admin, not '" + role + "'");
    }
    if (secret.size() < kMinSecretBytes)
      return Status::InvalidArgument("keys", where + ": the secret must have at least 16 characters");
    if (!names.insert(name).second)
      return Status::InvalidArgument("keys", where + ": name '" + name + "' repeated");
    if (!secrets.insert(secret).second) return Status::InvalidArgument("keys", where + ": secret repeated");
    ring.keys_.push_back(Entry{std::move(key), Digest(secret)});
  }
  if (ring.keys_.empty()) return Status::InvalidArgument("keys", "the file holds no key");
  return ring;
}

Result<KeyRing> KeyRing::LoadFile(const std::string& path) {
  // A device or a FIFO named by mistake (or on purpose) would be read without end on every SIGHUP: only a
  // regular file of a bounded size is read.
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return Status::InvalidArgument("keys", "cannot read " + path + ": " + std::strerror(errno));
  struct stat info {};
  if (::fstat(fd, &info) != 0 || !S_ISREG(info.st_mode)) {
    ::close(fd);
    return Status::InvalidArgument("keys", path + " is not a regular file");
  }
  if (static_cast<uint64_t>(info.st_size) > kMaxKeysFileBytes) {
    ::close(fd);
    return Status::InvalidArgument("keys",
                                   path + " is larger than " + std::to_string(kMaxKeysFileBytes) + " bytes");
  }
  std::string contents(static_cast<size_t>(info.st_size), '\0');
  size_t read_bytes = 0;
  while (read_bytes < contents.size()) {
    const ssize_t n = ::read(fd, contents.data() + read_bytes, contents.size() - read_bytes);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    read_bytes += static_cast<size_t>(n);
  }
  ::close(fd);
  contents.resize(read_bytes);
  return Parse(contents);
}

std::optional<ApiKey> KeyRing::Find(std::string_view secret) const {
  const auto presented = Digest(secret);
  std::optional<ApiKey> found;
  for (const Entry& entry : keys_) {
    if (CRYPTO_memcmp(presented.data(), entry.digest.data(), presented.size()) == 0) found = entry.key;
  }
  return found;
}

}  // namespace tally

#include "http/client_address.h"

#include <arpa/inet.h>
#include <sys/socket.h>

#include <charconv>
#include <cstring>

namespace tally {
namespace {

struct Address {
  int family = 0;
  std::array<uint8_t, 16> bytes{};
};

std::string_view TrimSpaces(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

std::optional<Address> ParseAddress(std::string_view text) {
  const std::string copy(TrimSpaces(text));
  Address address;
  if (inet_pton(AF_INET, copy.c_str(), address.bytes.data()) == 1) {
    address.family = AF_INET;
    return address;
  }
  if (inet_pton(AF_INET6, copy.c_str(), address.bytes.data()) == 1) {
    address.family = AF_INET6;
    return address;
  }
  return std::nullopt;
}

}  // namespace

Result<Cidr> Cidr::Parse(std::string_view text) {
  text = TrimSpaces(text);
  const size_t slash = text.find('/');
  const auto address = ParseAddress(text.substr(0, slash));
  if (!address) {
    return Status::InvalidArgument("--trusted-proxies",
                                   "'" + std::string(text) + "' is not an IP address or network");
  }
  Cidr cidr;
  cidr.family_ = address->family;
  cidr.network_ = address->bytes;
  const int max_bits = address->family == AF_INET ? 32 : 128;
  cidr.prefix_bits_ = max_bits;
  if (slash != std::string_view::npos) {
    const std::string_view bits = text.substr(slash + 1);
    int value = 0;
    const auto [end, error] = std::from_chars(bits.data(), bits.data() + bits.size(), value);
    if (bits.empty() || error != std::errc() || end != bits.data() + bits.size() || value < 0 ||
        value > max_bits) {
      return Status::InvalidArgument(
          "--trusted-proxies",
          "'" + std::string(text) + "': the prefix must be 0 to " + std::to_string(max_bits) + " bits");
    }
    cidr.prefix_bits_ = value;
  }
  return cidr;
}

bool Cidr::Contains(std::string_view text) const {
  auto address = ParseAddress(text);
  if (!address) return false;
  // An IPv4 client seen through an IPv6 socket (::ffff:a.b.c.d) is that IPv4 address.
  constexpr uint8_t kMappedPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF};
  if (address->family == AF_INET6 && family_ == AF_INET &&
      std::memcmp(address->bytes.data(), kMappedPrefix, sizeof(kMappedPrefix)) == 0) {
    std::memmove(address->bytes.data(), address->bytes.data() + 12, 4);
    address->family = AF_INET;
  }
  if (address->family != family_) return false;
  const int whole = prefix_bits_ / 8, rest = prefix_bits_ % 8;
  if (std::memcmp(address->bytes.data(), network_.data(), static_cast<size_t>(whole)) != 0) return false;
  if (rest == 0) return true;
  const auto mask = static_cast<uint8_t>(0xFF << (8 - rest));
  return (address->bytes[whole] & mask) == (network_[whole] & mask);
}

Result<std::vector<Cidr>> ParseTrustedProxies(std::string_view list) {
  std::vector<Cidr> trusted;
  while (!TrimSpaces(list).empty()) {
    const size_t comma = list.find(',');
    auto cidr = Cidr::Parse(list.substr(0, comma));
    if (!cidr.ok()) return cidr.status();
    trusted.push_back(*cidr);
    list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
  }
  return trusted;
}

std::string ClientAddress(std::string_view peer, std::string_view forwarded_for,
                          const std::vector<Cidr>& trusted) {
  auto is_trusted = [&](std::string_view address) {
    for (const Cidr& cidr : trusted) {
      if (cidr.Contains(address)) return true;
    }
    return false;
  };
  std::string_view client = peer;
  while (is_trusted(client) && !TrimSpaces(forwarded_for).empty()) {
    const size_t comma = forwarded_for.rfind(',');
    const std::string_view hop =
        TrimSpaces(comma == std::string_view::npos ? forwarded_for : forwarded_for.substr(comma + 1));
    // A hop that is not an address ends what can be believed: the last proxy's word stands.
    if (!ParseAddress(hop)) break;
    client = hop;
    forwarded_for = comma == std::string_view::npos ? std::string_view() : forwarded_for.substr(0, comma);
  }
  return std::string(client);
}

}  // namespace tally

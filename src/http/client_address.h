// The address a request came from, for the per-address ingest rate. Behind a reverse proxy (the usual way
// to add TLS) every connection comes from the proxy: its X-Forwarded-For says whom it forwards, and is
// believed only when the connection's peer is a proxy the operator named (--trusted-proxies), since any
// client can write the header.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tally/status.h"

namespace tally {

// An IPv4 or IPv6 network: "10.0.0.0/8", "::1/128", or one address ("192.168.1.7" = /32).
class Cidr {
 public:
  static Result<Cidr> Parse(std::string_view text);
  bool Contains(std::string_view address) const;

 private:
  std::array<uint8_t, 16> network_{};
  int family_ = 0;  // AF_INET or AF_INET6
  int prefix_bits_ = 0;
};

// "CIDR,CIDR,..." (spaces allowed around each); errors name --trusted-proxies.
Result<std::vector<Cidr>> ParseTrustedProxies(std::string_view list);

// The client's address: the peer's, unless the peer is a trusted proxy; then the right-most address of
// X-Forwarded-For that is not itself a trusted proxy (each proxy appends the address it was called from,
// so the entries left of the first untrusted one were written by the client and prove nothing).
std::string ClientAddress(std::string_view peer, std::string_view forwarded_for,
                          const std::vector<Cidr>& trusted);

}  // namespace tally

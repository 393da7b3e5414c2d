// HOST:PORT as tallyd's --listen and the tally command's --server take it, read by one parser so that
// every flag accepts the same forms and refuses the same mistakes with the same words.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "tally/status.h"

namespace tally {

struct HostPort {
  std::string host;  // a name, an IPv4 address, or an IPv6 address without its brackets
  uint16_t port = 0;
};

enum class HostPortFor {
  kListening,   // ":PORT" is every IPv4 interface (0.0.0.0); port 0 asks for any free port
  kConnecting,  // a host is needed, and a port from 1 to 65535 (0 means "any" only to a listener)
};

// Reads "localhost:8080", "127.0.0.1:8080", "[::1]:8080" and, for listening, ":8080". An IPv6 address
// needs its brackets: in "::1:8080" the port cannot be told from the address. Errors name `flag_name`.
Result<HostPort> ParseHostPort(std::string_view text, std::string_view flag_name, HostPortFor use);

// The text ParseHostPort reads back as `address` (IPv6 in brackets): for Host headers and log lines.
std::string FormatHostPort(const HostPort& address);

}  // namespace tally

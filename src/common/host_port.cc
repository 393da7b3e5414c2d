#include "common/host_port.h"

#include <charconv>

namespace tally {
namespace {

std::string Quoted(std::string_view text) { return std::string("'").append(text).append("'"); }

std::string ExpectedForms(std::string_view text) {
  return "expected HOST:PORT (localhost:8080, 127.0.0.1:8080, [::1]:8080), got " + Quoted(text);
}

Result<uint16_t> ParsePort(std::string_view digits, std::string_view text, std::string_view flag_name,
                           HostPortFor use) {
  const uint32_t lowest = use == HostPortFor::kConnecting ? 1 : 0;
  const std::string range = "the port must be a number from " + std::to_string(lowest) + " to 65535";
  if (digits.empty())
    return Status::InvalidArgument(flag_name, range + ", and " + Quoted(text) + " has none");
  // from_chars, not std::stoi: no exception, no sign, no leading space, and overflow is reported.
  uint32_t port = 0;
  const char* end = digits.data() + digits.size();
  const auto [parsed_to, error] = std::from_chars(digits.data(), end, port);
  if (error != std::errc() || parsed_to != end || port < lowest || port > 65535)
    return Status::InvalidArgument(flag_name, range + ", got " + Quoted(digits) + " in " + Quoted(text));
  return static_cast<uint16_t>(port);
}

}  // namespace

Result<HostPort> ParseHostPort(std::string_view text, std::string_view flag_name, HostPortFor use) {
  auto refuse = [&](const std::string& why) { return Status::InvalidArgument(flag_name, why); };
  if (text.find("://") != std::string_view::npos)
    return refuse(ExpectedForms(text) + "; leave out the scheme");
  std::string_view host;
  std::string_view colon_and_port;
  if (text.starts_with('[')) {
    const size_t close = text.find(']');
    if (close == std::string_view::npos) return refuse(Quoted(text) + " opens a '[' that no ']' closes");
    host = text.substr(1, close - 1);
    if (host.find(':') == std::string_view::npos)
      return refuse("brackets hold an IPv6 address, as in [::1]:8080; got " + Quoted(text));
    colon_and_port = text.substr(close + 1);
    if (!colon_and_port.starts_with(':'))
      return refuse("expected ':' and a port after the ']' in " + Quoted(text));
  } else {
    const size_t colon = text.find(':');
    if (colon == std::string_view::npos) return refuse(ExpectedForms(text));
    if (text.find(':', colon + 1) != std::string_view::npos)
      return refuse(Quoted(text) +
                    " is ambiguous (more than one ':'): an IPv6 address goes in brackets, as in [::1]:8080");
    host = text.substr(0, colon);
    colon_and_port = text.substr(colon);
  }
  if (host.find_first_of("[]") != std::string_view::npos)
    return refuse("brackets must enclose the whole host, as in [::1]:8080; got " + Quoted(text));
  auto port = ParsePort(colon_and_port.substr(1), text, flag_name, use);
  if (!port.ok()) return port.status();
  if (host.empty()) {
    if (use == HostPortFor::kConnecting)
      return refuse("a host is needed before the ':', as in localhost:8080; got " + Quoted(text));
    host = "0.0.0.0";
  }
  return HostPort{std::string(host), *port};
}

std::string FormatHostPort(const HostPort& address) {
  const bool is_ipv6 = address.host.find(':') != std::string::npos;
  return (is_ipv6 ? "[" + address.host + "]" : address.host) + ":" + std::to_string(address.port);
}

}  // namespace tally

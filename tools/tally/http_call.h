// One blocking HTTP/1.1 request for the command line (Connection: close), to a tally server.
#pragma once

#include <string>
#include <string_view>

#include "common/host_port.h"
#include "tally/status.h"

namespace tally {

struct HttpAnswer {
  int status = 0;
  std::string retry_after;  // the Retry-After header, if any
  std::string body;
};

// `key` (may be empty) is sent as a bearer token.
Result<HttpAnswer> HttpCall(const HostPort& server, std::string_view method, std::string_view target,
                            std::string_view key, std::string_view content_type = {},
                            std::string_view body = {});

// A blocking TCP connection to the first of the server's addresses that takes one (a name may have IPv6
// and IPv4 addresses, and the server listen on only one of them). Reads and writes that would block give
// up after a minute.
Result<int> ConnectTo(const HostPort& server);

}  // namespace tally

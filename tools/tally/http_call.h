// One blocking HTTP/1.1 request for the command line (Connection: close), to a tally server.
#pragma once

#include <string>
#include <string_view>

#include "tally/status.h"

namespace tally {

struct HttpAnswer {
  int status = 0;
  std::string retry_after;  // the Retry-After header, if any
  std::string body;
};

// `server` is HOST:PORT; `key` (may be empty) is sent as a bearer token.
Result<HttpAnswer> HttpCall(const std::string& server, std::string_view method, std::string_view target,
                            std::string_view key, std::string_view content_type = {},
                            std::string_view body = {});

}  // namespace tally

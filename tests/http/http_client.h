// A small blocking HTTP/1.1 client for tests: keep-alive, raw bytes, pipelining.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace tally::testing {

struct HttpResponse {
  int status = 0;
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;
  bool has_header(const std::string& name) const { return headers.count(name) > 0; }
};

class HttpConnection {
 public:
  static std::unique_ptr<HttpConnection> Connect(uint16_t port);
  ~HttpConnection();

  // Sends one request and reads its response; nullopt if the connection failed or closed.
  std::optional<HttpResponse> Request(std::string_view method, std::string_view target,
                                      std::string_view body = {});
  bool SendRaw(std::string_view bytes);
  // How long a read waits for the server before giving up (30 s unless set).
  void SetReadTimeout(int milliseconds);
  std::optional<HttpResponse> ReadResponse(bool head_request = false);
  // True when the server closes the connection within `timeout_ms` (reading and discarding any bytes).
  bool WaitForClose(int timeout_ms);
  // True when the last ReadResponse ended because the connection closed after part of a response.
  bool half_answered() const { return half_answered_; }

 private:
  explicit HttpConnection(int fd) : fd_(fd) {}
  bool FillBuffer();
  int fd_;
  std::string buffer_;
  bool half_answered_ = false;
};

// One request on a fresh connection.
std::optional<HttpResponse> Fetch(uint16_t port, std::string_view method, std::string_view target,
                                  std::string_view body = {});

// The value of `sample` (a metric's name and labels as printed, `tally_hours{tier="hot"}`) in the text
// of /metrics; -1 when it is not there.
double MetricValue(std::string_view metrics, std::string_view sample);

}  // namespace tally::testing

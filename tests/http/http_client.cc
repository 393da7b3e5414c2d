#include "http_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>

namespace tally::testing {

std::unique_ptr<HttpConnection> HttpConnection::Connect(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
    ::close(fd);
    return nullptr;
  }
  int on = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
  timeval timeout{30, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  return std::unique_ptr<HttpConnection>(new HttpConnection(fd));
}

HttpConnection::~HttpConnection() { ::close(fd_); }

void HttpConnection::SetReadTimeout(int milliseconds) {
  timeval timeout{milliseconds / 1000, (milliseconds % 1000) * 1000};
  ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
}

bool HttpConnection::SendRaw(std::string_view bytes) {
  while (!bytes.empty()) {
    ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

bool HttpConnection::FillBuffer() {
  char chunk[16384];
  ssize_t n;
  do {
    n = ::recv(fd_, chunk, sizeof(chunk), 0);
  } while (n < 0 && errno == EINTR);
  if (n <= 0) return false;
  buffer_.append(chunk, static_cast<size_t>(n));
  return true;
}

std::optional<HttpResponse> HttpConnection::ReadResponse(bool head_request) {
  size_t header_end;
  while ((header_end = buffer_.find("\r\n\r\n")) == std::string::npos) {
    if (!FillBuffer()) {
      half_answered_ = !buffer_.empty();
      return std::nullopt;
    }
  }
  // From here on, a connection that ends leaves a response cut in the middle.
  half_answered_ = true;
  HttpResponse response;
  std::string head = buffer_.substr(0, header_end);
  buffer_.erase(0, header_end + 4);
  size_t line_end = head.find("\r\n");
  std::string status_line = head.substr(0, line_end);
  if (status_line.size() < 12 || status_line.compare(0, 5, "HTTP/") != 0) return std::nullopt;
  response.status = std::stoi(status_line.substr(9, 3));
  size_t at = line_end == std::string::npos ? head.size() : line_end + 2;
  while (at < head.size()) {
    size_t end = head.find("\r\n", at);
    if (end == std::string::npos) end = head.size();
    std::string line = head.substr(at, end - at);
    size_t colon = line.find(':');
    if (colon != std::string::npos) {
      std::string name = line.substr(0, colon);
      std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
      size_t value_at = line.find_first_not_of(' ', colon + 1);
      response.headers[name] = value_at == std::string::npos ? "" : line.substr(value_at);
    }
    at = end + 2;
  }
  if (head_request || response.status == 204 || response.status == 304) {
    half_answered_ = false;
    return response;
  }
  if (response.headers.count("content-length")) {
    size_t length = std::stoul(response.headers["content-length"]);
    while (buffer_.size() < length) {
      if (!FillBuffer()) return std::nullopt;
    }
    response.body = buffer_.substr(0, length);
    buffer_.erase(0, length);
    half_answered_ = false;
    return response;
  }
  if (response.headers["transfer-encoding"] == "chunked") {
    while (true) {
      size_t size_end;
      while ((size_end = buffer_.find("\r\n")) == std::string::npos) {
        if (!FillBuffer()) return std::nullopt;
      }
      size_t chunk = std::stoul(buffer_.substr(0, size_end), nullptr, 16);
      while (buffer_.size() < size_end + 2 + chunk + 2) {
        if (!FillBuffer()) return std::nullopt;
      }
      response.body += buffer_.substr(size_end + 2, chunk);
      buffer_.erase(0, size_end + 2 + chunk + 2);
      if (chunk == 0) {
        half_answered_ = false;
        return response;
      }
    }
  }
  while (FillBuffer()) {
  }
  response.body = std::move(buffer_);
  buffer_.clear();
  half_answered_ = false;
  return response;
}

std::optional<HttpResponse> HttpConnection::Request(std::string_view method, std::string_view target,
                                                    std::string_view body) {
  std::string request(method);
  request += " ";
  request += target;
  request += " HTTP/1.1\r\nHost: test\r\n";
  if (!body.empty() || method == "POST") request += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  request += "\r\n";
  request += body;
  if (!SendRaw(request)) return std::nullopt;
  return ReadResponse(method == "HEAD");
}

bool HttpConnection::WaitForClose(int timeout_ms) {
  pollfd waiting{fd_, POLLIN, 0};
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (std::chrono::steady_clock::now() < deadline) {
    int left = static_cast<int>(
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now())
            .count());
    if (::poll(&waiting, 1, std::max(left, 1)) <= 0) continue;
    char chunk[4096];
    ssize_t n = ::recv(fd_, chunk, sizeof(chunk), 0);
    if (n <= 0) return true;
  }
  return false;
}

std::optional<HttpResponse> Fetch(uint16_t port, std::string_view method, std::string_view target,
                                  std::string_view body) {
  auto connection = HttpConnection::Connect(port);
  if (!connection) return std::nullopt;
  return connection->Request(method, target, body);
}

double MetricValue(std::string_view metrics, std::string_view sample) {
  const std::string line_start = "\n" + std::string(sample) + " ";
  const size_t at = metrics.find(line_start);
  if (at == std::string_view::npos) return -1;
  const size_t value_at = at + line_start.size();
  return std::strtod(std::string(metrics.substr(value_at, metrics.find('\n', value_at) - value_at)).c_str(),
                     nullptr);
}

}  // namespace tally::testing

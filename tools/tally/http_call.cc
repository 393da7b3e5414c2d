#include "tools/tally/http_call.h"

#include <netdb.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace tally {
namespace {

constexpr int kTimeoutSeconds = 60;

std::string DecodeChunked(std::string_view body) {
  std::string out;
  while (!body.empty()) {
    const size_t line_end = body.find("\r\n");
    if (line_end == std::string_view::npos) break;
    const size_t size = std::strtoul(std::string(body.substr(0, line_end)).c_str(), nullptr, 16);
    if (size == 0 || line_end + 2 + size > body.size()) break;
    out.append(body.substr(line_end + 2, size));
    body.remove_prefix(std::min(body.size(), line_end + 2 + size + 2));
  }
  return out;
}

}  // namespace

Result<int> ConnectTo(const HostPort& server) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* found = nullptr;
  const std::string where = FormatHostPort(server);
  if (int rc = ::getaddrinfo(server.host.c_str(), std::to_string(server.port).c_str(), &hints, &found);
      rc != 0)
    return Status::InvalidArgument("--server", where + ": " + gai_strerror(rc));
  int fd = -1;
  int saved = 0;
  for (addrinfo* at = found; at != nullptr && fd < 0; at = at->ai_next) {
    fd = ::socket(at->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) continue;
    timeval timeout{kTimeoutSeconds, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout));
    if (::connect(fd, at->ai_addr, at->ai_addrlen) != 0) {
      saved = errno;
      ::close(fd);
      fd = -1;
    }
  }
  ::freeaddrinfo(found);
  if (fd < 0) return Status::FromErrno("connect to " + where, saved);
  return fd;
}

Result<HttpAnswer> HttpCall(const HostPort& server, std::string_view method, std::string_view target,
                            std::string_view key, std::string_view content_type, std::string_view body) {
  auto fd = ConnectTo(server);
  if (!fd.ok()) return fd.status();
  const std::string where = FormatHostPort(server);
  std::string request;
  request.append(method).append(" ").append(target).append(" HTTP/1.1\r\nHost: ").append(where);
  request.append("\r\nConnection: close\r\nContent-Length: ").append(std::to_string(body.size()));
  if (!key.empty()) request.append("\r\nAuthorization: Bearer ").append(key);
  if (!content_type.empty()) request.append("\r\nContent-Type: ").append(content_type);
  request.append("\r\n\r\n").append(body);
  for (std::string_view rest = request; !rest.empty();) {
    const ssize_t sent = ::send(*fd, rest.data(), rest.size(), MSG_NOSIGNAL);
    if (sent <= 0) {
      const int saved = errno;
      ::close(*fd);
      return Status::FromErrno("send to " + where, saved);
    }
    rest.remove_prefix(static_cast<size_t>(sent));
  }
  std::string response;
  char chunk[65536];
  while (true) {
    const ssize_t got = ::recv(*fd, chunk, sizeof(chunk), 0);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) break;
    response.append(chunk, static_cast<size_t>(got));
  }
  ::close(*fd);
  const size_t head_end = response.find("\r\n\r\n");
  if (response.size() < 12 || !response.starts_with("HTTP/1.") || head_end == std::string::npos)
    return Status::Unavailable(where + ": no complete HTTP response");
  HttpAnswer answer;
  answer.status = std::atoi(response.c_str() + 9);
  std::string head = response.substr(0, head_end);
  for (char& c : head) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  answer.body = response.substr(head_end + 4);
  if (head.find("\r\ntransfer-encoding: chunked") != std::string::npos)
    answer.body = DecodeChunked(answer.body);
  if (const size_t at = head.find("\r\nretry-after: "); at != std::string::npos) {
    const size_t end = head.find("\r\n", at + 2);
    answer.retry_after = head.substr(at + 15, end - at - 15);
  }
  return answer;
}

}  // namespace tally

#include "tools/tally/load.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <vector>

#include "tools/tally/http_call.h"

namespace tally {

size_t LatencyHistogram::IndexOf(uint64_t micros) {
  if (micros < kSubBuckets) return micros;
  const int magnitude = 63 - __builtin_clzll(micros);  // >= 5
  const uint64_t sub = (micros >> (magnitude - 5)) & (kSubBuckets - 1);
  return static_cast<size_t>(magnitude - 4) * kSubBuckets + sub;
}

uint64_t LatencyHistogram::UpperBoundOf(size_t index) {
  if (index < kSubBuckets) return index;
  const int magnitude = static_cast<int>(index / kSubBuckets) + 4;
  const uint64_t sub = index % kSubBuckets;
  return ((kSubBuckets + sub + 1) << (magnitude - 5)) - 1;
}

void LatencyHistogram::Record(uint64_t micros) {
  ++counts_[std::min(IndexOf(micros), counts_.size() - 1)];
  ++count_;
  max_ = std::max(max_, micros);
}

uint64_t LatencyHistogram::Percentile(double percent) const {
  if (count_ == 0) return 0;
  const auto wanted = static_cast<uint64_t>(percent / 100.0 * static_cast<double>(count_) + 0.5);
  uint64_t seen = 0;
  for (size_t i = 0; i < counts_.size(); ++i) {
    seen += counts_[i];
    if (seen >= std::max<uint64_t>(wanted, 1)) return std::min(UpperBoundOf(i), max_);
  }
  return max_;
}

namespace {

using Clock = std::chrono::steady_clock;

struct Connection {
  int fd = -1;
  std::string request;
  size_t sent = 0;
  std::string response;
  uint64_t events_in_request = 0;
  Clock::time_point started;
  bool busy = false;
};

// A complete response at the start of `buffer`: its status and length, or 0 if more bytes are needed.
size_t CompleteResponse(const std::string& buffer, int* status) {
  const size_t head_end = buffer.find("\r\n\r\n");
  if (head_end == std::string::npos || buffer.size() < 12) return 0;
  *status = std::atoi(buffer.c_str() + 9);
  size_t body = 0;
  const char* header = "\r\ncontent-length:";
  for (size_t at = 0; at < head_end; ++at) {
    if (::strncasecmp(buffer.c_str() + at, header, std::strlen(header)) == 0) {
      body = std::strtoul(buffer.c_str() + at + std::strlen(header), nullptr, 10);
      break;
    }
  }
  const size_t total = head_end + 4 + body;
  return buffer.size() >= total ? total : 0;
}

}  // namespace

Status RunLoad(const LoadOptions& options, LoadReport* report) {
  EventMix mix(options.mix);
  const HostPort server{options.host, options.port};
  const std::string host_header = "Host: " + FormatHostPort(server) + "\r\n";
  auto build_request = [&](Connection& connection) {
    connection.request.clear();
    connection.sent = 0;
    if (options.batch == 0) {
      connection.request = "POST ";
      mix.AppendTakeHomeTarget(&connection.request);
      connection.request += " HTTP/1.1\r\n" + host_header + "Content-Length: 0\r\n\r\n";
      connection.events_in_request = 1;
      return;
    }
    std::string body;
    body.reserve(static_cast<size_t>(options.batch) * 170);
    for (int i = 0; i < options.batch; ++i) {
      mix.AppendJson(&body);
      body.push_back('\n');
    }
    connection.request =
        "POST /v1/events HTTP/1.1\r\n" + host_header +
        "Content-Type: application/x-ndjson\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" +
        body;
    connection.events_in_request = static_cast<uint64_t>(options.batch);
  };

  const int epoll = ::epoll_create1(EPOLL_CLOEXEC);
  std::vector<std::unique_ptr<Connection>> connections;
  for (int i = 0; i < options.connections; ++i) {
    auto connection = std::make_unique<Connection>();
    auto fd = ConnectTo(server);
    if (!fd.ok()) {
      ::close(epoll);
      return fd.status();
    }
    connection->fd = *fd;
    int on = 1;
    ::setsockopt(connection->fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
    epoll_event event{EPOLLIN, {.ptr = connection.get()}};
    ::epoll_ctl(epoll, EPOLL_CTL_ADD, connection->fd, &event);
    connections.push_back(std::move(connection));
  }

  const Clock::time_point start = Clock::now();
  const Clock::time_point stop_at =
      start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(options.seconds));
  uint64_t scheduled_events = 0;  // events sent or due to be sent
  auto may_start = [&](Clock::time_point now) {
    if (options.events > 0 ? scheduled_events >= options.events : now >= stop_at) return false;
    if (options.rate <= 0) return true;
    const auto due = start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(
                                 static_cast<double>(scheduled_events) / options.rate));
    return now >= due;
  };
  auto send_some = [&](Connection& connection) -> bool {
    while (connection.sent < connection.request.size()) {
      ssize_t n = ::send(connection.fd, connection.request.data() + connection.sent,
                         connection.request.size() - connection.sent, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return true;
      if (n <= 0) return false;
      connection.sent += static_cast<size_t>(n);
    }
    return true;
  };
  auto start_request = [&](Connection& connection, Clock::time_point now) {
    build_request(connection);
    connection.started = now;
    connection.busy = true;
    scheduled_events += connection.events_in_request;
    if (!send_some(connection)) ++report->failures[0];
    uint32_t interest = EPOLLIN | (connection.sent < connection.request.size() ? EPOLLOUT : 0u);
    epoll_event event{interest, {.ptr = &connection}};
    ::epoll_ctl(epoll, EPOLL_CTL_MOD, connection.fd, &event);
  };

  int busy = 0;
  std::vector<epoll_event> ready(static_cast<size_t>(options.connections));
  while (true) {
    Clock::time_point now = Clock::now();
    for (auto& connection : connections) {
      if (!connection->busy && may_start(now)) {
        start_request(*connection, now);
        ++busy;
      }
    }
    if (busy == 0 && !may_start(Clock::now()) && (options.events > 0 || Clock::now() >= stop_at)) break;
    const int count =
        ::epoll_wait(epoll, ready.data(), static_cast<int>(ready.size()), options.rate > 0 ? 1 : 100);
    for (int i = 0; i < count; ++i) {
      auto& connection = *static_cast<Connection*>(ready[i].data.ptr);
      if (ready[i].events & EPOLLOUT) {
        if (!send_some(connection)) ++report->failures[0];
        if (connection.sent == connection.request.size()) {
          epoll_event event{EPOLLIN, {.ptr = &connection}};
          ::epoll_ctl(epoll, EPOLL_CTL_MOD, connection.fd, &event);
        }
      }
      if (!(ready[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))) continue;
      char chunk[65536];
      ssize_t n = ::recv(connection.fd, chunk, sizeof(chunk), MSG_DONTWAIT);
      if (n <= 0) {
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) continue;
        ::close(epoll);
        return Status::Unavailable("the server closed a connection");
      }
      connection.response.append(chunk, static_cast<size_t>(n));
      int status = 0;
      const size_t length = CompleteResponse(connection.response, &status);
      if (length == 0) continue;
      connection.response.erase(0, length);
      const auto micros =
          std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - connection.started);
      report->latency.Record(static_cast<uint64_t>(micros.count()));
      ++report->requests;
      if (status >= 200 && status < 300) {
        report->events += connection.events_in_request;
      } else {
        ++report->failures[status];
      }
      connection.busy = false;
      --busy;
      now = Clock::now();
      if (may_start(now)) {
        start_request(connection, now);
        ++busy;
      }
    }
  }
  report->seconds = std::chrono::duration<double>(Clock::now() - start).count();
  for (auto& connection : connections) ::close(connection->fd);
  ::close(epoll);
  return Status::Ok();
}

std::string FormatReport(const LoadOptions& options, const LoadReport& report) {
  char text[1024];
  std::snprintf(
      text, sizeof(text),
      "load: %s, %d connections, %s\n"
      "events      %llu in %.2f s: %.0f events/s\n"
      "requests    %llu: %.0f requests/s\n"
      "latency us  p50 %llu  p90 %llu  p99 %llu  p99.9 %llu  max %llu\n",
      options.batch == 0
          ? "POST /analytics (one event per request)"
          : ("POST /v1/events NDJSON, " + std::to_string(options.batch) + " events each").c_str(),
      options.connections,
      options.rate > 0
          ? ("aiming at " + std::to_string(static_cast<long long>(options.rate)) + " events/s").c_str()
          : "as fast as possible",
      static_cast<unsigned long long>(report.events), report.seconds,
      static_cast<double>(report.events) / report.seconds, static_cast<unsigned long long>(report.requests),
      static_cast<double>(report.requests) / report.seconds,
      static_cast<unsigned long long>(report.latency.Percentile(50)),
      static_cast<unsigned long long>(report.latency.Percentile(90)),
      static_cast<unsigned long long>(report.latency.Percentile(99)),
      static_cast<unsigned long long>(report.latency.Percentile(99.9)),
      static_cast<unsigned long long>(report.latency.max()));
  std::string result = text;
  if (report.failures.empty()) {
    result += "errors      none\n";
  } else {
    for (const auto& [status, count] : report.failures) {
      result += "errors      " + std::to_string(count) +
                (status == 0 ? " connection errors" : " answered " + std::to_string(status)) + "\n";
    }
  }
  return result;
}

}  // namespace tally

// A minimal blocking HTTP/1.0 GET client for tests that talk to servers on loopback
// (a /metrics page, Prometheus' API), plus a free-port picker. Header-only.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace dllm::testing {

struct HttpResponse {
  int status = 0;
  std::string body;
};

// GET http://HOST:PORT/TARGET (HOST an IPv4 literal or [IPv6] without brackets), reading the
// whole reply (HTTP/1.0: no chunked encoding, the server closes the connection).
inline absl::StatusOr<HttpResponse> http_get(
    const std::string& host, int port, const std::string& target,
    std::chrono::milliseconds timeout = std::chrono::milliseconds(5000)) {
  sockaddr_storage addr{};
  socklen_t addr_len = 0;
  const bool v6 = host.find(':') != std::string::npos;
  if (v6) {
    auto* a = reinterpret_cast<sockaddr_in6*>(&addr);
    a->sin6_family = AF_INET6;
    a->sin6_port = htons(static_cast<uint16_t>(port));
    if (inet_pton(AF_INET6, host.c_str(), &a->sin6_addr) != 1) {
      return absl::InvalidArgumentError("http_get: bad host " + host);
    }
    addr_len = sizeof(sockaddr_in6);
  } else {
    auto* a = reinterpret_cast<sockaddr_in*>(&addr);
    a->sin_family = AF_INET;
    a->sin_port = htons(static_cast<uint16_t>(port));
    if (inet_pton(AF_INET, host.c_str(), &a->sin_addr) != 1) {
      return absl::InvalidArgumentError("http_get: bad host " + host);
    }
    addr_len = sizeof(sockaddr_in);
  }
  const int fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return absl::InternalError("http_get: socket failed");
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(timeout.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((timeout.count() % 1000) * 1000);
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), addr_len) != 0) {
    const std::string why = std::strerror(errno);
    close(fd);
    return absl::UnavailableError(absl::StrCat("http_get: connect ", host, ":", port, ": ", why));
  }
  const std::string request = absl::StrCat("GET ", target, " HTTP/1.0\r\nHost: ", host, ":", port,
                                           "\r\nConnection: close\r\n\r\n");
  size_t sent = 0;
  while (sent < request.size()) {
    const ssize_t n = send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) {
      close(fd);
      return absl::UnavailableError("http_get: send failed");
    }
    sent += static_cast<size_t>(n);
  }
  std::string raw;
  char buf[16384];
  for (;;) {
    const ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n == 0) break;
    if (n < 0) {
      close(fd);
      return absl::DeadlineExceededError("http_get: no complete reply from " + host);
    }
    raw.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  // "HTTP/1.x 200 OK\r\n...headers...\r\n\r\nbody"
  const size_t header_end = raw.find("\r\n\r\n");
  const size_t space = raw.find(' ');
  HttpResponse response;
  if (header_end == std::string::npos || space == std::string::npos ||
      !absl::SimpleAtoi(raw.substr(space + 1, 3), &response.status)) {
    return absl::DataLossError("http_get: malformed reply: " + raw.substr(0, 200));
  }
  response.body = raw.substr(header_end + 4);
  return response;
}

// Percent-encodes a query parameter value.
inline std::string url_encode(std::string_view text) {
  std::string out;
  for (const unsigned char c : text) {
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      char hex[4];
      std::snprintf(hex, sizeof hex, "%%%02X", c);
      out += hex;
    }
  }
  return out;
}

// A loopback TCP port that was free a moment ago (for programs that need a port number up
// front, such as Prometheus' --web.listen-address). 0 when none could be had.
inline int pick_free_port() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return 0;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  socklen_t len = sizeof a;
  int port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0) {
    port = ntohs(a.sin_port);
  }
  close(fd);
  return port;
}

}  // namespace dllm::testing

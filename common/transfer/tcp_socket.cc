#include "common/transfer/tcp_socket.h"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace dllm::transfer {
namespace {

std::string errno_text(int e) { return std::strerror(e); }

// Milliseconds until `deadline` for poll(), rounded up; -1 for "never".
int poll_timeout_ms(SteadyClock::time_point deadline) {
  if (deadline == SteadyClock::time_point::max()) return -1;
  const auto left = deadline - SteadyClock::now();
  if (left <= SteadyClock::duration::zero()) return 0;
  const auto ms = std::chrono::ceil<std::chrono::milliseconds>(left).count();
  return static_cast<int>(std::min<int64_t>(ms, 1 << 30));
}

// Waits for `events` on fd; false at the deadline.
absl::StatusOr<bool> wait_fd(int fd, short events, SteadyClock::time_point deadline) {
  for (;;) {
    pollfd p{.fd = fd, .events = events, .revents = 0};
    const int n = poll(&p, 1, poll_timeout_ms(deadline));
    if (n > 0) return true;
    if (n == 0) {
      if (SteadyClock::now() >= deadline) return false;
      continue;  // rounding: poll woke a little early
    }
    if (errno != EINTR) return absl::InternalError(absl::StrCat("poll: ", errno_text(errno)));
  }
}

absl::StatusOr<addrinfo*> resolve(const std::string& host, int port, bool passive) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = passive ? AI_PASSIVE : 0;
  addrinfo* out = nullptr;
  const std::string service = std::to_string(port);
  const int rc = getaddrinfo(host.c_str(), service.c_str(), &hints, &out);
  if (rc != 0)
    return absl::UnavailableError(absl::StrCat("cannot resolve '", host, "': ", gai_strerror(rc)));
  return out;
}

void set_nodelay(int fd) {
  const int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

}  // namespace

SteadyClock::time_point steady_deadline_after(absl::Duration timeout) {
  if (timeout > absl::Hours(24 * 365)) return SteadyClock::time_point::max();
  return SteadyClock::now() +
         std::chrono::duration_cast<SteadyClock::duration>(
             absl::ToChronoNanoseconds(std::max(timeout, absl::ZeroDuration())));
}

UniqueFd& UniqueFd::operator=(UniqueFd&& o) noexcept {
  if (this != &o) reset(o.release());
  return *this;
}

void UniqueFd::reset(int fd) {
  if (fd_ >= 0) close(fd_);
  fd_ = fd;
}

absl::StatusOr<UniqueFd> listen_tcp(const std::string& host, int port, uint16_t* bound_port) {
  if (port < 0 || port > 65535)
    return absl::InvalidArgumentError(absl::StrCat("port must be in [0, 65535], got ", port));
  absl::StatusOr<addrinfo*> addrs = resolve(host, port, true);
  if (!addrs.ok()) return addrs.status();
  std::string why = "no address";
  UniqueFd fd;
  for (addrinfo* a = *addrs; a != nullptr; a = a->ai_next) {
    fd.reset(socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol));
    if (fd.get() < 0) continue;
    const int one = 1;
    setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd.get(), a->ai_addr, a->ai_addrlen) == 0 && listen(fd.get(), 64) == 0) break;
    why = errno_text(errno);
    fd.reset();
  }
  freeaddrinfo(*addrs);
  if (fd.get() < 0)
    return absl::UnavailableError(absl::StrCat("cannot listen on ", host, ":", port, ": ", why));
  sockaddr_storage ss{};
  socklen_t len = sizeof(ss);
  if (getsockname(fd.get(), reinterpret_cast<sockaddr*>(&ss), &len) != 0)
    return absl::InternalError(absl::StrCat("getsockname: ", errno_text(errno)));
  *bound_port = ss.ss_family == AF_INET6
                    ? ntohs(reinterpret_cast<const sockaddr_in6*>(&ss)->sin6_port)
                    : ntohs(reinterpret_cast<const sockaddr_in*>(&ss)->sin_port);
  return fd;
}

absl::StatusOr<UniqueFd> accept_tcp(int listen_fd, SteadyClock::time_point deadline) {
  for (;;) {
    absl::StatusOr<bool> readable = wait_fd(listen_fd, POLLIN, deadline);
    if (!readable.ok()) return readable.status();
    if (!*readable) return absl::DeadlineExceededError("no connection came in time");
    const int fd = accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd >= 0) {
      set_nodelay(fd);
      return UniqueFd(fd);
    }
    if (errno != EINTR && errno != EAGAIN && errno != ECONNABORTED)
      return absl::UnavailableError(absl::StrCat("accept: ", errno_text(errno)));
  }
}

absl::StatusOr<UniqueFd> connect_tcp(const std::string& host, uint16_t port,
                                     SteadyClock::time_point deadline) {
  absl::StatusOr<addrinfo*> addrs = resolve(host, port, false);
  if (!addrs.ok()) return addrs.status();
  absl::Status last = absl::UnavailableError(absl::StrCat("cannot connect to ", host, ":", port));
  UniqueFd fd;
  for (addrinfo* a = *addrs; a != nullptr; a = a->ai_next) {
    fd.reset(socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, a->ai_protocol));
    if (fd.get() < 0) continue;
    int rc = connect(fd.get(), a->ai_addr, a->ai_addrlen);
    if (rc != 0 && errno == EINPROGRESS) {
      absl::StatusOr<bool> writable = wait_fd(fd.get(), POLLOUT, deadline);
      if (!writable.ok()) {
        last = writable.status();
      } else if (!*writable) {
        last = absl::DeadlineExceededError(
            absl::StrCat("connecting to ", host, ":", port, " timed out"));
        break;  // the deadline holds for every address
      } else {
        int err = 0;
        socklen_t len = sizeof(err);
        getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &len);
        rc = err == 0 ? 0 : -1;
        errno = err;
      }
    }
    if (rc == 0) {
      const int flags = fcntl(fd.get(), F_GETFL);
      fcntl(fd.get(), F_SETFL, flags & ~O_NONBLOCK);
      set_nodelay(fd.get());
      freeaddrinfo(*addrs);
      return fd;
    }
    if (last.code() != absl::StatusCode::kDeadlineExceeded)
      last = absl::UnavailableError(
          absl::StrCat("cannot connect to ", host, ":", port, ": ", errno_text(errno)));
    fd.reset();
  }
  freeaddrinfo(*addrs);
  return last;
}

absl::Status send_all(int fd, const void* data, size_t bytes) {
  const char* p = static_cast<const char*>(data);
  while (bytes > 0) {
    const ssize_t n = send(fd, p, bytes, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0)
      return absl::UnavailableError(absl::StrCat("connection broken: ", errno_text(errno)));
    p += n;
    bytes -= static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

absl::Status recv_all(int fd, void* data, size_t bytes, SteadyClock::time_point deadline) {
  char* p = static_cast<char*>(data);
  while (bytes > 0) {
    if (deadline != SteadyClock::time_point::max()) {
      absl::StatusOr<bool> readable = wait_fd(fd, POLLIN, deadline);
      if (!readable.ok()) return readable.status();
      if (!*readable) return absl::DeadlineExceededError("no answer in time");
    }
    const ssize_t n = recv(fd, p, bytes, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n == 0) return absl::UnavailableError("the peer closed the connection");
    if (n < 0)
      return absl::UnavailableError(absl::StrCat("connection broken: ", errno_text(errno)));
    p += n;
    bytes -= static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

bool peer_closed(int fd) {
  char byte;
  const ssize_t n = recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  if (n > 0) return false;
  if (n == 0) return true;
  return errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR;
}

}  // namespace dllm::transfer

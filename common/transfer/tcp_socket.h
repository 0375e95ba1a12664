// Small blocking TCP helpers for the nccl back end's control connections (and the host-memory
// pair channel): listen, connect and read with a deadline, write whole messages.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace dllm::transfer {

using SteadyClock = std::chrono::steady_clock;

// now + timeout; beyond a year is "never" (and cannot overflow).
SteadyClock::time_point steady_deadline_after(absl::Duration timeout);

// An owned file descriptor.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& o) noexcept : fd_(o.release()) {}
  UniqueFd& operator=(UniqueFd&& o) noexcept;
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() { reset(); }
  int get() const { return fd_; }
  int release() {
    const int fd = fd_;
    fd_ = -1;
    return fd;
  }
  void reset(int fd = -1);

 private:
  int fd_ = -1;
};

// A listening socket on host:port (port 0: any free one); *bound_port is the port it got.
absl::StatusOr<UniqueFd> listen_tcp(const std::string& host, int port, uint16_t* bound_port);
// Accepts one connection, waiting until `deadline`; DeadlineExceeded when none came.
absl::StatusOr<UniqueFd> accept_tcp(int listen_fd, SteadyClock::time_point deadline);
// Unavailable when nobody listens there, DeadlineExceeded when connecting takes too long.
absl::StatusOr<UniqueFd> connect_tcp(const std::string& host, uint16_t port,
                                     SteadyClock::time_point deadline);

// Unavailable once the connection is broken (no SIGPIPE).
absl::Status send_all(int fd, const void* data, size_t bytes);
// Unavailable when the peer closed or the connection broke, DeadlineExceeded at the deadline
// (the stream is then out of step: close it).
absl::Status recv_all(int fd, void* data, size_t bytes,
                      SteadyClock::time_point deadline = SteadyClock::time_point::max());
// Without blocking and without consuming anything: whether the peer has closed the connection
// or it broke. Bytes waiting to be read are not a close.
bool peer_closed(int fd);

}  // namespace dllm::transfer

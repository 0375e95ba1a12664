// ListenAddress: a HOST:PORT flag value (`--metrics-listen`, `--listen`) checked once at startup.
#pragma once

#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace dllm::metrics {

struct ListenAddress {
  std::string host;  // an IPv4 or IPv6 literal ("localhost" is stored as 127.0.0.1)
  int port = 0;      // 0 = let the kernel pick a free port
  // "127.0.0.1:9464" or "[::1]:9464".
  std::string to_string() const;
};

// Parses "HOST:PORT" where HOST is an IPv4 address, "[IPv6]" or localhost and PORT is
// 0..65535. InvalidArgument names `flag` and the value, so the CLI can print it as it is.
absl::StatusOr<ListenAddress> parse_listen_address(std::string_view text,
                                                   std::string_view flag = "--metrics-listen");

}  // namespace dllm::metrics

// HOST:PORT parsing for listen flags: IP literals only, since civetweb does not resolve names.
#include "common/metrics/listen_address.h"

#include <arpa/inet.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace dllm::metrics {

std::string ListenAddress::to_string() const {
  if (host.find(':') != std::string::npos) return absl::StrCat("[", host, "]:", port);
  return absl::StrCat(host, ":", port);
}

absl::StatusOr<ListenAddress> parse_listen_address(std::string_view text, std::string_view flag) {
  const auto bad = [&](std::string_view why) {
    return absl::InvalidArgumentError(std::string(flag) + " \"" + std::string(text) +
                                      "\": " + std::string(why) +
                                      " (expected HOST:PORT, e.g. 127.0.0.1:9464 or [::1]:9464)");
  };
  const size_t colon = text.rfind(':');
  if (colon == std::string_view::npos) return bad("no port");
  std::string_view host = text.substr(0, colon);
  const std::string_view port_text = text.substr(colon + 1);
  int port = 0;
  if (port_text.empty() || port_text.find_first_not_of("0123456789") != std::string_view::npos ||
      !absl::SimpleAtoi(std::string(port_text), &port) || port > 65535) {
    return bad("the port must be a number from 0 to 65535");
  }
  ListenAddress address;
  address.port = port;
  if (host == "localhost") {
    address.host = "127.0.0.1";
    return address;
  }
  const bool bracketed = host.size() >= 2 && host.front() == '[' && host.back() == ']';
  if (bracketed) host = host.substr(1, host.size() - 2);
  const std::string host_text(host);
  unsigned char buf[sizeof(in6_addr)];
  if (bracketed ? inet_pton(AF_INET6, host_text.c_str(), buf) != 1
                : inet_pton(AF_INET, host_text.c_str(), buf) != 1) {
    return bad(host.empty() ? "no host"
                            : "the host must be an IPv4 address, [IPv6 address] or localhost");
  }
  address.host = host_text;
  return address;
}

}  // namespace dllm::metrics

// Helpers shared by the transfer tests: reproducible random payloads and transport factories.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <memory>
#include <random>
#include <vector>

#include "common/transfer/transport.h"

namespace dllm::transfer::testing {

inline std::vector<uint8_t> random_bytes(size_t n, uint64_t seed) {
  std::vector<uint8_t> out(n);
  std::mt19937_64 rng(seed);
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const uint64_t v = rng();
    std::memcpy(out.data() + i, &v, 8);
  }
  for (; i < n; ++i) out[i] = static_cast<uint8_t>(rng());
  return out;
}

inline std::unique_ptr<Transport> make_or_die(const std::string& name,
                                              const TransportOptions& options = {}) {
  absl::StatusOr<std::unique_ptr<Transport>> t = make_transport(name, options);
  EXPECT_TRUE(t.ok()) << t.status();
  return t.ok() ? std::move(*t) : nullptr;
}

inline TransportOptions ucx_options(UcxProtocol protocol, size_t piece_bytes = size_t{1} << 20) {
  TransportOptions o;
  o.ucx_tls = "tcp";
  o.ucx_protocol = protocol;
  o.ucx_piece_bytes = piece_bytes;
  return o;
}

}  // namespace dllm::transfer::testing

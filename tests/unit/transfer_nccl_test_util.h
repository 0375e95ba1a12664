// Helpers of the nccl transport's unit tests: the nccl protocol over the host-memory pair
// channel, so that it runs (and is tested) without GPUs.
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <memory>

#include "common/transfer/host_pair_channel.h"
#include "common/transfer/nccl_transport.h"

namespace dllm::transfer::testing {

struct HostNccl {
  std::unique_ptr<Transport> transport;
  std::shared_ptr<std::atomic<int>> pairs_joined = std::make_shared<std::atomic<int>>(0);
};

inline TransportOptions nccl_test_options(absl::Duration grace = absl::Milliseconds(500),
                                          size_t piece_bytes = size_t{1} << 20) {
  TransportOptions o;
  o.nccl_unexpose_grace = grace;
  o.nccl_piece_bytes = piece_bytes;
  return o;
}

// `pause_per_chunk` > 0 makes a slow link (each 64 KiB chunk then waits that long).
inline HostNccl make_host_nccl(const TransportOptions& options = nccl_test_options(),
                               absl::Duration pause_per_chunk = absl::ZeroDuration()) {
  HostNccl h;
  HostPairChannelOptions channel;
  channel.pairs_joined = h.pairs_joined;
  if (pause_per_chunk > absl::ZeroDuration()) {
    channel.io_chunk_bytes = 64 << 10;
    channel.pause_per_chunk = pause_per_chunk;
  }
  absl::StatusOr<std::unique_ptr<Transport>> t =
      make_nccl_transport_over(options, make_host_pair_channel_factory(channel));
  EXPECT_TRUE(t.ok()) << t.status();
  if (t.ok()) h.transport = std::move(*t);
  return h;
}

}  // namespace dllm::transfer::testing

// A PairChannel in host memory over its own TCP connection: the nccl back end's protocol runs on
// it in unit tests (and on machines without GPUs), with NCCL's shape: the first rank listens and
// hands out bootstrap bytes, the second joins with them, and messages move asynchronously on a
// thread of their own, in order, until abort() cuts the connection.
#pragma once

#include <atomic>
#include <cstddef>
#include <memory>
#include <string>

#include "absl/time/time.h"
#include "common/transfer/pair_channel.h"

namespace dllm::transfer {

struct HostPairChannelOptions {
  std::string host = "127.0.0.1";  // where the first rank listens for the second
  // Messages move in chunks of this size; tests slow a link down with a pause after each.
  size_t io_chunk_bytes = size_t{1} << 20;
  absl::Duration pause_per_chunk = absl::ZeroDuration();
  // How long a first rank waits for its second to join.
  absl::Duration join_timeout = absl::Seconds(30);
  // Tests: counts the pairs this factory's channels joined (or null).
  std::shared_ptr<std::atomic<int>> pairs_joined;
};

std::unique_ptr<PairChannelFactory> make_host_pair_channel_factory(HostPairChannelOptions options);

}  // namespace dllm::transfer

// The data mover under the nccl back end's pull protocol: a two-sided, ordered channel between
// one exposing process (the first rank) and one pulling process (the second). NCCL's
// communicator of two ranks is the real one (nccl_pair_channel.h); a host-memory channel over a
// socket (host_pair_channel.h) runs the same protocol in unit tests on machines without GPUs.
//
// A channel is set up from bootstrap bytes that the first rank makes and the control connection
// carries to the second (NCCL's unique id). Transfers are asynchronous: start_send/start_recv
// queue one message each, matched in order with the peer's (a send of n bytes meets a receive of
// n bytes), and poll() says when every message started so far has finished. Everything is
// non-blocking so that the protocol, not the mover, owns deadlines and notices a dead peer.
// A channel is used by one thread at a time.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace dllm::transfer {

class PairChannel {
 public:
  virtual ~PairChannel() = default;  // aborts whatever is still in flight
  // True once both ranks have joined; an error when setting up failed.
  virtual absl::StatusOr<bool> ready() = 0;
  virtual absl::Status start_send(const void* src, size_t bytes) = 0;
  virtual absl::Status start_recv(void* dst, size_t bytes) = 0;
  // True once every message started so far has finished; an error once the channel failed
  // (it is then of no further use).
  virtual absl::StatusOr<bool> poll() = 0;
  // Cuts the channel: messages in flight stop, and neither src nor dst of any message is touched
  // after abort() returns. The channel is of no further use.
  virtual void abort() = 0;
};

class PairChannelFactory {
 public:
  virtual ~PairChannelFactory() = default;
  // Whether messages may be in GPU memory (TransportCapabilities::device_memory).
  virtual bool device_memory() const = 0;
  // InvalidArgument when this mover cannot read or write [p, p + bytes) (memory of another GPU).
  virtual absl::Status check_buffer(const void* p, size_t bytes) const = 0;
  // The first rank (the exposing side): a channel setting itself up, and the bootstrap bytes that
  // the second rank needs to join it.
  virtual absl::StatusOr<std::unique_ptr<PairChannel>> create_first(std::string* bootstrap) = 0;
  // The second rank (the pulling side).
  virtual absl::StatusOr<std::unique_ptr<PairChannel>> join(std::string_view bootstrap) = 0;
};

}  // namespace dllm::transfer

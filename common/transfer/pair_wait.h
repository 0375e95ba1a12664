// How both sides of the nccl back end wait on their pair channel: poll it until it is done, and
// meanwhile watch the control connection (a peer that died or gave up closes it), a cut flag
// (unexposing past its grace, shutting down) and the deadline.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <thread>

#include "absl/status/statusor.h"
#include "common/transfer/tcp_socket.h"

namespace dllm::transfer {

enum class PairWait { kDone, kChannelFailed, kPeerClosed, kDeadline, kCut };

struct PairWaitResult {
  PairWait outcome = PairWait::kDone;
  absl::Status channel_error;  // kChannelFailed: what the channel said
};

// `poll` is a callable returning absl::StatusOr<bool> (true: done).
template <typename Poll>
PairWaitResult wait_on_pair(Poll&& poll, int control_fd, SteadyClock::time_point deadline,
                            const std::atomic<bool>& cut) {
  // Short sleeps first (a small message is done in microseconds), then at most this long between
  // looks: a fraction of what a 64 MiB piece takes over NVLink.
  constexpr auto kMaxPause = std::chrono::microseconds(200);
  auto pause = std::chrono::microseconds(5);
  for (;;) {
    absl::StatusOr<bool> done = poll();
    if (!done.ok()) return {PairWait::kChannelFailed, done.status()};
    if (*done) return {PairWait::kDone, {}};
    if (cut.load()) return {PairWait::kCut, {}};
    if (peer_closed(control_fd)) return {PairWait::kPeerClosed, {}};
    if (SteadyClock::now() >= deadline) return {PairWait::kDeadline, {}};
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, kMaxPause);
  }
}

}  // namespace dllm::transfer

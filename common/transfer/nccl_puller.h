// NcclPeerLink: the pulling side of the nccl back end, one per exposing server. It keeps the
// control connection and the pair channel (one NCCL communicator of two ranks) across pulls, and
// a thread that runs this peer's pulls one at a time in the order they came. A pull that fails
// mid-way (timeout, dead peer) aborts the pair; the next pull sets up a new one.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "common/transfer/nccl_descriptor.h"
#include "common/transfer/pair_channel.h"
#include "common/transfer/tcp_socket.h"

namespace dllm::transfer {

struct NcclPullOrder {
  uint64_t region = 0;
  uint64_t offset = 0;
  uint8_t* dst = nullptr;
  uint64_t bytes = 0;
  SteadyClock::time_point deadline;
  std::promise<absl::Status> done;
};

class NcclPeerLink {
 public:
  NcclPeerLink(std::shared_ptr<PairChannelFactory> channels, const NcclDescriptor& peer);
  // Fails the queued pulls (Cancelled), aborts the one in flight, joins the thread.
  ~NcclPeerLink();
  NcclPeerLink(const NcclPeerLink&) = delete;
  NcclPeerLink& operator=(const NcclPeerLink&) = delete;

  // Queues the pull; false (order untouched) once the link has closed, which it does when it is
  // idle without a pair (its peer went away): the caller makes a new link.
  bool submit(std::unique_ptr<NcclPullOrder>& order);
  bool closed();

 private:
  void run();
  absl::Status pull(NcclPullOrder& order);
  absl::Status set_up_pair(SteadyClock::time_point deadline);
  void drop_pair();  // aborts the channel before closing the connection
  std::string where() const;

  const std::shared_ptr<PairChannelFactory> channels_;
  const std::string host_;
  const uint16_t port_;
  const uint64_t instance_;

  // The link thread's own.
  std::unique_ptr<PairChannel> channel_;
  UniqueFd fd_;
  uint64_t next_request_ = 1;

  std::mutex mu_;
  std::condition_variable wake_;
  std::deque<std::unique_ptr<NcclPullOrder>> queue_;
  bool stopping_ = false;
  bool closed_ = false;
  int live_fd_ = -1;  // fd_, for the destructor to shut down
  std::atomic<bool> cut_{false};
  std::thread thread_;
};

}  // namespace dllm::transfer

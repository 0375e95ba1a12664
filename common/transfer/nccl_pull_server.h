// NcclPullServer: the exposing side of the nccl back end. It owns the book of exposed regions and
// a control server: each puller that connects gets one pair channel (one NCCL communicator of
// two ranks), kept for as long as the connection lives, and a thread that answers its pulls one
// at a time. A pull is served only while its region is exposed, and the region is held (not
// unexposed) until the channel has sent its bytes.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "common/transfer/nccl_wire.h"
#include "common/transfer/pair_channel.h"
#include "common/transfer/tcp_socket.h"
#include "common/transfer/transport.h"

namespace dllm::transfer {

class NcclPullServer {
 public:
  // Listens on options.nccl_control_host:nccl_control_port.
  static absl::StatusOr<std::shared_ptr<NcclPullServer>> start(
      const TransportOptions& options, std::shared_ptr<PairChannelFactory> channels);
  ~NcclPullServer();  // cuts every pair and joins every thread
  NcclPullServer(const NcclPullServer&) = delete;
  NcclPullServer& operator=(const NcclPullServer&) = delete;

  // The region's descriptor; the caller checked the memory with the channel factory.
  std::string expose(const void* data, size_t bytes, uint64_t* region);
  // Stops serving the region: refuses new pulls at once, waits up to the grace for sends reading
  // it, then aborts the pairs still sending it and waits for them to let go.
  void unexpose(uint64_t region);

 private:
  struct Connection {
    UniqueFd fd;
    std::atomic<bool> cut{false};
    std::atomic<bool> finished{false};
    std::thread thread;
  };
  struct Region {
    const uint8_t* base = nullptr;
    size_t size = 0;
    bool retiring = false;
    std::multiset<Connection*> holders;  // connections sending from it now
  };

  NcclPullServer() = default;
  void accept_loop();
  void serve(Connection& c);
  // Serves pulls on a set-up pair until the connection ends.
  void serve_pulls(Connection& c, PairChannel& channel);
  nccl_wire::ReplyCode acquire(const nccl_wire::PullRequest& r, Connection* c,
                               const uint8_t** base);
  void release(uint64_t region, Connection* c);
  void cut_locked(Connection* c);  // mu_ held
  void reap_locked();              // mu_ held: joins connections that have ended

  std::shared_ptr<PairChannelFactory> channels_;
  std::string advertised_host_;
  uint16_t port_ = 0;
  uint64_t instance_ = 0;
  size_t piece_bytes_ = 0;
  absl::Duration grace_;
  UniqueFd listener_;
  UniqueFd wake_read_, wake_write_;  // wakes the accept loop for shutdown
  std::thread acceptor_;

  std::mutex mu_;
  std::condition_variable released_;
  bool stopping_ = false;
  uint64_t next_region_ = 1;
  std::map<uint64_t, Region> regions_;
  std::list<std::unique_ptr<Connection>> connections_;
};

}  // namespace dllm::transfer

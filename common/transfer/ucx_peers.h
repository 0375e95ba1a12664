// PeerCache: the puller's endpoints, one per remote worker address, created on first pull and
// kept; each with its unpacked rkeys. Endpoints use UCP_ERR_HANDLING_MODE_PEER, so a dead owner
// fails its pulls (via on_failure) instead of leaving them waiting. Progress thread only.
#pragma once

#include <ucp/api/ucp.h>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>

#include "absl/status/statusor.h"
#include "common/transfer/ucx_worker.h"

namespace dllm::transfer {

struct Peer {
  std::string address;
  ucp_ep_h ep = nullptr;  // null once closed
  absl::Status failure;   // why the endpoint was closed
  struct CachedRkey {
    ucp_rkey_h rkey = nullptr;
    int users = 0;  // pulls holding it
  };
  std::unordered_map<std::string, CachedRkey> rkeys;  // by packed bytes
  ~Peer();  // destroys the rkeys (the endpoint is closed by then)
};

class PeerCache {
 public:
  using FailureHandler = std::function<void(Peer* peer, const absl::Status& why)>;
  PeerCache(UcxWorker* worker, FailureHandler on_failure);
  ~PeerCache();

  // The live endpoint to `address`, created if needed (Unavailable when that fails).
  absl::StatusOr<std::shared_ptr<Peer>> get(const std::string& address);
  // An unpacked rkey for `packed`, counted as used until release_rkey.
  absl::StatusOr<ucp_rkey_h> acquire_rkey(Peer& peer, const std::string& packed);
  void release_rkey(Peer& peer, const std::string& packed);
  // Closes the endpoint at once (UCX then completes its requests as cancelled), forgets it
  // (the next pull reconnects) and reports `why` to on_failure.
  void fail(Peer* peer, const absl::Status& why);
  void fail_all(const absl::Status& why);
  // Endpoint closes that UCX has not finished yet (shutdown progresses until 0).
  int closes_in_flight() const { return closes_in_flight_; }

 private:
  static void on_endpoint_error(void* arg, ucp_ep_h ep, ucs_status_t status);
  void close_endpoint(ucp_ep_h ep);

  UcxWorker* worker_;
  FailureHandler on_failure_;
  std::map<std::string, std::shared_ptr<Peer>> by_address_;
  std::map<ucp_ep_h, Peer*> by_endpoint_;
  int closes_in_flight_ = 0;
};

}  // namespace dllm::transfer

// PullServer: the exposing side of UcxProtocol::kActiveMessage. Answers piece requests for
// exposed regions with the bytes (refusing unknown, retired or out-of-range requests), counts the
// replies still reading each region, and makes unexposing wait for them: a region's memory is
// handed back only when no reply can read it any more. Progress thread only.
#pragma once

#include <ucp/api/ucp.h>

#include <functional>
#include <map>
#include <set>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "common/transfer/ucx_regions.h"
#include "common/transfer/ucx_wire.h"
#include "common/transfer/ucx_worker.h"

namespace dllm::transfer {

class PullServer {
 public:
  PullServer(UcxWorker* worker, RegionTable* regions, absl::Duration grace);
  ~PullServer();
  absl::Status install_request_handler();

  // Retires `region` and runs `done` once no reply reads it (it is removed by then). Replies
  // still running after the grace period have their endpoints closed.
  void unexpose(ExposedRegion* region, std::function<void()> done);
  // Cuts the endpoints of replies past their grace period; returns the next grace deadline.
  SteadyTime tick(SteadyTime now);
  // Endpoint closes UCX has not finished yet.
  int closes_in_flight() const { return closes_in_flight_; }

 private:
  ucs_status_t on_request(const void* header, size_t header_length,
                          const ucp_am_recv_param_t* param);
  void refuse(ucp_ep_h ep, uint64_t request_id, wire::ReplyCode code);
  void reply_done(ExposedRegion* region, ucp_ep_h ep);
  void finish_unexpose(ExposedRegion* region);
  void cut(ucp_ep_h ep);

  UcxWorker* worker_;
  RegionTable* regions_;
  std::chrono::nanoseconds grace_;
  std::map<ucp_ep_h, int> replies_per_ep_;
  std::set<ucp_ep_h> cut_eps_;  // closed by us while replies on them were finishing
  int closes_in_flight_ = 0;
};

}  // namespace dllm::transfer

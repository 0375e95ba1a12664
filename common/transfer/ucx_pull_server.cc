#include "common/transfer/ucx_pull_server.h"

#include <cstring>
#include <string>

#include "common/transfer/ucx_am_send.h"
#include "common/transfer/ucx_status.h"

namespace dllm::transfer {

PullServer::PullServer(UcxWorker* worker, RegionTable* regions, absl::Duration grace)
    : worker_(worker), regions_(regions), grace_(absl::ToChronoNanoseconds(grace)) {}

PullServer::~PullServer() = default;

absl::Status PullServer::install_request_handler() {
  ucp_am_handler_param_t param{};
  param.field_mask = UCP_AM_HANDLER_PARAM_FIELD_ID | UCP_AM_HANDLER_PARAM_FIELD_CB |
                     UCP_AM_HANDLER_PARAM_FIELD_ARG;
  param.id = wire::kPullRequestAm;
  param.cb = [](void* self, const void* header, size_t header_length, void*, size_t,
                const ucp_am_recv_param_t* p) {
    return static_cast<PullServer*>(self)->on_request(header, header_length, p);
  };
  param.arg = this;
  return ucx_status(ucp_worker_set_am_recv_handler(worker_->worker(), &param),
                    "ucp_worker_set_am_recv_handler (pull requests)");
}

ucs_status_t PullServer::on_request(const void* header, size_t header_length,
                                    const ucp_am_recv_param_t* param) {
  if (header_length != sizeof(wire::PullRequest) ||
      !(param->recv_attr & UCP_AM_RECV_ATTR_FIELD_REPLY_EP) || param->reply_ep == nullptr)
    return UCS_OK;  // not our protocol: nobody to answer
  wire::PullRequest request;
  std::memcpy(&request, header, sizeof(request));
  ucp_ep_h ep = param->reply_ep;
  ExposedRegion* region = regions_->find(request.slot, request.token);
  if (region == nullptr) {
    refuse(ep, request.request_id, wire::ReplyCode::kNotExposed);
    return UCS_OK;
  }
  if (request.offset > region->size || request.bytes > region->size - request.offset) {
    refuse(ep, request.request_id, wire::ReplyCode::kOutOfRange);
    return UCS_OK;
  }
  ++region->replies_in_flight;
  ++region->reply_eps[ep];
  ++replies_per_ep_[ep];
  wire::PullReply reply;
  reply.request_id = request.request_id;
  reply.code = wire::ReplyCode::kOk;
  send_active_message(
      ep, wire::kPullReplyAm, std::string(reinterpret_cast<const char*>(&reply), sizeof(reply)),
      region->base + request.offset, request.bytes, 0, worker_->active_message_sends(),
      [this, region, ep](ucs_status_t) { reply_done(region, ep); });
  return UCS_OK;
}

void PullServer::refuse(ucp_ep_h ep, uint64_t request_id, wire::ReplyCode code) {
  wire::PullReply reply;
  reply.request_id = request_id;
  reply.code = code;
  send_active_message(ep, wire::kPullReplyAm,
                      std::string(reinterpret_cast<const char*>(&reply), sizeof(reply)), nullptr, 0,
                      0, worker_->active_message_sends(), nullptr);
}

void PullServer::reply_done(ExposedRegion* region, ucp_ep_h ep) {
  // `region` is alive: it is only removed once its replies_in_flight reaches 0 (below).
  if (--replies_per_ep_[ep] == 0) {
    replies_per_ep_.erase(ep);
    cut_eps_.erase(ep);
  }
  if (--region->reply_eps[ep] == 0) region->reply_eps.erase(ep);
  if (--region->replies_in_flight == 0 && region->retiring) finish_unexpose(region);
}

void PullServer::unexpose(ExposedRegion* region, std::function<void()> done) {
  regions_->retire(region);  // from now on requests for it are refused
  region->on_drained = std::move(done);
  if (region->replies_in_flight == 0) {
    finish_unexpose(region);
    return;
  }
  region->grace_deadline = std::chrono::steady_clock::now() + grace_;
}

void PullServer::finish_unexpose(ExposedRegion* region) {
  std::function<void()> done = std::move(region->on_drained);
  regions_->remove(region);
  if (done) done();
}

SteadyTime PullServer::tick(SteadyTime now) {
  SteadyTime next = SteadyTime::max();
  for (ExposedRegion* region : regions_->retiring_regions()) {
    if (region->grace_deadline > now) {
      next = std::min(next, region->grace_deadline);
      continue;
    }
    // A puller that stopped reading (hung, or a stalled network) must not pin our memory:
    // closing its endpoint makes UCX finish the replies (cancelled); it sees Unavailable.
    std::vector<ucp_ep_h> eps;
    for (auto& [ep, n] : region->reply_eps) eps.push_back(ep);
    for (ucp_ep_h ep : eps) cut(ep);
    region->grace_deadline = SteadyTime::max();
  }
  return next;
}

void PullServer::cut(ucp_ep_h ep) {
  if (!cut_eps_.insert(ep).second) return;
  ucp_request_param_t param{};
  param.op_attr_mask =
      UCP_OP_ATTR_FIELD_FLAGS | UCP_OP_ATTR_FIELD_CALLBACK | UCP_OP_ATTR_FIELD_USER_DATA;
  param.flags = UCP_EP_CLOSE_FLAG_FORCE;
  param.cb.send = [](void* request, ucs_status_t, void* self) {
    --static_cast<PullServer*>(self)->closes_in_flight_;
    ucp_request_free(request);
  };
  param.user_data = this;
  ucs_status_ptr_t request = ucp_ep_close_nbx(ep, &param);
  if (UCS_PTR_IS_PTR(request)) ++closes_in_flight_;
}

}  // namespace dllm::transfer

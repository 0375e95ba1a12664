#include "common/transfer/ucx_peers.h"

#include <vector>

#include "absl/strings/str_cat.h"
#include "common/transfer/ucx_status.h"

namespace dllm::transfer {
namespace {

// Unused rkeys are dropped past this many per peer (regions come and go with requests).
constexpr size_t kMaxCachedRkeys = 1024;

}  // namespace

Peer::~Peer() {
  for (auto& [packed, cached] : rkeys) ucp_rkey_destroy(cached.rkey);
}

PeerCache::PeerCache(UcxWorker* worker, FailureHandler on_failure)
    : worker_(worker), on_failure_(std::move(on_failure)) {}

PeerCache::~PeerCache() {
  for (auto& [ep, peer] : by_endpoint_) close_endpoint(ep);
}

absl::StatusOr<std::shared_ptr<Peer>> PeerCache::get(const std::string& address) {
  auto it = by_address_.find(address);
  if (it != by_address_.end()) return it->second;
  ucp_ep_params_t params{};
  params.field_mask = UCP_EP_PARAM_FIELD_REMOTE_ADDRESS | UCP_EP_PARAM_FIELD_ERR_HANDLING_MODE |
                      UCP_EP_PARAM_FIELD_ERR_HANDLER;
  params.address = reinterpret_cast<const ucp_address_t*>(address.data());
  params.err_mode = UCP_ERR_HANDLING_MODE_PEER;
  params.err_handler.cb = &PeerCache::on_endpoint_error;
  params.err_handler.arg = this;
  ucp_ep_h ep = nullptr;
  if (ucs_status_t s = ucp_ep_create(worker_->worker(), &params, &ep); s != UCS_OK) {
    absl::Status why = ucx_status(s, "ucx transport: connecting to the region's owner");
    // A garbled worker address is the descriptor's fault, not the network's.
    return why.code() == absl::StatusCode::kInvalidArgument ? why
                                                            : absl::UnavailableError(why.message());
  }
  auto peer = std::make_shared<Peer>();
  peer->address = address;
  peer->ep = ep;
  by_address_[address] = peer;
  by_endpoint_[ep] = peer.get();
  return peer;
}

absl::StatusOr<ucp_rkey_h> PeerCache::acquire_rkey(Peer& peer, const std::string& packed) {
  auto it = peer.rkeys.find(packed);
  if (it == peer.rkeys.end()) {
    if (peer.ep == nullptr) return peer.failure;
    if (peer.rkeys.size() >= kMaxCachedRkeys) {
      for (auto i = peer.rkeys.begin(); i != peer.rkeys.end();) {
        if (i->second.users > 0) {
          ++i;
          continue;
        }
        ucp_rkey_destroy(i->second.rkey);
        i = peer.rkeys.erase(i);
      }
    }
    ucp_rkey_h rkey = nullptr;
    if (ucs_status_t s = ucp_ep_rkey_unpack(peer.ep, packed.data(), &rkey); s != UCS_OK)
      return absl::InvalidArgumentError(
          ucx_status(s, "ucx transfer descriptor: unpacking the region's rkey").message());
    it = peer.rkeys.emplace(packed, Peer::CachedRkey{rkey, 0}).first;
  }
  ++it->second.users;
  return it->second.rkey;
}

void PeerCache::release_rkey(Peer& peer, const std::string& packed) {
  auto it = peer.rkeys.find(packed);
  if (it != peer.rkeys.end()) --it->second.users;
}

void PeerCache::close_endpoint(ucp_ep_h ep) {
  ucp_request_param_t param{};
  param.op_attr_mask =
      UCP_OP_ATTR_FIELD_FLAGS | UCP_OP_ATTR_FIELD_CALLBACK | UCP_OP_ATTR_FIELD_USER_DATA;
  param.flags = UCP_EP_CLOSE_FLAG_FORCE;  // no handshake: the peer may be dead or stopped
  param.cb.send = [](void* request, ucs_status_t, void* self) {
    --static_cast<PeerCache*>(self)->closes_in_flight_;
    ucp_request_free(request);
  };
  param.user_data = this;
  ucs_status_ptr_t request = ucp_ep_close_nbx(ep, &param);
  if (UCS_PTR_IS_PTR(request)) ++closes_in_flight_;
}

void PeerCache::fail(Peer* peer, const absl::Status& why) {
  if (peer->ep == nullptr) return;
  ucp_ep_h ep = peer->ep;
  peer->ep = nullptr;
  peer->failure = why;
  by_endpoint_.erase(ep);
  std::shared_ptr<Peer> keep = by_address_[peer->address];  // alive through on_failure
  by_address_.erase(peer->address);
  close_endpoint(ep);
  if (on_failure_) on_failure_(peer, why);
}

void PeerCache::fail_all(const absl::Status& why) {
  std::vector<Peer*> peers;
  for (auto& [ep, peer] : by_endpoint_) peers.push_back(peer);
  for (Peer* p : peers) fail(p, why);
}

void PeerCache::on_endpoint_error(void* arg, ucp_ep_h ep, ucs_status_t status) {
  auto* self = static_cast<PeerCache*>(arg);
  // Closing an endpoint from inside its own error callback is not allowed: do it next round.
  self->worker_->post([self, ep, status] {
    auto it = self->by_endpoint_.find(ep);
    if (it == self->by_endpoint_.end()) return;  // already closed by us
    self->fail(it->second, absl::UnavailableError(
                               absl::StrCat("ucx transport: the region's owner is unreachable (",
                                            ucs_status_string(status), ")")));
  });
}

}  // namespace dllm::transfer

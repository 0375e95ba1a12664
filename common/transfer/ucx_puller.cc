// Pull state machine. Re-entrancy rule: a piece that completes inside a submit call (our send
// wrapper can fail at once, a get can finish at once) is only booked; advance() alone moves a
// pull on, and finish() is the last thing it does, so no frame touches a Pull after it is gone.
#include "common/transfer/ucx_puller.h"

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/transfer/ucx_am_send.h"
#include "common/transfer/ucx_status.h"
#include "common/transfer/ucx_wire.h"

namespace dllm::transfer {

struct Puller::Piece {
  enum Kind { kAwaitingReply, kReceiving, kGet, kTokenCheck };
  Puller* owner = nullptr;
  uint64_t id = 0;
  Pull* pull = nullptr;
  int kind = kAwaitingReply;
  size_t begin = 0;  // within the pull's range
  size_t len = 0;
  // UCX may still write into the pull's memory through this piece: it cannot just be dropped.
  bool writes() const { return kind != kAwaitingReply; }
};

struct Puller::Pull {
  uint64_t id = 0;
  std::unique_ptr<PullOrder> order;
  std::shared_ptr<Peer> peer;
  Stage stage = Stage::kData;
  size_t next = 0;  // first byte not yet asked for
  int data_in_flight = 0;
  std::set<uint64_t> pieces;  // in flight
  absl::Status status;        // first failure
  ucp_rkey_h data_rkey = nullptr;
  ucp_rkey_h token_rkey = nullptr;
  size_t piece_bytes = 0;
  uint64_t token_seen = 0;  // RMA token checks land here
  bool has_deadline = false;
  std::multimap<SteadyTime, uint64_t>::iterator deadline;

  bool rma() const { return order->descriptor.protocol == UcxProtocol::kRma; }
};

namespace {

// Pulls smaller than a window of full pieces are spread over the window anyway (one piece
// would pay the request/rendezvous round trips alone), down to this size.
constexpr size_t kMinPieceBytes = 128 << 10;

absl::Status not_exposed() {
  return absl::UnavailableError("ucx pull: the region is no longer exposed by its owner");
}

}  // namespace

Puller::Puller(UcxWorker* worker, PeerCache* peers, size_t piece_bytes, int pieces_in_flight)
    : worker_(worker),
      peers_(peers),
      piece_bytes_(piece_bytes > 0 ? piece_bytes : size_t{1} << 20),
      pieces_in_flight_(pieces_in_flight > 0 ? pieces_in_flight : 1) {}

Puller::~Puller() = default;

absl::Status Puller::install_reply_handler() {
  ucp_am_handler_param_t param{};
  param.field_mask = UCP_AM_HANDLER_PARAM_FIELD_ID | UCP_AM_HANDLER_PARAM_FIELD_CB |
                     UCP_AM_HANDLER_PARAM_FIELD_ARG;
  param.id = wire::kPullReplyAm;
  param.cb = [](void* self, const void* header, size_t header_length, void* data, size_t length,
                const ucp_am_recv_param_t* p) {
    return static_cast<Puller*>(self)->on_reply(header, header_length, data, length, p);
  };
  param.arg = this;
  return ucx_status(ucp_worker_set_am_recv_handler(worker_->worker(), &param),
                    "ucp_worker_set_am_recv_handler (pull replies)");
}

void Puller::start(std::unique_ptr<PullOrder> order) {
  const UcxDescriptor& d = order->descriptor;
  absl::StatusOr<std::shared_ptr<Peer>> peer = peers_->get(d.worker_address);
  if (!peer.ok()) {
    order->promise.set_value(peer.status());
    return;
  }
  auto pull = std::make_unique<Pull>();
  pull->id = next_id_++;
  pull->order = std::move(order);
  pull->peer = std::move(*peer);
  const size_t spread = (pull->order->bytes + pieces_in_flight_ - 1) / pieces_in_flight_;
  pull->piece_bytes =
      std::min(piece_bytes_, std::max(spread, std::min(piece_bytes_, kMinPieceBytes)));
  if (pull->rma()) {
    absl::StatusOr<ucp_rkey_h> data = peers_->acquire_rkey(*pull->peer, d.rkey);
    absl::StatusOr<ucp_rkey_h> token =
        data.ok() ? peers_->acquire_rkey(*pull->peer, d.table_rkey) : data.status();
    if (!token.ok()) {
      if (data.ok()) peers_->release_rkey(*pull->peer, d.rkey);
      pull->order->promise.set_value(token.status());
      return;
    }
    pull->data_rkey = *data;
    pull->token_rkey = *token;
    pull->stage = Stage::kCheckBefore;
  }
  if (pull->order->deadline != SteadyTime::max()) {
    pull->deadline = deadlines_.emplace(pull->order->deadline, pull->id);
    pull->has_deadline = true;
  }
  Pull& p = *pull;
  pulls_[p.id] = std::move(pull);
  if (p.stage == Stage::kCheckBefore) {
    ++submitting_;
    submit_token_check(p);
    --submitting_;
  }
  advance(p);
}

Puller::Piece* Puller::new_piece(Pull& pull, int kind, size_t begin, size_t len) {
  auto piece = std::make_unique<Piece>();
  piece->owner = this;
  piece->id = next_id_++;
  piece->pull = &pull;
  piece->kind = kind;
  piece->begin = begin;
  piece->len = len;
  pull.pieces.insert(piece->id);
  Piece* raw = piece.get();
  pieces_[raw->id] = std::move(piece);
  return raw;
}

void Puller::fill_window(Pull& pull) {
  const size_t total = pull.order->bytes;
  while (pull.status.ok() && pull.next < total && pull.data_in_flight < pieces_in_flight_) {
    const size_t begin = pull.next;
    const size_t len = std::min(pull.piece_bytes, total - begin);
    pull.next += len;
    ++pull.data_in_flight;
    if (pull.rma()) {
      Piece* piece = new_piece(pull, Piece::kGet, begin, len);
      const UcxDescriptor& d = pull.order->descriptor;
      submit_get(pull, piece, pull.order->dst + begin,
                 d.remote_address + pull.order->offset + begin, len, pull.data_rkey);
    } else {
      submit_am_piece(pull, begin, len);
    }
  }
}

void Puller::submit_am_piece(Pull& pull, size_t begin, size_t len) {
  Piece* piece = new_piece(pull, Piece::kAwaitingReply, begin, len);
  const UcxDescriptor& d = pull.order->descriptor;
  wire::PullRequest request;
  request.request_id = piece->id;
  request.token = d.token;
  request.offset = pull.order->offset + begin;
  request.bytes = len;
  request.slot = d.slot;
  std::string header(reinterpret_cast<const char*>(&request), sizeof(request));
  const uint64_t id = piece->id;
  // Only a failed request matters here: the reply is what completes the piece.
  send_active_message(
      pull.peer->ep, wire::kPullRequestAm, std::move(header), nullptr, 0, UCP_AM_SEND_FLAG_REPLY,
      worker_->active_message_sends(), [this, id](ucs_status_t status) {
        if (status == UCS_OK) return;
        auto it = pieces_.find(id);
        if (it == pieces_.end() || it->second->kind != Piece::kAwaitingReply) return;
        piece_done(it->second.get(), ucx_status(status, "ucx pull: sending a piece request"));
      });
}

void Puller::submit_get(Pull& pull, Piece* piece, void* dst, uint64_t remote, size_t len,
                        ucp_rkey_h rkey) {
  ucp_request_param_t param{};
  param.op_attr_mask = UCP_OP_ATTR_FIELD_CALLBACK | UCP_OP_ATTR_FIELD_USER_DATA;
  param.cb.send = &Puller::on_get_done;
  param.user_data = piece;
  ucs_status_ptr_t request = ucp_get_nbx(pull.peer->ep, dst, len, remote, rkey, &param);
  // A request is freed in its callback, never before: UCX 1.13 drops the callback of an
  // emulated get whose request was freed early, and the pull would never finish.
  if (UCS_PTR_IS_PTR(request)) return;
  piece_done(piece, ucx_status(UCS_PTR_STATUS(request), "ucx pull: ucp_get_nbx"));
}

void Puller::submit_token_check(Pull& pull) {
  Piece* piece = new_piece(pull, Piece::kTokenCheck, 0, sizeof(uint64_t));
  pull.token_seen = 0;
  submit_get(pull, piece, &pull.token_seen, pull.order->descriptor.token_address, sizeof(uint64_t),
             pull.token_rkey);
}

void Puller::on_get_done(void* request, ucs_status_t status, void* user_data) {
  ucp_request_free(request);
  auto* piece = static_cast<Piece*>(user_data);  // alive: writing pieces are never dropped
  piece->owner->piece_done(piece, ucx_status(status, "ucx pull: ucp_get_nbx"));
}

void Puller::on_recv_done(void* request, ucs_status_t status, size_t, void* user_data) {
  ucp_request_free(request);
  auto* piece = static_cast<Piece*>(user_data);
  piece->owner->piece_done(piece, ucx_status(status, "ucx pull: receiving a piece"));
}

ucs_status_t Puller::on_reply(const void* header, size_t header_length, void* data, size_t length,
                              const ucp_am_recv_param_t* param) {
  if (header_length != sizeof(wire::PullReply)) return UCS_OK;
  wire::PullReply reply;
  std::memcpy(&reply, header, sizeof(reply));
  auto it = pieces_.find(reply.request_id);
  // A reply nobody waits for (its pull timed out or failed): dropping it, even a rendezvous,
  // completes the sender's side.
  if (it == pieces_.end() || it->second->kind != Piece::kAwaitingReply) return UCS_OK;
  Piece* piece = it->second.get();
  Pull& pull = *piece->pull;
  if (!pull.status.ok()) {
    piece_done(piece, pull.status);
    return UCS_OK;
  }
  if (reply.code != wire::ReplyCode::kOk) {
    piece_done(piece, reply.code == wire::ReplyCode::kOutOfRange
                          ? absl::OutOfRangeError("ucx pull: range is past the region's end")
                          : not_exposed());
    return UCS_OK;
  }
  if (length != piece->len) {
    piece_done(piece, absl::InternalError(absl::StrCat("ucx pull: a reply carried ", length,
                                                       " bytes for a piece of ", piece->len)));
    return UCS_OK;
  }
  uint8_t* dst = pull.order->dst + piece->begin;
  if (param->recv_attr & UCP_AM_RECV_ATTR_FLAG_RNDV) {
    // Large replies come as a rendezvous: UCX lands the bytes straight in dst.
    piece->kind = Piece::kReceiving;
    ucp_request_param_t rp{};
    rp.op_attr_mask = UCP_OP_ATTR_FIELD_CALLBACK | UCP_OP_ATTR_FIELD_USER_DATA;
    rp.cb.recv_am = &Puller::on_recv_done;
    rp.user_data = piece;
    ucs_status_ptr_t request = ucp_am_recv_data_nbx(worker_->worker(), data, dst, length, &rp);
    if (!UCS_PTR_IS_PTR(request))
      piece_done(piece, ucx_status(UCS_PTR_STATUS(request), "ucx pull: receiving a piece"));
    return UCS_INPROGRESS;  // UCX owns the descriptor once a receive was started
  }
  std::memcpy(dst, data, length);
  piece_done(piece, absl::OkStatus());
  return UCS_OK;
}

void Puller::settle(Piece* piece, const absl::Status& status) {
  Pull& pull = *piece->pull;
  const int kind = piece->kind;
  pull.pieces.erase(piece->id);
  pieces_.erase(piece->id);  // `piece` is gone
  if (kind != Piece::kTokenCheck) --pull.data_in_flight;
  if (!status.ok()) {
    if (pull.status.ok()) pull.status = status;
    return;
  }
  if (kind == Piece::kTokenCheck && pull.status.ok() &&
      pull.token_seen != pull.order->descriptor.token)
    pull.status = not_exposed();
}

void Puller::piece_done(Piece* piece, const absl::Status& status) {
  Pull* pull = piece->pull;
  settle(piece, status);
  if (submitting_ == 0) advance(*pull);
}

void Puller::advance(Pull& pull) {
  for (;;) {
    if (!pull.status.ok()) {
      if (pull.pieces.empty()) finish(pull);
      return;
    }
    switch (pull.stage) {
      case Stage::kCheckBefore:
        if (!pull.pieces.empty()) return;
        pull.stage = Stage::kData;
        continue;
      case Stage::kData:
        ++submitting_;
        fill_window(pull);
        --submitting_;
        if (!pull.status.ok()) continue;
        if (pull.next < pull.order->bytes || !pull.pieces.empty()) return;
        if (!pull.rma()) {
          finish(pull);
          return;
        }
        // The region must still be exposed now, or the bytes may be from its next owner.
        pull.stage = Stage::kCheckAfter;
        ++submitting_;
        submit_token_check(pull);
        --submitting_;
        continue;
      case Stage::kCheckAfter:
        if (pull.pieces.empty()) finish(pull);
        return;
    }
  }
}

void Puller::finish(Pull& pull) {
  auto it = pulls_.find(pull.id);
  if (it == pulls_.end()) return;  // abandoned at a stuck shutdown: its future is already set
  if (pull.has_deadline) deadlines_.erase(pull.deadline);
  if (pull.rma()) {
    peers_->release_rkey(*pull.peer, pull.order->descriptor.rkey);
    peers_->release_rkey(*pull.peer, pull.order->descriptor.table_rkey);
  }
  std::unique_ptr<Pull> done = std::move(it->second);
  pulls_.erase(it);
  done->order->promise.set_value(done->status);
}

void Puller::drop_waiting_pieces(Pull& pull) {
  const std::vector<uint64_t> ids(pull.pieces.begin(), pull.pieces.end());
  for (uint64_t id : ids) {
    auto it = pieces_.find(id);
    if (it != pieces_.end() && !it->second->writes()) settle(it->second.get(), pull.status);
  }
}

SteadyTime Puller::tick(SteadyTime now) {
  while (!deadlines_.empty() && deadlines_.begin()->first <= now) {
    const uint64_t id = deadlines_.begin()->second;
    deadlines_.erase(deadlines_.begin());
    auto it = pulls_.find(id);
    if (it == pulls_.end()) continue;
    Pull& pull = *it->second;
    pull.has_deadline = false;
    if (pull.status.ok())
      pull.status = absl::DeadlineExceededError(absl::StrCat(
          "ucx pull of ", pull.order->bytes, " bytes timed out (", pull.order->bytes - pull.next,
          " bytes never requested, ", pull.pieces.size(), " pieces in flight)"));
    drop_waiting_pieces(pull);
    bool writing = false;
    for (uint64_t piece : pull.pieces) writing |= pieces_.at(piece)->writes();
    if (writing && pull.peer->ep != nullptr) {
      // UCX cannot cancel a get or a rendezvous receive; closing the endpoint makes it finish
      // them (cancelled), after which dst is ours again. Other pulls from that peer fail too.
      peers_->fail(pull.peer.get(),
                   absl::UnavailableError("ucx pull: connection to the region's owner closed "
                                          "after a pull to it timed out"));
    } else {
      advance(pull);
    }
  }
  return deadlines_.empty() ? SteadyTime::max() : deadlines_.begin()->first;
}

void Puller::fail_pulls(const std::vector<uint64_t>& ids, const absl::Status& why) {
  for (uint64_t id : ids) {
    auto it = pulls_.find(id);
    if (it == pulls_.end()) continue;
    Pull& pull = *it->second;
    if (pull.status.ok()) pull.status = why;
    drop_waiting_pieces(pull);
    advance(pull);
  }
}

void Puller::on_peer_failed(Peer* peer, const absl::Status& why) {
  std::vector<uint64_t> ids;
  for (auto& [id, pull] : pulls_) {
    if (pull->peer.get() == peer) ids.push_back(id);
  }
  fail_pulls(ids, why);
}

void Puller::fail_all(const absl::Status& why) {
  std::vector<uint64_t> ids;
  for (auto& [id, pull] : pulls_) ids.push_back(id);
  fail_pulls(ids, why);
}

void Puller::abandon_all(const absl::Status& why) {
  for (auto& [id, pull] : pulls_) {
    pull->order->promise.set_value(pull->status.ok() ? why : pull->status);
  }
  // UCX never finished these requests; if it calls back while the worker is destroyed, the
  // callbacks must find live objects. Leaked on purpose: this only happens at a stuck shutdown.
  for (auto& [id, piece] : pieces_) (void)piece.release();
  for (auto& [id, pull] : pulls_) (void)pull.release();
  pieces_.clear();
  pulls_.clear();
  deadlines_.clear();
}

}  // namespace dllm::transfer

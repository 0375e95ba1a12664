// Puller: runs pulls on the progress thread. A pull is cut into pieces (a window of them in
// flight); a piece is an active-message request answered by the owner, or an RMA get bracketed
// by token checks. A pull's future is set only when no UCX request can still write its dst:
// on timeout or failure the endpoint is closed, which makes UCX finish those requests.
#pragma once

#include <ucp/api/ucp.h>

#include <cstdint>
#include <future>
#include <map>
#include <memory>
#include <set>
#include <unordered_map>
#include <vector>

#include "absl/status/status.h"
#include "common/transfer/ucx_descriptor.h"
#include "common/transfer/ucx_peers.h"
#include "common/transfer/ucx_worker.h"

namespace dllm::transfer {

// What a caller asked for, already validated against the descriptor.
struct PullOrder {
  UcxDescriptor descriptor;
  size_t offset = 0;
  uint8_t* dst = nullptr;
  size_t bytes = 0;
  SteadyTime deadline = SteadyTime::max();
  std::promise<absl::Status> promise;
};

class Puller {
 public:
  Puller(UcxWorker* worker, PeerCache* peers, size_t piece_bytes, int pieces_in_flight);
  ~Puller();
  absl::Status install_reply_handler();

  void start(std::unique_ptr<PullOrder> order);
  // Expires pulls past their deadline; returns the next deadline.
  SteadyTime tick(SteadyTime now);
  // The endpoint to `peer` is gone: pulls waiting on replies from it fail with `why`.
  void on_peer_failed(Peer* peer, const absl::Status& why);
  // Shutdown: fails every pull; those UCX still writes to finish once their endpoints close.
  void fail_all(const absl::Status& why);
  bool idle() const { return pulls_.empty(); }
  // Last resort at shutdown, right before the worker is destroyed (nothing can write then).
  void abandon_all(const absl::Status& why);

 private:
  struct Pull;
  struct Piece;
  enum class Stage { kCheckBefore, kData, kCheckAfter };

  void fill_window(Pull& pull);
  void submit_am_piece(Pull& pull, size_t begin, size_t len);
  void submit_get(Pull& pull, Piece* piece, void* dst, uint64_t remote, size_t len,
                  ucp_rkey_h rkey);
  void submit_token_check(Pull& pull);
  Piece* new_piece(Pull& pull, int kind, size_t begin, size_t len);
  // Books a finished piece; piece_done also moves its pull on (unless inside a submit).
  void settle(Piece* piece, const absl::Status& status);
  void piece_done(Piece* piece, const absl::Status& status);
  void drop_waiting_pieces(Pull& pull);
  void fail_pulls(const std::vector<uint64_t>& ids, const absl::Status& why);
  void advance(Pull& pull);
  void finish(Pull& pull);
  ucs_status_t on_reply(const void* header, size_t header_length, void* data, size_t length,
                        const ucp_am_recv_param_t* param);

  static void on_get_done(void* request, ucs_status_t status, void* user_data);
  static void on_recv_done(void* request, ucs_status_t status, size_t length, void* user_data);

  UcxWorker* worker_;
  PeerCache* peers_;
  size_t piece_bytes_;
  int pieces_in_flight_;
  int submitting_ = 0;  // > 0 while inside a submit call
  uint64_t next_id_ = 1;
  std::map<uint64_t, std::unique_ptr<Pull>> pulls_;
  std::unordered_map<uint64_t, std::unique_ptr<Piece>> pieces_;  // in flight, by request id
  std::multimap<SteadyTime, uint64_t> deadlines_;                // -> pull id
};

}  // namespace dllm::transfer

// Pulling a prepared prompt's K/V from the prefill node that holds it: one pull per layer, all in
// flight at once, each layer written into the decode cache as soon as it has landed — so a
// decode node starts importing layer 0 while later layers are still on the wire.
#pragma once

#include <future>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "common/kv/kv_rows.h"
#include "common/model/transformer.h"
#include "common/transfer/transport.h"
#include "dllm/v1/node.pb.h"

namespace dllm::decode {

class KvPull {
 public:
  // Starts the pulls. `handle` must describe rows of this model's layout (checked).
  static absl::StatusOr<std::unique_ptr<KvPull>> start(transfer::Transport& transport,
                                                       const v1::KvHandle& handle,
                                                       Transformer& model,
                                                       absl::Duration timeout);
  ~KvPull();  // waits for pulls still in flight (their buffers live here)

  // Waits for each layer in turn and writes it into slots [0, rows) of `cache`. Aborted naming
  // the prefill node when a pull failed (the router then prepares again).
  absl::Status import_into(Transformer& model, KvCache& cache);
  int64_t bytes() const { return static_cast<int64_t>(buffer_.size()); }

 private:
  KvPull() = default;
  v1::KvHandle handle_;
  size_t layer_bytes_ = 0;
  KvRowsBuffer buffer_;  // in the backend's memory when the transport writes device memory
  std::vector<std::future<absl::Status>> layers_;
};

}  // namespace dllm::decode

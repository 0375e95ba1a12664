#include "decode_node/kv_puller.h"

#include "absl/strings/str_cat.h"
#include "common/kv/kv_rows.h"

namespace dllm::decode {

absl::StatusOr<std::unique_ptr<KvPull>> KvPull::start(transfer::Transport& transport,
                                                      const v1::KvHandle& handle,
                                                      Transformer& model,
                                                      absl::Duration timeout) {
  const KvRowsLayout layout = kv_rows_layout(model, handle.rows());
  if (handle.rows() <= 0 || handle.num_layers() != layout.num_layers ||
      handle.row_bytes() != static_cast<int64_t>(layout.row_bytes))
    return absl::InvalidArgumentError(absl::StrCat(
        "K/V handle from ", handle.node_id(), " does not match this model: ", handle.num_layers(),
        " layers x ", handle.row_bytes(), " bytes per row, expected ", layout.num_layers, " x ",
        layout.row_bytes));
  std::unique_ptr<KvPull> pull(new KvPull());
  pull->handle_ = handle;
  pull->layer_bytes_ = layout.layer_bytes();
  pull->buffer_ = KvRowsBuffer(model.backend(),
                               transport.capabilities().device_memory ? KvRowsMemory::kBackend
                                                                      : KvRowsMemory::kHost,
                               layout.total_bytes());
  for (int l = 0; l < layout.num_layers; ++l)
    pull->layers_.push_back(transport.pull_async(handle.transfer_descriptor(), l * pull->layer_bytes_,
                                                 pull->buffer_.data() + l * pull->layer_bytes_,
                                                 pull->layer_bytes_, timeout));
  return pull;
}

KvPull::~KvPull() {
  for (auto& f : layers_)
    if (f.valid()) f.wait();
}

absl::Status KvPull::import_into(Transformer& model, KvCache& cache) {
  for (size_t l = 0; l < layers_.size(); ++l) {
    absl::Status st = layers_[l].get();
    if (!st.ok())
      return absl::AbortedError(absl::StrCat("pulling K/V layer ", l, " from ",
                                                 handle_.node_id(), " over ",
                                                 handle_.transport(), ": ", st.message()));
    if (absl::Status s = import_kv_rows(model, cache, 0, handle_.rows(), static_cast<int>(l),
                                        buffer_.data() + l * layer_bytes_, layer_bytes_,
                                        buffer_.memory());
        !s.ok())
      return s;
  }
  return absl::OkStatus();
}

}  // namespace dllm::decode

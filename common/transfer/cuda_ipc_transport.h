// The `cuda_ipc` back end: GPU memory between processes of one host through CUDA IPC handles.
// Built only where CUDA is (DLLM_HAVE_CUDA); not yet run on a GPU.
#pragma once

#include <memory>

#include "absl/status/statusor.h"
#include "common/transfer/transport.h"

namespace dllm::transfer {

absl::StatusOr<std::unique_ptr<Transport>> make_cuda_ipc_transport(const TransportOptions& options);

}  // namespace dllm::transfer

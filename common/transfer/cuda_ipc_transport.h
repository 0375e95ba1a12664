// The `cuda_ipc` back end: GPU memory between processes of one host through CUDA IPC handles.
// Built only where CUDA is (DLLM_HAVE_CUDA); tested on an H100 by tests/gpu/cuda_ipc_transport_test
// and measured by `dllm-bench-transfer --cuda-ipc`.
//
// What an exporter must do: expose device memory from cudaMalloc (not cudaMallocAsync pools or
// managed memory), with its bytes in place (the work writing them synchronized) before the
// descriptor leaves the process, and free an allocation only after unexposing its regions.
// Pulls may target device or host memory; they copy on the caller's current device.
#pragma once

#include <memory>

#include "absl/status/statusor.h"
#include "common/transfer/transport.h"

namespace dllm::transfer {

absl::StatusOr<std::unique_ptr<Transport>> make_cuda_ipc_transport(const TransportOptions& options);

}  // namespace dllm::transfer

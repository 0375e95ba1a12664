// libnccl, loaded at run time: binaries of a CUDA build start (and every other transport works)
// on machines without NCCL; only making an nccl transport needs it. Types come from nccl.h.
#pragma once

#include <cuda_runtime_api.h>
#include <nccl.h>

#include "absl/status/statusor.h"

namespace dllm::transfer {

struct NcclLibrary {
  decltype(&ncclGetVersion) get_version = nullptr;
  decltype(&ncclGetUniqueId) get_unique_id = nullptr;
  decltype(&ncclCommInitRankConfig) comm_init_rank_config = nullptr;
  decltype(&ncclCommGetAsyncError) comm_get_async_error = nullptr;
  decltype(&ncclCommAbort) comm_abort = nullptr;
  decltype(&ncclSend) send = nullptr;
  decltype(&ncclRecv) recv = nullptr;
  decltype(&ncclGetErrorString) get_error_string = nullptr;
  decltype(&ncclGetLastError) get_last_error = nullptr;

  // Loads libnccl.so.2 once (the DLLM_NCCL_LIBRARY environment variable names another file);
  // FailedPrecondition when it is missing or lacks a symbol.
  static absl::StatusOr<const NcclLibrary*> load();
};

}  // namespace dllm::transfer

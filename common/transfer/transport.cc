// make_transport: picks the back end by name and applies the fault hook.
#include "common/transfer/transport.h"

#include "absl/strings/str_cat.h"
#include "common/transfer/fault_injection.h"
#include "common/transfer/local_transport.h"
#include "common/transfer/nccl_transport.h"
#include "common/transfer/ucx_transport.h"
#if DLLM_TRANSFER_HAVE_CUDA_IPC
#include "common/transfer/cuda_ipc_transport.h"
#endif

namespace dllm::transfer {

absl::Status Transport::pull(std::string_view descriptor, size_t offset, void* dst, size_t bytes,
                             absl::Duration timeout) {
  return pull_async(descriptor, offset, dst, bytes, timeout).get();
}

std::future<absl::Status> ready_future(absl::Status status) {
  std::promise<absl::Status> p;
  p.set_value(std::move(status));
  return p.get_future();
}

absl::StatusOr<std::unique_ptr<Transport>> make_transport(std::string_view name,
                                                          const TransportOptions& options) {
  if (!(options.fault_drop_probability >= 0.0 && options.fault_drop_probability <= 1.0))
    return absl::InvalidArgumentError(absl::StrCat("fault_drop_probability must be in [0, 1], got ",
                                                   options.fault_drop_probability));
  absl::StatusOr<std::unique_ptr<Transport>> made;
  if (name == "local") {
    made = make_local_transport();
  } else if (name == "ucx") {
    made = make_ucx_transport(options);
  } else if (name == "cuda_ipc") {
#if DLLM_TRANSFER_HAVE_CUDA_IPC
    made = make_cuda_ipc_transport(options);
#else
    return absl::UnimplementedError("the cuda_ipc transport is not built (no CUDA in this build)");
#endif
  } else if (name == "nccl") {
#if DLLM_TRANSFER_HAVE_NCCL
    made = make_nccl_transport(options);
#else
    return absl::UnimplementedError(
        "the nccl transport is not built (this build has no CUDA or no nccl.h); use ucx or "
        "cuda_ipc");
#endif
  } else {
    return absl::InvalidArgumentError(absl::StrCat("unknown transport '", std::string(name),
                                                   "' (expected local, ucx, cuda_ipc or nccl)"));
  }
  if (!made.ok() || options.fault_drop_probability == 0.0) return made;
  return wrap_with_fault_injection(std::move(*made), options.fault_drop_probability,
                                   options.fault_seed);
}

}  // namespace dllm::transfer

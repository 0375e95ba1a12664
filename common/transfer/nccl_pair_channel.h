// The NCCL pair channel: one communicator of two ranks (non-blocking, so that setting up and
// every call can be waited on with a deadline and aborted), a stream, and ncclSend/ncclRecv of
// bytes. Built where CUDA and nccl.h are; libnccl is loaded at run time (nccl_library.h).
//
// Messages in device memory of the transport's GPU go straight to NCCL; messages in host memory
// go through a device staging buffer, one at a time. Memory of another GPU is refused.
// Making the factory sets NCCL_NVLS_ENABLE=0 unless the environment already sets it: NVLink
// multicast can take a host's shared GPUs out of service.
#pragma once

#include <memory>

#include "absl/status/statusor.h"
#include "common/transfer/pair_channel.h"
#include "common/transfer/transport.h"

namespace dllm::transfer {

// FailedPrecondition when libnccl cannot be loaded or the GPU (options.nccl_device, or the current
// one) cannot be used.
absl::StatusOr<std::shared_ptr<PairChannelFactory>> make_nccl_pair_channel_factory(
    const TransportOptions& options);

}  // namespace dllm::transfer

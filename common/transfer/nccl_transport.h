// The `nccl` back end: GPU memory between processes on different GPUs of one host (prefill on one
// GPU, decode on another), with NCCL point-to-point send/recv under a pull protocol. The exposing
// side runs a small TCP control server; each puller sets up one communicator of two ranks with
// it, kept for their later pulls, and asks for each pull on the control connection; the exposer
// checks the region is still exposed, holds it and sends, the puller receives into dst.
//
// Exposed memory and pull destinations are device memory of the transport's GPU or host memory
// (staged through a device buffer). NCCL cannot put both ranks on one GPU, so the two sides must
// use different GPUs: between processes sharing a GPU use cuda_ipc, within a process local.
// The first pull from a peer pays for setting up the communicator (tens to hundreds of ms):
// its timeout must allow for that.
#pragma once

#include <memory>

#include "absl/status/statusor.h"
#include "common/transfer/pair_channel.h"
#include "common/transfer/transport.h"

namespace dllm::transfer {

// The nccl protocol over any pair channel: the NCCL one below, or the host-memory one that unit
// tests (and machines without GPUs) use. Descriptors name the nccl transport either way.
absl::StatusOr<std::unique_ptr<Transport>> make_nccl_transport_over(
    const TransportOptions& options, std::shared_ptr<PairChannelFactory> channels);

#if DLLM_TRANSFER_HAVE_NCCL
// FailedPrecondition when libnccl cannot be loaded or the GPU cannot be used.
absl::StatusOr<std::unique_ptr<Transport>> make_nccl_transport(const TransportOptions& options);
#endif

}  // namespace dllm::transfer

// Layout of a cuda_ipc descriptor's payload, in order: pid, nonce (u64), table (bytes), slot
// (u32), token (u64), handle (bytes), base, buffer_id, offset, size (u64).
#include "common/transfer/cuda_ipc_descriptor.h"

#include <cuda_runtime_api.h>
#include <unistd.h>

#include <random>

#include "common/transfer/descriptor.h"

namespace dllm::transfer {

std::string encode_cuda_ipc_descriptor(const CudaIpcDescriptor& d) {
  return DescriptorWriter(DescriptorKind::kCudaIpc)
      .u64(d.pid)
      .u64(d.nonce)
      .bytes(d.table)
      .u32(d.slot)
      .u64(d.token)
      .bytes(d.handle)
      .u64(d.base)
      .u64(d.buffer_id)
      .u64(d.offset)
      .u64(d.size)
      .finish();
}

absl::StatusOr<CudaIpcDescriptor> decode_cuda_ipc_descriptor(std::string_view bytes) {
  absl::StatusOr<DescriptorReader> r = DescriptorReader::open(bytes, DescriptorKind::kCudaIpc);
  if (!r.ok()) return r.status();
  CudaIpcDescriptor d;
  r->u64(&d.pid);
  r->u64(&d.nonce);
  r->bytes(&d.table, 255);
  r->u32(&d.slot);
  r->u64(&d.token);
  r->bytes(&d.handle, sizeof(cudaIpcMemHandle_t));
  r->u64(&d.base);
  r->u64(&d.buffer_id);
  r->u64(&d.offset);
  r->u64(&d.size);
  if (absl::Status s = r->finish(); !s.ok()) return s;
  if (d.handle.size() != sizeof(cudaIpcMemHandle_t) || d.token == 0 || d.size == 0 ||
      d.offset > UINT64_MAX - d.size)
    return absl::InvalidArgumentError("malformed cuda_ipc transfer descriptor");
  return d;
}

uint64_t cuda_ipc_process_nonce() {
  static const uint64_t nonce = [] {
    std::random_device rd;
    return (uint64_t{rd()} << 32) | rd() | 1;
  }();
  return nonce;
}

bool exposed_by_this_process(const CudaIpcDescriptor& d) {
  // The pid too: a forked child inherits the nonce.
  return d.nonce == cuda_ipc_process_nonce() && d.pid == static_cast<uint64_t>(getpid());
}

}  // namespace dllm::transfer

// The cuda_ipc back end's descriptor: what a puller needs to map and check an exposed region.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace dllm::transfer {

struct CudaIpcDescriptor {
  uint64_t pid = 0;  // with nonce: the exporting process (CUDA cannot open its own handles)
  uint64_t nonce = 0;
  std::string table;  // shared-memory name of the exporter's token table
  uint32_t slot = 0;  // the region's slot in that table, and its token
  uint64_t token = 0;
  std::string handle;      // cudaIpcMemHandle_t of the allocation
  uint64_t base = 0;       // the allocation's address in the exporting process
  uint64_t buffer_id = 0;  // the allocation's, in the exporting process (never reused)
  uint64_t offset = 0;     // of the region within the allocation
  uint64_t size = 0;
};

std::string encode_cuda_ipc_descriptor(const CudaIpcDescriptor& d);
// InvalidArgument for anything but a well-formed cuda_ipc descriptor.
absl::StatusOr<CudaIpcDescriptor> decode_cuda_ipc_descriptor(std::string_view bytes);

// A random number fixed for the life of this process.
uint64_t cuda_ipc_process_nonce();
bool exposed_by_this_process(const CudaIpcDescriptor& d);

}  // namespace dllm::transfer

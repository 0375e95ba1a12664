// The nccl back end's descriptor payload: where the exposing side's control server listens, which
// server (an instance nonce, so that a restarted process on the same port is not mistaken for the
// old one), which region, and its size.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace dllm::transfer {

struct NcclDescriptor {
  std::string control_host;
  uint16_t control_port = 0;
  uint64_t instance = 0;
  uint64_t region = 0;
  uint64_t size = 0;
};

std::string encode_nccl_descriptor(const NcclDescriptor& d);
// InvalidArgument for a foreign, truncated or inconsistent descriptor.
absl::StatusOr<NcclDescriptor> decode_nccl_descriptor(std::string_view bytes);

}  // namespace dllm::transfer

// The ucx back end's descriptor payload: who owns the region (worker address), which region
// (slot + token), how to pull it (protocol), and for RMA the addresses and rkeys to read.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "common/transfer/transport.h"

namespace dllm::transfer {

struct UcxDescriptor {
  UcxProtocol protocol = UcxProtocol::kActiveMessage;  // never kAuto on the wire
  std::string worker_address;
  uint32_t slot = 0;
  uint64_t token = 0;
  uint64_t size = 0;
  uint64_t remote_address = 0;  // RMA: the region's base in the owner's address space
  std::string rkey;             // RMA: packed rkey of the region
  uint64_t token_address = 0;   // RMA: the slot's liveness token
  std::string table_rkey;       // RMA: packed rkey of the token table
};

std::string encode_ucx_descriptor(const UcxDescriptor& d);
// InvalidArgument for a foreign, truncated or inconsistent descriptor.
absl::StatusOr<UcxDescriptor> decode_ucx_descriptor(std::string_view bytes);

}  // namespace dllm::transfer

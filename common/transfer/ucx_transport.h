// The `ucx` back end: host memory over UCX (tcp on loopback/CI, RDMA or shared memory where the
// fabric has them). See UcxProtocol for how a pull moves its bytes.
#pragma once

#include <memory>

#include "absl/status/statusor.h"
#include "common/transfer/transport.h"

namespace dllm::transfer {

absl::StatusOr<std::unique_ptr<Transport>> make_ucx_transport(const TransportOptions& options);

// kAuto resolved for `tls`: active messages when every entry is tcp, RMA otherwise.
UcxProtocol resolve_ucx_protocol(UcxProtocol requested, const std::string& tls);

}  // namespace dllm::transfer

// The one place where engine errors (absl::Status) become gRPC statuses.
#pragma once

#include "absl/status/status.h"
#include "grpcpp/support/status.h"

namespace dllm::router {

// Same code (the two enums share numbering) and message.
grpc::Status to_grpc_status(const absl::Status& status);

}  // namespace dllm::router

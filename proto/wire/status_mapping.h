// The one place where engine errors (absl::Status) become gRPC statuses.
#pragma once

#include "absl/status/status.h"
#include "grpcpp/support/status.h"

namespace dllm::wire {

// Same code (the two enums share numbering) and message.
grpc::Status to_grpc_status(const absl::Status& status);
// And back (a node's answer relayed by the router keeps its code and message).
absl::Status from_grpc_status(const grpc::Status& status);
// Worth re-placing on another node: the node died or went away (UNAVAILABLE), or broke off.
bool is_node_failure(const grpc::Status& status);
// A decode node could not pull the prompt's K/V (the prefill side died or the link dropped):
// ABORTED, worth preparing again without blaming the decode node.
inline bool is_kv_pull_failure(const grpc::Status& status) {
  return status.error_code() == grpc::StatusCode::ABORTED;
}

}  // namespace dllm::wire

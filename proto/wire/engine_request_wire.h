// EngineRequest (the nodes' wire form of a request) ↔ common/'s EngineRequestSpec.
#pragma once

#include "absl/status/statusor.h"
#include "common/pipeline/engine_request.h"
#include "dllm/v1/node.pb.h"

namespace dllm::wire {

// Every knob resolved to its default and validated against `config` (InvalidArgument naming
// what is wrong).
absl::StatusOr<EngineRequestSpec> spec_from_wire(const v1::EngineRequest& request,
                                                 const ModelConfig& config);

}  // namespace dllm::wire

// A public GenerateRequest → the EngineRequest both nodes run: the prompt tokenized here (chat
// template, prefilling's prefix | context | query split), every knob checked against the model
// so that a bad request is refused before any node works on it.
#pragma once

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "common/pipeline/served_model.h"
#include "dllm/v1/node.pb.h"
#include "router/serving_limits.h"

namespace dllm::router {

struct RoutedRequest {
  v1::EngineRequest engine;
  std::vector<uint64_t> chunk_keys;  // prefilling: the chunks' affinity keys (placement)
  int prompt_tokens = 0;
};

absl::StatusOr<RoutedRequest> build_routed_request(const v1::GenerateRequest& request,
                                                   const std::string& request_id,
                                                   const ServedModel& model,
                                                   const ServingLimits& limits,
                                                   const std::string& default_policy = "dense");

}  // namespace dllm::router

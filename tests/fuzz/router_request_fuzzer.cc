// Fuzzes the router's public request building: a GenerateRequest (protobuf, decoded from the
// input) → build_routed_request against a tokenizer-only ServedModel of models/llada-tiny. An
// accepted request must be one the nodes accept too, within the router's limits.
#include <cstdint>
#include <memory>

#include "proto/wire/engine_request_wire.h"
#include "router/public_request.h"
#include "tests/fuzz/fuzz_support.h"
#include "tests/fuzz/proto_support.h"

namespace {

const dllm::ServedModel& llada_tiny() {
  static const std::unique_ptr<dllm::ServedModel> model = [] {
    dllm::ServedModelOptions options;
    options.load_weights = false;  // what the router holds: config + tokenizer
    absl::StatusOr<std::unique_ptr<dllm::ServedModel>> m =
        dllm::ServedModel::load(dllm::fuzz::llada_tiny_dir(), options);
    if (!m.ok()) dllm::fuzz::setup_failed(m.status().ToString());
    return std::move(*m);
  }();
  return *model;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  dllm::fuzz::silence_protobuf_log();
  dllm::v1::GenerateRequest request;
  if (!request.ParseFromArray(data, static_cast<int>(size))) return 0;
  // Small limits, so that the fuzzer reaches every bound with small inputs.
  dllm::router::ServingLimits limits;
  limits.max_prompt_tokens = 256;
  limits.max_gen_length = 256;
  limits.max_request_bytes = 1 << 14;
  const dllm::ServedModel& model = llada_tiny();
  absl::StatusOr<dllm::router::RoutedRequest> routed =
      dllm::router::build_routed_request(request, "fuzz-request", model, limits);
  if (!routed.ok()) {
    const absl::StatusCode code = routed.status().code();
    FUZZ_CHECK(code == absl::StatusCode::kInvalidArgument ||
               code == absl::StatusCode::kFailedPrecondition);
    return 0;
  }
  const dllm::v1::EngineRequest& e = routed->engine;
  FUZZ_CHECK(e.request_id() == "fuzz-request" && e.model() == model.name());
  FUZZ_CHECK(routed->prompt_tokens == e.prefix_size() + e.context_size() + e.query_size());
  FUZZ_CHECK(routed->prompt_tokens > 0 && routed->prompt_tokens <= limits.max_prompt_tokens);
  // What the router forwards, a node accepts, and its work is bounded by the router's limits:
  // gen_length tokens and as many denoising steps at most (a forward pass each).
  absl::StatusOr<dllm::EngineRequestSpec> spec = dllm::wire::spec_from_wire(e, model.config());
  FUZZ_CHECK(spec.ok());
  FUZZ_CHECK(spec->generation.gen_length <= limits.max_gen_length);
  FUZZ_CHECK(spec->generation.steps <= limits.max_gen_length);
  // The nodes receive it serialized; it must survive the trip unchanged.
  dllm::v1::EngineRequest copy;
  FUZZ_CHECK(copy.ParseFromString(e.SerializeAsString()));
  FUZZ_CHECK(copy.SerializeAsString() == e.SerializeAsString());
  return 0;
}

// Fuzzes the nodes' wire translation: an EngineRequest (protobuf, decoded from the input) →
// spec_from_wire against a LLaDA config (models/llada-tiny) and a Dream config. What it accepts
// must be safe for the pure computations a node runs next (sequence length, block schedule,
// chunk plan, focus budget).
#include <climits>
#include <cstdint>
#include <numeric>
#include <string>

#include "common/generate/transfer_schedule.h"
#include "common/sparse/chunk_plan.h"
#include "proto/wire/engine_request_wire.h"
#include "tests/fuzz/fuzz_support.h"
#include "tests/fuzz/proto_support.h"

namespace {

bool prefilling(dllm::SparsePolicy p) {
  return p == dllm::SparsePolicy::kPrefilling || p == dllm::SparsePolicy::kPrefillingFocus;
}
bool focus(dllm::SparsePolicy p) {
  return p == dllm::SparsePolicy::kFocus || p == dllm::SparsePolicy::kPrefillingFocus;
}

dllm::ModelConfig load_config(const std::string& path) {
  absl::StatusOr<dllm::ModelConfig> c =
      dllm::parse_model_config(dllm::fuzz::read_setup_file(path), path);
  if (!c.ok()) dllm::fuzz::setup_failed(c.status().ToString());
  return *c;
}

void check_spec(const dllm::EngineRequestSpec& spec, const dllm::ModelConfig& config) {
  const std::vector<int32_t> prompt = spec.full_prompt();
  FUZZ_CHECK(!prompt.empty());
  for (int32_t id : prompt) FUZZ_CHECK(id >= 0 && id < config.embedding_rows);
  const dllm::GenerationOptions& g = spec.generation;
  // The decode node sizes the sequence as prompt + gen_length in int.
  FUZZ_CHECK(static_cast<int64_t>(prompt.size()) + g.gen_length <= INT_MAX);
  const int block_length = g.block_length == 0 ? g.gen_length : g.block_length;
  FUZZ_CHECK(block_length > 0 && g.gen_length % block_length == 0);
  const int num_blocks = g.gen_length / block_length;
  if (g.threshold == 0.0) {
    FUZZ_CHECK(g.steps > 0 && g.steps % num_blocks == 0);
    const int steps_per_block = g.steps / num_blocks;
    // A schedule holds an entry per step: validation must have bounded the steps.
    if (config.family == dllm::ModelFamily::kLlada) {
      const std::vector<int> counts = dllm::llada_transfer_counts(block_length, steps_per_block);
      FUZZ_CHECK(std::accumulate(counts.begin(), counts.end(), 0LL) == block_length);
    }
    if (config.family == dllm::ModelFamily::kDream) {
      const std::vector<float> t =
          dllm::dream_timesteps(steps_per_block, static_cast<float>(g.eps));
      FUZZ_CHECK(t.size() == static_cast<size_t>(steps_per_block) + 1);
    }
  }
  if (prefilling(spec.policy)) {
    FUZZ_CHECK(!spec.context.empty() && !spec.query.empty());
    absl::StatusOr<int32_t> bos = dllm::resolve_chunk_bos(spec.prefilling, config);
    FUZZ_CHECK(bos.ok());
    // Every context token lands in exactly one chunk, in order.
    std::vector<int32_t> joined;
    for (const dllm::PlannedChunk& c : dllm::plan_chunks(spec.context, spec.prefilling.chunk_size,
                                                         spec.prefilling.chunk_bos, *bos)) {
      FUZZ_CHECK(static_cast<int>(c.ids.size()) <= spec.prefilling.chunk_size);
      joined.insert(joined.end(), c.ids.begin() + (c.has_bos ? 1 : 0), c.ids.end());
    }
    FUZZ_CHECK(joined == spec.context);
  }
  if (focus(spec.policy)) {
    const int sink = dllm::focus_sink_layer(spec.focus, config);
    FUZZ_CHECK(sink >= 0 && sink < config.num_layers);
    FUZZ_CHECK(dllm::focus_token_budget(spec.focus, static_cast<int>(prompt.size())) >= 0);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const dllm::ModelConfig llada = load_config(dllm::fuzz::llada_tiny_dir() + "/config.json");
  static const dllm::ModelConfig dream =
      load_config(dllm::fuzz::source_path("tests/fuzz/corpus/model_config/dream_tiny_config.json"));
  dllm::fuzz::silence_protobuf_log();
  dllm::v1::EngineRequest request;
  if (!request.ParseFromArray(data, static_cast<int>(size))) return 0;
  for (const dllm::ModelConfig* config : {&llada, &dream}) {
    absl::StatusOr<dllm::EngineRequestSpec> spec = dllm::wire::spec_from_wire(request, *config);
    if (!spec.ok()) {
      FUZZ_CHECK(spec.status().code() == absl::StatusCode::kInvalidArgument);
      continue;
    }
    check_spec(*spec, *config);
  }
  return 0;
}

#include "proto/wire/engine_request_wire.h"

#include "absl/strings/str_cat.h"
#include "proto/wire/generation_params.h"

namespace dllm::wire {

absl::StatusOr<EngineRequestSpec> spec_from_wire(const v1::EngineRequest& r,
                                                 const ModelConfig& config) {
  EngineRequestSpec spec;
  absl::StatusOr<SparsePolicy> policy = parse_sparse_policy(r.policy().empty() ? "dense" : r.policy());
  if (!policy.ok()) return policy.status();
  spec.policy = *policy;
  spec.prefix.assign(r.prefix().begin(), r.prefix().end());
  spec.context.assign(r.context().begin(), r.context().end());
  spec.query.assign(r.query().begin(), r.query().end());
  absl::StatusOr<GenerationOptions> gen = to_generation_options(r.params(), config);
  if (!gen.ok()) return gen.status();
  spec.generation = *gen;
  const bool prefilling =
      spec.policy == SparsePolicy::kPrefilling || spec.policy == SparsePolicy::kPrefillingFocus;
  const bool focus =
      spec.policy == SparsePolicy::kFocus || spec.policy == SparsePolicy::kPrefillingFocus;
  if (prefilling) {
    absl::StatusOr<PrefillingOptions> p = to_prefilling_options(r.prefilling(), config);
    if (!p.ok()) return p.status();
    spec.prefilling = *p;
  }
  if (focus) {
    absl::StatusOr<FocusOptions> f = to_focus_options(r.focus(), config);
    if (!f.ok()) return f.status();
    spec.focus = *f;
  }
  spec.model_id = r.model();
  if (absl::Status st = validate_engine_request(spec, config); !st.ok()) return st;
  return spec;
}

}  // namespace dllm::wire

// Translation of the wire's generation knobs into the engine's options.
#include "router/generation_params.h"

#include <algorithm>

namespace dllm::router {
namespace {

absl::StatusOr<KvCacheMode> to_cache_mode(v1::CacheMode mode) {
  switch (mode) {
    case v1::CACHE_MODE_UNSPECIFIED:
    case v1::CACHE_MODE_NONE:
      return KvCacheMode::kNone;
    case v1::CACHE_MODE_PREFIX:
      return KvCacheMode::kPrefix;
    case v1::CACHE_MODE_DUAL:
      return KvCacheMode::kDual;
    default:
      return absl::InvalidArgumentError("unknown cache mode");
  }
}

}  // namespace

absl::StatusOr<GenerationOptions> to_generation_options(const v1::GenerationParams& params,
                                                        const ModelConfig& config) {
  const bool dream = config.family == ModelFamily::kDream;
  GenerationOptions o;
  o.gen_length = params.has_gen_length() ? params.gen_length() : 128;
  o.block_length =
      params.has_block_length() ? params.block_length() : (dream ? 0 : std::min(32, o.gen_length));
  o.steps = params.has_steps() ? params.steps() : o.gen_length;
  o.temperature = params.temperature();
  o.threshold = params.threshold();
  absl::StatusOr<KvCacheMode> cache = to_cache_mode(params.cache());
  if (!cache.ok()) return cache.status();
  o.cache = *cache;
  o.seed = params.seed();
  absl::StatusOr<Sampler> sampler = parse_sampler(
      !params.sampler().empty() ? params.sampler() : (dream ? "entropy" : "low_confidence"));
  if (!sampler.ok()) return sampler.status();
  o.sampler = *sampler;
  o.cfg_scale = params.cfg_scale();
  if (params.has_top_p()) o.top_p = params.top_p();
  o.top_k = params.top_k();
  o.alg_temp = params.alg_temp();
  if (params.has_eps()) o.eps = params.eps();
  o.stop_after_stop_block = params.stop_after_eos_block();
  if (absl::Status st = validate_generation_options(o, config); !st.ok()) return st;
  return o;
}

}  // namespace dllm::router

// Translation of the wire's generation knobs into the engine's options.
#include "proto/wire/generation_params.h"

#include <algorithm>

namespace dllm::wire {
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

absl::StatusOr<PrefillingOptions> to_prefilling_options(const v1::PrefillingParams& params,
                                                        const ModelConfig& config) {
  PrefillingOptions o;
  if (params.has_chunk_size()) o.chunk_size = params.chunk_size();
  if (params.has_top_k()) o.top_k = params.top_k();
  if (params.has_draft_tokens()) o.draft_tokens = params.draft_tokens();
  if (params.has_score_batch()) o.score_batch = params.score_batch();
  if (params.has_token_capacity()) o.token_capacity = params.token_capacity();
  if (params.has_chunk_bos()) o.chunk_bos = params.chunk_bos();
  if (params.has_bos_id()) o.bos_token_id = params.bos_id();
  if (!params.chunk_mode().empty()) {
    absl::StatusOr<ChunkMode> mode = parse_chunk_mode(params.chunk_mode());
    if (!mode.ok()) return mode.status();
    o.chunk_mode = *mode;
  }
  if (!params.token_select().empty()) {
    absl::StatusOr<TokenSelect> select = parse_token_select(params.token_select());
    if (!select.ok()) return select.status();
    o.token_select = *select;
  }
  if (absl::Status st = validate_prefilling_options(o, config); !st.ok()) return st;
  return o;
}

absl::StatusOr<FocusOptions> to_focus_options(const v1::FocusParams& params,
                                              const ModelConfig& config) {
  FocusOptions o;
  if (params.has_rho()) o.rho = params.rho();
  if (params.has_window()) o.window = params.window();
  if (params.has_sink_layer()) o.sink_layer = params.sink_layer();
  if (params.has_sinks()) o.sinks = params.sinks();
  if (params.has_kv_block()) o.kv_block = params.kv_block();
  if (params.has_kv_budget() && params.has_kv_ratio())
    return absl::InvalidArgumentError("give one of kv_budget and kv_ratio");
  if (params.has_kv_budget()) o.kv_budget = params.kv_budget();
  if (params.has_kv_ratio()) o.kv_ratio = params.kv_ratio();
  if (params.has_dense_tail()) o.dense_tail = params.dense_tail();
  if (!params.refresh().empty()) {
    absl::StatusOr<FocusRefresh> refresh = parse_focus_refresh(params.refresh());
    if (!refresh.ok()) return refresh.status();
    o.refresh = *refresh;
  }
  if (absl::Status st = validate_focus_options(o, config); !st.ok()) return st;
  return o;
}

}  // namespace dllm::wire

// Focus-dLLM knobs: parsing and validation.
#include "common/sparse/focus_options.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "absl/strings/str_cat.h"

namespace dllm {

absl::StatusOr<FocusRefresh> parse_focus_refresh(std::string_view name) {
  if (name == "block") return FocusRefresh::kBlock;
  if (name == "frozen-prompt") return FocusRefresh::kFrozenPrompt;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown --refresh '", std::string(name), "' (known: block, frozen-prompt)"));
}

const char* focus_refresh_name(FocusRefresh refresh) {
  return refresh == FocusRefresh::kBlock ? "block" : "frozen-prompt";
}

absl::Status validate_focus_options(const FocusOptions& o, const ModelConfig& config) {
  auto bad = [](auto&&... parts) { return absl::InvalidArgumentError(absl::StrCat(parts...)); };
  if (!(o.rho >= 1.0) || !std::isfinite(o.rho))
    return bad("focus rho ", o.rho,
               " must be a finite number >= 1 (the focus set holds at least "
               "the positions a step commits)");
  if (o.window < 0) return bad("focus window ", o.window, " must be >= 0");
  if (o.sink_layer < -1 || o.sink_layer >= config.num_layers)
    return bad("focus sink layer ", o.sink_layer, " must be in [0, ", config.num_layers,
               ") (or -1 for num_layers / 4)");
  if (o.sinks < 0) return bad("focus sinks ", o.sinks, " must be >= 0");
  if (o.kv_block < 1) return bad("focus kv block ", o.kv_block, " must be >= 1");
  if (o.kv_budget < 1) return bad("focus kv budget ", o.kv_budget, " must be >= 1");
  if (!(o.kv_ratio >= 0.0 && o.kv_ratio <= 1.0))
    return bad("focus kv ratio ", o.kv_ratio, " must be in [0, 1] (0 = use the kv budget)");
  if (o.dense_tail < 0 || o.dense_tail > config.num_layers)
    return bad("focus dense tail ", o.dense_tail, " must be in [0, ", config.num_layers, "]");
  if (o.mass_recall_every < 0)
    return bad("focus mass_recall_every ", o.mass_recall_every, " must be >= 0");
  return absl::OkStatus();
}

absl::Status validate_focus_generation(const GenerationOptions& o) {
  if (o.cache == KvCacheMode::kPrefix)
    return absl::InvalidArgumentError(
        "--policy focus runs on the dual block cache (only active rows are rewritten); "
        "--cache prefix would re-run the whole suffix");
  if (o.cfg_scale > 0.0)
    return absl::InvalidArgumentError("--policy focus does not support cfg yet");
  if (o.sampler == Sampler::kDreamOrigin)
    return absl::InvalidArgumentError(
        "--policy focus ranks positions by confidence; Dream alg 'origin' has none");
  return absl::OkStatus();
}

int focus_sink_layer(const FocusOptions& o, const ModelConfig& config) {
  return o.sink_layer >= 0 ? o.sink_layer : config.num_layers / 4;
}

int focus_token_budget(const FocusOptions& o, int prompt_len) {
  if (o.kv_ratio > 0.0) return std::max(1, static_cast<int>(std::ceil(o.kv_ratio * prompt_len)));
  return o.kv_budget;
}

}  // namespace dllm

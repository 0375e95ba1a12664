// FocusOptions: every knob of Focus-dLLM (methods.md §3) with our defaults, and their
// validation against a model and a generation schedule.
#pragma once

#include <string_view>

#include "absl/status/statusor.h"
#include "common/generate/generation_options.h"
#include "common/model/model_config.h"

namespace dllm {

// What a block entry re-encodes.
enum class FocusRefresh {
  kBlock,         // every block entry refreshes all K/V, prompt included (the paper)
  kFrozenPrompt,  // prompt K/V are encoded once; later block entries refresh the response only
};

struct FocusOptions {
  double rho = 2.0;       // focus set size ⌈rho · n(t)⌉, >= 1
  int window = 1;         // active rows: [p - window, p + window] around each focus position
  int sink_layer = -1;    // dense layers 0..sink_layer; sinks chosen at it; -1 = num_layers / 4
  int sinks = 64;         // sink tokens kept
  int kv_block = 64;      // prompt tokens per scored block
  int kv_budget = 2048;   // prompt tokens kept in sparse layers, sinks included
  double kv_ratio = 0.0;  // > 0: budget = ceil(kv_ratio · prompt length) instead of kv_budget
  int dense_tail = 0;     // the last dense_tail layers attend densely
  FocusRefresh refresh = FocusRefresh::kBlock;
  int mass_recall_every = 16;  // sample attention-mass recall every N-th focused step; 0 = off
};

// "block" | "frozen-prompt"
absl::StatusOr<FocusRefresh> parse_focus_refresh(std::string_view name);
const char* focus_refresh_name(FocusRefresh refresh);

// InvalidArgument naming the knob and the reason.
absl::Status validate_focus_options(const FocusOptions& options, const ModelConfig& config);
// The schedule focus runs on: a dual block cache (kNone is taken as dual), no cfg, a confidence
// ranked sampler (Dream 'origin' has no confidences to focus by).
absl::Status validate_focus_generation(const GenerationOptions& options);

int focus_sink_layer(const FocusOptions& options, const ModelConfig& config);
// Prompt tokens the sparse layers keep (sinks included).
int focus_token_budget(const FocusOptions& options, int prompt_len);

}  // namespace dllm

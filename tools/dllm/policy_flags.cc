// --policy and the Prefilling-dLLM / Focus-dLLM flags, parsed once for every command.
#include "tools/dllm/policy_flags.h"

#include <optional>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/sparse/prefilling_prompt.h"

namespace dllm::cli {
namespace {

const char* const kPrefillingFlags[] = {"chunk-size",     "top-k",        "draft-tokens",
                                        "score-batch",    "chunk-mode",   "token-capacity",
                                        "token-select",   "chunk-bos",    "bos-id"};

const char* const kFocusFlags[] = {"rho",        "window",   "sink-layer", "sinks",  "kv-block",
                                   "kv-budget",  "kv-ratio", "dense-tail", "refresh"};

}  // namespace

bool policy_uses_prefilling(SparsePolicy policy) {
  return policy == SparsePolicy::kPrefilling || policy == SparsePolicy::kPrefillingFocus;
}

bool policy_uses_focus(SparsePolicy policy) {
  return policy == SparsePolicy::kFocus || policy == SparsePolicy::kPrefillingFocus;
}

absl::Status fill_focus_options(const CliArgs& args, const ModelConfig& config, FocusOptions* o) {
  if (args.has("kv-budget") && args.has("kv-ratio"))
    return absl::InvalidArgumentError("give one of --kv-budget and --kv-ratio");
  struct IntFlag {
    const char* name;
    int* field;
  };
  for (const IntFlag& f :
       {IntFlag{"window", &o->window}, IntFlag{"sink-layer", &o->sink_layer},
        IntFlag{"sinks", &o->sinks}, IntFlag{"kv-block", &o->kv_block},
        IntFlag{"kv-budget", &o->kv_budget}, IntFlag{"dense-tail", &o->dense_tail}}) {
    absl::StatusOr<int> v = args.get_int(f.name, *f.field);
    if (!v.ok()) return v.status();
    *f.field = *v;
  }
  for (auto [name, field] : {std::pair<const char*, double*>{"rho", &o->rho},
                             std::pair<const char*, double*>{"kv-ratio", &o->kv_ratio}}) {
    absl::StatusOr<double> v = args.get_double(name, *field);
    if (!v.ok()) return v.status();
    *field = *v;
  }
  absl::StatusOr<FocusRefresh> refresh = parse_focus_refresh(args.get("refresh", "block"));
  if (!refresh.ok()) return refresh.status();
  o->refresh = *refresh;
  return validate_focus_options(*o, config);
}

absl::Status fill_prefilling_options(const CliArgs& args, const ModelConfig& config,
                                     const Tokenizer* tok, PrefillingOptions* o) {
  struct IntFlag {
    const char* name;
    int* field;
  };
  for (const IntFlag& f : {IntFlag{"chunk-size", &o->chunk_size}, IntFlag{"top-k", &o->top_k},
                           IntFlag{"draft-tokens", &o->draft_tokens},
                           IntFlag{"score-batch", &o->score_batch},
                           IntFlag{"token-capacity", &o->token_capacity}}) {
    absl::StatusOr<int> v = args.get_int(f.name, *f.field);
    if (!v.ok()) return v.status();
    *f.field = *v;
  }
  absl::StatusOr<ChunkMode> mode = parse_chunk_mode(args.get("chunk-mode", "reprefill"));
  if (!mode.ok()) return mode.status();
  o->chunk_mode = *mode;
  absl::StatusOr<TokenSelect> select = parse_token_select(args.get("token-select", "global"));
  if (!select.ok()) return select.status();
  o->token_select = *select;
  absl::StatusOr<bool> bos = parse_on_off("--chunk-bos", args.get("chunk-bos", "on"));
  if (!bos.ok()) return bos.status();
  o->chunk_bos = *bos;
  absl::StatusOr<int> bos_id = args.get_int("bos-id", default_chunk_bos_id(config, tok));
  if (!bos_id.ok()) return bos_id.status();
  o->bos_token_id = *bos_id;
  return validate_prefilling_options(*o, config);
}

std::vector<OptionSpec> with_policy_options(const std::vector<OptionSpec>& specs) {
  std::vector<OptionSpec> all = specs;
  const std::vector<OptionSpec> policy = {
      {"policy", true, "sparse policy: dense (default) | prefilling | focus | prefilling+focus"},
      {"chunk-size", true, "prefilling: tokens per chunk, BOS included (default 1024)"},
      {"top-k", true, "prefilling: chunks kept (default 4)"},
      {"draft-tokens", true, "prefilling: draft MASK slots after the query (default 4)"},
      {"score-batch", true, "prefilling: sequences per scoring forward (default 8)"},
      {"chunk-mode", true, "prefilling: reprefill (default) | reuse"},
      {"token-capacity", true, "prefilling: tokens kept per selected chunk, BOS included (0 = all)"},
      {"token-select", true, "prefilling: global (default) | per-head"},
      {"chunk-bos", true, "prefilling: BOS anchor at each chunk start: on (default) | off"},
      {"bos-id", true, "prefilling: the BOS id (default: config, else the tokenizer's)"},
      {"rho", true, "focus: focus set = ceil(rho * tokens committed this step) (default 2)"},
      {"window", true, "focus: active rows [p - window, p + window] per focused p (default 1)"},
      {"sink-layer", true, "focus: dense layers 0..N, sinks chosen at N (default num_layers/4)"},
      {"sinks", true, "focus: sink tokens kept (default 64)"},
      {"kv-block", true, "focus: prompt tokens per scored block (default 64)"},
      {"kv-budget", true, "focus: prompt tokens kept in sparse layers, sinks included (default 2048)"},
      {"kv-ratio", true, "focus: budget as a fraction of the prompt (instead of --kv-budget)"},
      {"dense-tail", true, "focus: the last N layers attend densely (default 0)"},
      {"refresh", true, "focus: block (default) | frozen-prompt"},
  };
  all.insert(all.end(), policy.begin(), policy.end());
  return all;
}

absl::StatusOr<SparsePolicy> parse_policy_flags(const CliArgs& args) {
  absl::StatusOr<SparsePolicy> policy = parse_sparse_policy(args.get("policy", "dense"));
  if (!policy.ok()) return policy.status();
  if (!policy_uses_focus(*policy))
    for (const char* flag : kFocusFlags)
      if (args.has(flag))
        return absl::InvalidArgumentError(
            absl::StrCat("--", flag, " is a --policy focus (or prefilling+focus) option"));
  if (!policy_uses_prefilling(*policy))
    for (const char* flag : kPrefillingFlags)
      if (args.has(flag))
        return absl::InvalidArgumentError(absl::StrCat(
            "--", flag, " is a --policy prefilling (or prefilling+focus) option",
            std::string(flag) == "top-k" ? " (Dream's sampling top-k is --sample-top-k)" : ""));
  return policy;
}

}  // namespace dllm::cli

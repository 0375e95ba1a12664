// `dllm generate`: tokenize a prompt, run a LLaDA / Dream denoising schedule, print the text.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/generate/generate.h"
#include "common/model/load_model.h"
#include "common/pipeline/engine_request.h"
#include "common/sparse/prefilling_prompt.h"
#include "common/sparse/sparse_policy.h"
#include "common/tokenizer/tokenizer.h"
#include "tools/dllm/commands.h"
#include "tools/dllm/engine_options.h"
#include "tools/dllm/generation_flags.h"
#include "tools/dllm/policy_flags.h"
#include "tools/dllm/progress_bar.h"

namespace dllm::cli {
namespace {

const std::vector<OptionSpec>& generate_specs() {
  static const std::vector<OptionSpec> all = [] {
    std::vector<OptionSpec> specs = {
        {"model", true, "checkpoint directory (config.json, safetensors, tokenizer)"},
        {"stream", false, "print each block's text as soon as it is finished"},
        kKvPoolOption, kKvPageOption, kDeviceOption, kThreadsOption, kConfigOption, kHelpOption};
    const std::vector<OptionSpec>& shared = prompt_and_generation_specs();
    specs.insert(specs.begin() + 1, shared.begin(), shared.end());
    return with_policy_options(specs);
  }();
  return all;
}

absl::Status fill_options(const CliArgs& args, const ModelConfig& config, GenerationOptions* o) {
  const bool dream = config.family == ModelFamily::kDream;
  absl::StatusOr<int> gen = args.get_int("gen-length", 128);
  if (!gen.ok()) return gen.status();
  o->gen_length = *gen;
  absl::StatusOr<int> block = args.get_int("block-length", dream ? 0 : std::min(32, *gen));
  absl::StatusOr<int> steps = args.get_int("steps", *gen);
  absl::StatusOr<int> top_k = args.get_int("sample-top-k", 0);
  absl::StatusOr<int> seed = args.get_int("seed", 0);
  for (const absl::Status& st : {block.status(), steps.status(), top_k.status(), seed.status()})
    if (!st.ok()) return st;
  o->block_length = *block;
  o->steps = *steps;
  o->top_k = *top_k;
  o->seed = static_cast<uint64_t>(*seed);
  struct DoubleFlag {
    const char* name;
    double* field;
  };
  for (const DoubleFlag& f : {DoubleFlag{"temperature", &o->temperature},
                              DoubleFlag{"threshold", &o->threshold},
                              DoubleFlag{"cfg-scale", &o->cfg_scale}, DoubleFlag{"top-p", &o->top_p},
                              DoubleFlag{"alg-temp", &o->alg_temp}, DoubleFlag{"eps", &o->eps}}) {
    absl::StatusOr<double> v = args.get_double(f.name, *f.field);
    if (!v.ok()) return v.status();
    *f.field = *v;
  }
  if (dream && args.has("remasking"))
    return absl::InvalidArgumentError("--remasking is a LLaDA option; Dream models take --alg");
  if (!dream && args.has("alg"))
    return absl::InvalidArgumentError("--alg is a Dream option; LLaDA models take --remasking");
  absl::StatusOr<Sampler> sampler =
      parse_sampler(dream ? args.get("alg", "entropy") : args.get("remasking", "low_confidence"));
  if (!sampler.ok()) return sampler.status();
  o->sampler = *sampler;
  absl::StatusOr<KvCacheMode> cache = parse_kv_cache_mode(args.get("cache", "none"));
  if (!cache.ok()) return cache.status();
  o->cache = *cache;
  o->stop_after_stop_block = args.flag("stop-after-eos-block");
  return validate_generation_options(*o, config);
}

void print_prefilling_report(const PrefillingReport& rep) {
  if (rep.dense_fallback) {
    std::fprintf(stderr, "dllm: %s\n", rep.note.c_str());
    return;
  }
  std::fprintf(stderr, "prefilling: %zu chunks, %d targets, draft [%s]; selection %.3f s (%lld chunk encodes, %lld cache hits, %lld scoring forwards)\n",
               rep.chunks.size(), rep.num_targets, absl::StrJoin(rep.draft, ",").c_str(),
               rep.selection_seconds, static_cast<long long>(rep.chunks_encoded),
               static_cast<long long>(rep.chunk_cache_hits),
               static_cast<long long>(rep.score_forwards));
  for (size_t c = 0; c < rep.chunks.size(); ++c) {
    const ChunkReport& cr = rep.chunks[c];
    std::fprintf(stderr, "prefilling: chunk %zu [%d, %d) score %.6f%s%s\n", c, cr.context_begin,
                 cr.context_end, cr.score, cr.selected ? " selected" : "",
                 cr.selected ? absl::StrCat(" (", cr.kept_tokens, " tokens kept)").c_str() : "");
  }
  std::fprintf(stderr, "prefilling: selected chunks [%s]; compressed prompt %zu tokens%s\n",
               absl::StrJoin(rep.selected, ",").c_str(), rep.prompt.size(),
               rep.frozen_len > 0 ? absl::StrCat(", ", rep.frozen_len, " stitched from cached chunk K/V").c_str() : "");
}

void print_focus_counters(const FocusCounters& counters) {
  std::fprintf(stderr,
               "focus: %lld focused + %lld dense block steps, %.1f active rows/step, PCGI "
               "recall %.3f, sink overlap %.3f, attention-mass recall %.3f (%lld samples)\n",
               static_cast<long long>(counters.focused_steps),
               static_cast<long long>(counters.dense_block_steps),
               counters.focused_steps > 0
                   ? static_cast<double>(counters.active_rows) / counters.focused_steps
                   : 0.0,
               counters.pcgi_recall(), counters.sink_overlap(), counters.mass_recall(),
               static_cast<long long>(counters.mass_samples));
}

// The text up to the first stop token, special tokens skipped.
std::string visible_text(const Tokenizer& tok, std::span<const int32_t> ids,
                         const std::vector<int32_t>& stops) {
  size_t end = 0;
  while (end < ids.size() && std::find(stops.begin(), stops.end(), ids[end]) == stops.end()) ++end;
  absl::StatusOr<std::string> text = tok.decode(ids.subspan(0, end), /*skip_special=*/true);
  return text.ok() ? *text : absl::StrCat("<undecodable: ", text.status().message(), ">");
}

}  // namespace

int run_generate(int argc, char** argv) {
  const auto& specs = generate_specs();
  CliArgs parsed;
  if (std::optional<int> exit = parse_command_args(argc, argv, "generate", specs, &parsed)) return *exit;
  const CliArgs* args = &parsed;
  if (!args->has("model")) return report_error(absl::InvalidArgumentError("--model is required"));
  if (args->has("prompt") == args->has("prompt-ids"))
    return report_error(absl::InvalidArgumentError("give exactly one of --prompt and --prompt-ids"));
  absl::StatusOr<SparsePolicy> policy = parse_policy_flags(*args);
  if (!policy.ok()) return report_error(policy.status());
  const bool has_context = args->has("context") || args->has("context-file");
  if (policy_uses_prefilling(*policy) && !has_context)
    return report_error(absl::InvalidArgumentError(
        absl::StrCat("--policy ", sparse_policy_name(*policy),
                     " needs the document: --context TEXT or --context-file FILE")));
  if (has_context && !args->has("prompt"))
    return report_error(absl::InvalidArgumentError("--context goes with --prompt (the question)"));
  const std::string dir = args->get("model");

  // The tokenizer is optional with --prompt-ids (ids in, ids out).
  std::unique_ptr<Tokenizer> tok;
  const bool has_tokenizer = std::filesystem::exists(dir + "/tokenizer.json") ||
                             std::filesystem::exists(dir + "/vocab.json");
  if (args->has("prompt") || has_tokenizer) {
    auto loaded = Tokenizer::load_from_dir(dir);
    if (!loaded.ok()) return report_error(loaded.status());
    tok = std::move(*loaded);
  }
  auto backend = make_backend(*args);
  if (!backend.ok()) return report_error(backend.status());
  absl::StatusOr<TransformerOptions> engine = transformer_options(*args);
  if (!engine.ok()) return report_error(engine.status());
  auto model = load_transformer(dir, backend->get(), *engine);
  if (!model.ok()) return report_error(model.status());
  const ModelConfig& config = (*model)->config();

  const std::optional<ChatTemplateKind> chat_kind =
      args->flag("chat") ? std::optional<ChatTemplateKind>(config.family == ModelFamily::kDream
                                                               ? ChatTemplateKind::kDreamInstruct
                                                               : ChatTemplateKind::kLladaInstruct)
                         : std::nullopt;
  absl::StatusOr<std::vector<int32_t>> prompt;
  PrefillingPrompt parts;
  if (has_context) {
    absl::StatusOr<std::string> context = read_context(*args);
    if (!context.ok()) return report_error(context.status());
    std::optional<std::string> system;
    if (args->has("system")) system = args->get("system");
    absl::StatusOr<PrefillingPrompt> built = build_prefilling_prompt(
        *tok, chat_kind, system ? std::optional<std::string_view>(*system) : std::nullopt,
        *context, args->get("prompt"));
    if (!built.ok()) return report_error(built.status());
    parts = std::move(*built);
    std::vector<int32_t> all = parts.prefix;
    all.insert(all.end(), parts.context.begin(), parts.context.end());
    all.insert(all.end(), parts.query.begin(), parts.query.end());
    prompt = std::move(all);
  } else if (args->has("prompt-ids")) {
    prompt = parse_id_list(args->get("prompt-ids"));
  } else if (args->get("prompt").empty()) {
    prompt = absl::InvalidArgumentError("empty prompt");
  } else if (chat_kind.has_value()) {
    std::vector<ChatMessage> messages;
    if (args->has("system")) messages.push_back({"system", args->get("system")});
    messages.push_back({"user", args->get("prompt")});
    prompt = tok->encode_chat(*chat_kind, messages, /*add_generation_prompt=*/true);
  } else {
    prompt = tok->encode(args->get("prompt"));
  }
  if (!prompt.ok()) return report_error(prompt.status());
  if (absl::Status st = validate_prompt(*prompt, config); !st.ok()) return report_error(st);

  GenerationOptions options;
  if (absl::Status st = fill_options(*args, config, &options); !st.ok()) return report_error(st);
  const std::vector<int32_t> stops = resolve_stop_tokens(options, config);

  BlockCallback on_block;
  // Long generations show their blocks going by (on a terminal; --stream prints them instead).
  std::optional<ProgressBar> progress;
  if (args->flag("stream") && tok != nullptr) {
    on_block = [&](int block, std::span<const int32_t> ids) {
      std::fprintf(stderr, "[block %d] %s\n", block, visible_text(*tok, ids, stops).c_str());
    };
  } else {
    const int block = options.block_length > 0 ? options.block_length : options.gen_length;
    progress.emplace("dllm generate: blocks", options.gen_length / std::max(1, block));
    if (progress->enabled())
      on_block = [&](int, std::span<const int32_t>) { progress->advance(); };
  }
  const auto t0 = std::chrono::steady_clock::now();
  // The engine path the servers run too (prepare, then decode): one answer either way.
  EngineRequestSpec spec{.policy = *policy, .generation = options, .model_id = dir};
  if (has_context) {
    spec.prefix = parts.prefix;
    spec.context = parts.context;
    spec.query = parts.query;
  } else {
    spec.query = *prompt;
  }
  if (policy_uses_prefilling(*policy))
    if (absl::Status st = fill_prefilling_options(*args, config, tok.get(), &spec.prefilling);
        !st.ok())
      return report_error(st);
  if (policy_uses_focus(*policy))
    if (absl::Status st = fill_focus_options(*args, config, &spec.focus); !st.ok())
      return report_error(st);
  FocusCounters counters;
  absl::StatusOr<EngineResult> ran =
      run_engine_request(**model, spec, /*chunk_cache=*/nullptr, on_block, &counters);
  if (progress) progress->finish();
  if (!ran.ok()) return report_error(ran.status());
  if (policy_uses_prefilling(*policy)) print_prefilling_report(ran->report);
  if (policy_uses_focus(*policy)) print_focus_counters(counters);
  prompt = std::move(ran->prompt);
  absl::StatusOr<GenerationResult> result = std::move(ran->generation);
  if (!result.ok()) return report_error(result.status());
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  if (tok != nullptr) std::printf("%s\n", visible_text(*tok, result->generated, stops).c_str());
  std::fprintf(stderr, "dllm: %zu prompt + %zu generated tokens in %.3f s (%.1f tok/s, %lld forwards)\n",
               prompt->size(), result->generated.size(), secs, result->generated.size() / secs,
               static_cast<long long>(result->counters.forward_passes));
  if (args->flag("print-ids")) std::printf("%s\n", absl::StrJoin(result->generated, ",").c_str());
  return 0;
}

}  // namespace dllm::cli

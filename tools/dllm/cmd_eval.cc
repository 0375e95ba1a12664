// `dllm eval`: long-context task accuracy (passkey, kv, vt, mdqa) of a model under a policy.
// Samples come from tools/data/gen_tasks.py (held-out eval seeds), prompts are the LLaDA chat
// template around "context\n\nQuestion: ..." plus the task's answer prefix, answers are scored
// by exact match.
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <optional>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <span>
#include <sstream>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/eval/eval_tasks.h"
#include "common/generate/generate.h"
#include "common/model/load_model.h"
#include "common/tokenizer/tokenizer.h"
#include "common/sparse/focus_generate.h"
#include "common/sparse/focus_on_prefilling.h"
#include "common/sparse/prefilling.h"
#include "tools/dllm/commands.h"
#include "tools/dllm/progress_bar.h"
#include "tools/dllm/engine_options.h"
#include "tools/dllm/policy_flags.h"

extern char** environ;

namespace dllm::cli {
namespace {

namespace fs = std::filesystem;

const std::vector<OptionSpec>& eval_specs() {
  static const std::vector<OptionSpec> specs = {
      {"model", true, "checkpoint directory (config.json, safetensors, tokenizer.json)"},
      {"task", true, "passkey | kv | vt | mdqa, comma-separated, or all"},
      {"ctx", true, "prompt length(s) in tokens, comma-separated (e.g. 1024,4096)"},
      {"depth", true,
       "needle depth(s) in [0,1], comma-separated, or all (0,.25,.5,.75,1; default)"},
      {"samples", true, "samples per (task, ctx, depth) cell (default 10)"},
      {"gen-length", true, "answer budget in tokens (default 32)"},
      {"block-length", true, "denoising block (default: gen-length)"},
      {"steps", true, "denoising steps (default: gen-length)"},
      {"threshold", true, "confidence-threshold parallel decoding τ; 0 = off (default)"},
      {"cache", true, "block K/V cache: none (default) | prefix | dual"},
      {"keys", true, "kv: key-value needles per sample (default 4)"},
      {"hops", true, "vt: variables in the chain (default 4)"},
      {"seed", true, "first eval seed (default 0; the generator adds its held-out base)"},
      {"data-script", true, "path of gen_tasks.py (default: found next to the executable)"},
      {"python", true, "Python interpreter for the data script (default python3)"},
      {"csv", true, "also write the table as CSV to this file"},
      {"verbose", false, "print every sample's answer and the generated text"},
      kKvPoolOption,
      kKvPageOption,
      kDeviceOption,
      kThreadsOption,
      kConfigOption,
      kHelpOption};
  static const std::vector<OptionSpec> all = with_policy_options(specs);
  return all;
}

struct PromptLayout {
  size_t context_begin = 0;
  size_t context_end = 0;
};

// ======================================================================================
// The policy settings of a run (parsed once from the flags).
struct PolicyRun {
  SparsePolicy policy = SparsePolicy::kDense;
  PrefillingOptions prefilling;
  FocusOptions focus;
  std::string model_id;
};

// THE place where the policy is applied. Every sample's generation goes through here.
absl::StatusOr<GenerationResult> generate_with_policy(const PolicyRun& run, Transformer& model,
                                                      std::span<const int32_t> prompt,
                                                      const PromptLayout& layout,
                                                      const GenerationOptions& options) {
  switch (run.policy) {
    case SparsePolicy::kDense:
      return generate(model, prompt, options);
    case SparsePolicy::kPrefilling:
    case SparsePolicy::kPrefillingFocus: {
      // prefix | context | query as the chat template laid them out.
      PrefillingRequest request{
          .prefix = prompt.subspan(0, layout.context_begin),
          .context = prompt.subspan(layout.context_begin, layout.context_end - layout.context_begin),
          .query = prompt.subspan(layout.context_end),
          .prefilling = run.prefilling,
          .generation = options,
          .model_id = run.model_id};
      absl::StatusOr<PrefillingResult> result =
          run.policy == SparsePolicy::kPrefillingFocus
              ? generate_prefilling_focus(model, request, run.focus)
              : generate_prefilling(model, request);
      if (!result.ok()) return result.status();
      return std::move(result->generation);
    }
    case SparsePolicy::kFocus:
      return generate_focus(model, prompt, options, run.focus, nullptr, {});
  }
  return absl::InternalError("unknown policy");
}

size_t common_prefix(std::span<const int32_t> a, std::span<const int32_t> b) {
  size_t n = 0;
  while (n < a.size() && n < b.size() && a[n] == b[n]) ++n;
  return n;
}

absl::StatusOr<PromptLayout> prompt_layout(const Tokenizer& tok, ChatTemplateKind kind,
                                           std::span<const int32_t> full,
                                           const std::string& context) {
  const std::vector<ChatMessage> empty = {{"user", ""}}, only_context = {{"user", context}};
  auto a = tok.encode_chat(kind, empty, /*add_generation_prompt=*/true);
  auto b = tok.encode_chat(kind, only_context, /*add_generation_prompt=*/true);
  if (!a.ok()) return a.status();
  if (!b.ok()) return b.status();
  PromptLayout layout;
  layout.context_begin = common_prefix(full, *a);
  layout.context_end = std::max(layout.context_begin, common_prefix(full, *b));
  return layout;
}

// The data script: --data-script, else tools/data/gen_tasks.py of the source tree that holds
// the executable (build*/bin/dllm), else of the working directory.
absl::StatusOr<std::string> find_data_script(const CliArgs& args) {
  if (args.has("data-script")) {
    if (!fs::exists(args.get("data-script")))
      return absl::NotFoundError(
          absl::StrCat("--data-script ", args.get("data-script"), " does not exist"));
    return args.get("data-script");
  }
  std::vector<fs::path> candidates;
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    candidates.push_back(exe.parent_path() / "../../tools/data/gen_tasks.py");
    candidates.push_back(exe.parent_path() / "../tools/data/gen_tasks.py");
  }
  candidates.push_back(fs::current_path(ec) / "tools/data/gen_tasks.py");
  for (const fs::path& p : candidates)
    if (fs::exists(p, ec)) return fs::weakly_canonical(p, ec).string();
  return absl::NotFoundError(
      "tools/data/gen_tasks.py not found next to the executable or in "
      "the working directory; pass --data-script");
}

// Runs argv (no shell) and waits; its stdout and stderr stay ours.
absl::Status run_process(const std::vector<std::string>& argv) {
  std::vector<char*> cargs;
  for (const std::string& a : argv) cargs.push_back(const_cast<char*>(a.c_str()));
  cargs.push_back(nullptr);
  pid_t pid = 0;
  if (int err = posix_spawnp(&pid, cargs[0], nullptr, nullptr, cargs.data(), environ); err != 0)
    return absl::FailedPreconditionError(
        absl::StrCat("cannot start ", argv[0], ": ", std::strerror(err)));
  int status = 0;
  if (waitpid(pid, &status, 0) < 0) return absl::InternalError("waitpid failed");
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    return absl::FailedPreconditionError(absl::StrCat(
        argv[1], " failed (exit status ", WIFEXITED(status) ? WEXITSTATUS(status) : -1, ")"));
  return absl::OkStatus();
}

struct DataRequest {
  std::string python, script, tokenizer;
  std::string task;
  int ctx = 0;
  double depth = 0;
  int samples = 0;
  int seed = 0;
  int keys = 4;
  int hops = 4;
};

absl::StatusOr<std::vector<eval::TaskSample>> generate_samples(const DataRequest& r) {
  std::string path = (fs::temp_directory_path() / "dllm-eval-XXXXXX").string();
  const int fd = mkstemp(path.data());
  if (fd < 0) return absl::InternalError("cannot create a temporary file");
  close(fd);
  const absl::Status st = run_process({r.python,      r.script,
                                       "--task",      r.task,
                                       "--ctx",       absl::StrCat(r.ctx),
                                       "--depth",     absl::StrFormat("%g", r.depth),
                                       "--seed",      absl::StrCat(r.seed),
                                       "--count",     absl::StrCat(r.samples),
                                       "--split",     "eval",
                                       "--tokenizer", r.tokenizer,
                                       "--keys",      absl::StrCat(r.keys),
                                       "--hops",      absl::StrCat(r.hops),
                                       "--output",    path});
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  std::error_code ec;
  fs::remove(path, ec);
  if (!st.ok()) return st;
  return eval::parse_task_jsonl(text.str());
}

// The generated text up to the first stop token, special tokens skipped.
std::string answer_text(const Tokenizer& tok, std::span<const int32_t> ids,
                        const std::vector<int32_t>& stops) {
  size_t end = 0;
  while (end < ids.size() && std::find(stops.begin(), stops.end(), ids[end]) == stops.end()) ++end;
  absl::StatusOr<std::string> text = tok.decode(ids.subspan(0, end), /*skip_special=*/true);
  return text.ok() ? *text : std::string();
}

absl::Status fill_options(const CliArgs& args, const ModelConfig& config, GenerationOptions* o) {
  absl::StatusOr<int> gen = args.get_int("gen-length", 32);
  if (!gen.ok()) return gen.status();
  absl::StatusOr<int> block = args.get_int("block-length", *gen);
  absl::StatusOr<int> steps = args.get_int("steps", *gen);
  absl::StatusOr<double> threshold = args.get_double("threshold", 0.0);
  absl::StatusOr<KvCacheMode> cache = parse_kv_cache_mode(args.get("cache", "none"));
  for (const absl::Status& st :
       {block.status(), steps.status(), threshold.status(), cache.status()})
    if (!st.ok()) return st;
  o->gen_length = *gen;
  o->block_length = *block;
  o->steps = *steps;
  o->threshold = *threshold;
  o->cache = *cache;
  o->sampler =
      config.family == ModelFamily::kDream ? Sampler::kDreamEntropy : Sampler::kLladaLowConfidence;
  return validate_generation_options(*o, config);
}

}  // namespace

int run_eval(int argc, char** argv) {
  const auto& specs = eval_specs();
  CliArgs parsed;
  if (std::optional<int> exit = parse_command_args(argc, argv, "eval", specs, &parsed)) return *exit;
  const CliArgs* args = &parsed;
  for (const char* required : {"model", "task", "ctx"})
    if (!args->has(required))
      return report_error(absl::InvalidArgumentError(absl::StrCat("--", required, " is required")));
  auto tasks = eval::parse_tasks(args->get("task"));
  if (!tasks.ok()) return report_error(tasks.status());
  auto lengths = eval::parse_lengths(args->get("ctx"));
  if (!lengths.ok()) return report_error(lengths.status());
  auto depths = eval::parse_depths(args->get("depth", "all"));
  if (!depths.ok()) return report_error(depths.status());
  auto policy = parse_policy_flags(*args);
  if (!policy.ok()) return report_error(policy.status());
  const std::string policy_name = args->get("policy", "dense");
  DataRequest req;
  for (auto [name, dest, fallback] : {std::tuple{"samples", &req.samples, 10},
                                      {"seed", &req.seed, 0},
                                      {"keys", &req.keys, 4},
                                      {"hops", &req.hops, 4}}) {
    absl::StatusOr<int> v = args->get_int(name, fallback);
    if (!v.ok()) return report_error(v.status());
    *dest = *v;
  }
  if (req.samples <= 0 || req.seed < 0 || req.keys <= 0 || req.hops <= 0)
    return report_error(absl::InvalidArgumentError(
        "--samples, --keys and --hops must be positive and --seed non-negative"));
  auto script = find_data_script(*args);
  if (!script.ok()) return report_error(script.status());
  req.script = *script;
  req.python = args->get("python", "python3");
  const std::string dir = args->get("model");
  req.tokenizer = dir + "/tokenizer.json";
  if (!fs::exists(req.tokenizer))
    return report_error(absl::NotFoundError(
        absl::StrCat(req.tokenizer, " not found: dllm eval needs the model's tokenizer.json")));

  auto tok = Tokenizer::load_from_dir(dir);
  if (!tok.ok()) return report_error(tok.status());
  auto backend = make_backend(*args);
  if (!backend.ok()) return report_error(backend.status());
  absl::StatusOr<TransformerOptions> engine = transformer_options(*args);
  if (!engine.ok()) return report_error(engine.status());
  auto model = load_transformer(dir, backend->get(), *engine);
  if (!model.ok()) return report_error(model.status());
  const ModelConfig& config = (*model)->config();
  const ChatTemplateKind kind = config.family == ModelFamily::kDream
                                    ? ChatTemplateKind::kDreamInstruct
                                    : ChatTemplateKind::kLladaInstruct;
  if (absl::Status st = (*tok)->check_chat_template(kind); !st.ok()) return report_error(st);
  GenerationOptions options;
  if (absl::Status st = fill_options(*args, config, &options); !st.ok()) return report_error(st);
  const std::vector<int32_t> stops = resolve_stop_tokens(options, config);
  const bool verbose = args->flag("verbose");
  PolicyRun run{.policy = *policy, .model_id = dir};
  if (policy_uses_prefilling(*policy))
    if (absl::Status st = fill_prefilling_options(*args, config, tok->get(), &run.prefilling);
        !st.ok())
      return report_error(st);
  if (policy_uses_focus(*policy))
    if (absl::Status st = fill_focus_options(*args, config, &run.focus); !st.ok())
      return report_error(st);

  std::vector<eval::EvalCell> cells;
  ProgressBar progress("dllm eval",
                       static_cast<int64_t>(tasks->size() * lengths->size() * depths->size()) *
                           req.samples);
  for (const std::string& task : *tasks) {
    for (int ctx : *lengths) {
      for (double depth : *depths) {
        req.task = task;
        req.ctx = ctx;
        req.depth = depth;
        auto samples = generate_samples(req);
        if (!samples.ok()) return report_error(samples.status());
        eval::EvalCell cell{task, ctx, depth};
        for (const eval::TaskSample& s : *samples) {
          const std::vector<ChatMessage> messages = {{"user", eval::user_content(s)}};
          auto prompt = (*tok)->encode(render_chat(kind, messages, /*add_generation_prompt=*/true) +
                                       s.answer_prefix);
          if (!prompt.ok()) return report_error(prompt.status());
          if (absl::Status st = validate_prompt(*prompt, config); !st.ok()) return report_error(st);
          auto layout = prompt_layout(**tok, kind, *prompt, s.context);
          if (!layout.ok()) return report_error(layout.status());
          const auto t0 = std::chrono::steady_clock::now();
          auto result = generate_with_policy(run, **model, *prompt, *layout, options);
          if (!result.ok()) return report_error(result.status());
          cell.seconds +=
              std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
          const std::string got = answer_text(**tok, result->generated, stops);
          const bool ok = eval::answer_matches(got, s.answer);
          ++cell.samples;
          cell.correct += ok ? 1 : 0;
          progress.advance();
          if (verbose)
            std::printf("%s ctx=%d(%zu tokens) depth=%g seed=%lld %s want=\"%s\" got=\"%s\"\n",
                        task.c_str(), ctx, prompt->size(), depth, static_cast<long long>(s.seed),
                        ok ? "ok" : "WRONG", s.answer.c_str(), got.c_str());
        }
        std::fprintf(stderr, "dllm eval: %s ctx %d depth %g: %d/%d (%.1f s/sample)\n", task.c_str(),
                     ctx, depth, cell.correct, cell.samples,
                     cell.samples ? cell.seconds / cell.samples : 0.0);
        cells.push_back(cell);
      }
    }
  }
  progress.finish();
  std::fputs(eval::format_table(cells, policy_name).c_str(), stdout);
  if (args->has("csv")) {
    std::ofstream out(args->get("csv"));
    out << eval::format_csv(cells, policy_name);
    if (!out)
      return report_error(
          absl::PermissionDeniedError(absl::StrCat("cannot write --csv ", args->get("csv"))));
  }
  std::printf("accuracy=%.2f\n", eval::overall_accuracy(cells));
  return 0;
}

}  // namespace dllm::cli

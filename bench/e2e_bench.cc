// End-to-end policy benchmark: each request runs through the engine's own path (prepare_prompt,
// then the DenoisingSequence of decode_prompt stepped here so every step is timed), and the
// table compares whole-request times across policies at each prompt length.
#include "bench/e2e_bench.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <map>
#include <numeric>
#include <optional>

#include "common/pipeline/engine_request.h"
#include "common/sparse/focus_generate.h"

namespace dllm::bench {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

double median(std::vector<double> v) {
  if (v.empty()) return 0.0;
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

double mean(const std::vector<double>& v) {
  return v.empty() ? 0.0 : std::accumulate(v.begin(), v.end(), 0.0) / v.size();
}

// Ordinary tokens: below the synthetic config's EOS and MASK (the top ids).
std::vector<int32_t> tokens(int n, int vocab, int seed) {
  std::vector<int32_t> ids(n);
  for (int i = 0; i < n; ++i)
    ids[i] = static_cast<int32_t>((i * 7919L + seed * 104729L + 13) % (vocab - 4)) + 2;
  return ids;
}

int64_t kv_slot_bytes(const ModelConfig& c) {  // bf16 K + V of one slot, all layers
  return 2LL * c.num_layers * c.num_kv_heads * c.head_dim * 2;
}

// f32 activations the forward keeps per row (hidden, norm, q, k, v, attention out, gate, up).
int64_t activation_row_bytes(const ModelConfig& c) {
  const int64_t q = int64_t{c.num_heads} * c.head_dim, kv = int64_t{c.num_kv_heads} * c.head_dim;
  return 4 * (3LL * c.hidden_size + q + 2 * kv + 2LL * c.intermediate_size);
}

constexpr size_t kMarginBytes = size_t{3} << 30;  // cuBLASLt workspace, attention scratch, context

double forward_flops(const ModelConfig& c, double rows, double keys, double logit_rows) {
  const double d = c.hidden_size, q = c.num_heads * c.head_dim, kv = c.num_kv_heads * c.head_dim;
  const double per_layer_linear = d * q * 2 + d * kv * 2 + 3.0 * d * c.intermediate_size;
  return c.num_layers * (2.0 * rows * per_layer_linear + 4.0 * rows * keys * q) +
         2.0 * logit_rows * d * c.embedding_rows;
}

bool is_prefilling(const std::string& p) { return p.rfind("prefilling", 0) == 0; }
bool is_focus(const std::string& p) { return p.find("focus") != std::string::npos; }

EngineRequestSpec make_spec(const std::string& policy, const ModelConfig& c, const E2eArgs& a,
                            int prompt, double threshold) {
  EngineRequestSpec s;
  s.prefix = tokens(a.prefix, c.vocab_size, 1);
  s.context = tokens(prompt - a.prefix - a.query, c.vocab_size, 2);
  s.query = tokens(a.query, c.vocab_size, 3);
  s.policy = policy == "prefilling" || policy == "prefilling-reuse" ? SparsePolicy::kPrefilling
             : policy == "focus"                                    ? SparsePolicy::kFocus
             : policy == "prefilling+focus"                         ? SparsePolicy::kPrefillingFocus
                                                                    : SparsePolicy::kDense;
  GenerationOptions& g = s.generation;
  g.sampler =
      c.family == ModelFamily::kDream ? Sampler::kDreamMaskgitPlus : Sampler::kLladaLowConfidence;
  g.gen_length = a.gen;
  g.block_length = a.block;
  g.steps = a.gen;  // 1 token a step (unused with a threshold)
  g.threshold = threshold;
  g.cache = policy == "vanilla" ? KvCacheMode::kNone : KvCacheMode::kDual;
  s.prefilling.bos_token_id = 1;
  if (policy == "prefilling-reuse") s.prefilling.chunk_mode = ChunkMode::kReuse;
  if (a.variant_batch > 0) s.prefilling.variant_batch = a.variant_batch;
  s.focus.refresh = FocusRefresh::kFrozenPrompt;
  s.model_id = "bench";
  return s;
}

// One request, every step timed on the host (each step ends by reading its greedy choices back,
// so the clock sees the device work). Stops after `stop_blocks` blocks or `stop_steps` steps
// (0 = run to the end); what was not run is extrapolated from what was.
struct Measured {
  std::string error;  // empty: ran
  double select_s = 0.0, prep_s = 0.0;
  double first_entry_s = 0.0;                 // the first block entry (with a cache)
  std::vector<double> later_entries, cached;  // vanilla: every step is in `cached`
  int blocks_done = 0, num_blocks = 0;
  int64_t steps = 0;
  bool complete = false;
  int decoded_prompt = 0;  // the prompt the denoising loop ran over (compressed or whole)
  int64_t chunks_encoded = 0, score_rows = 0;  // selection's work (prefilling)
  FocusCounters focus;

  double prefill_s() const { return prep_s - select_s + first_entry_s; }
  double cached_per_block() const {
    return blocks_done > 0 ? static_cast<double>(cached.size()) / blocks_done : 0.0;
  }
  double steps_total() const {
    if (complete) return static_cast<double>(steps);
    return (cached.empty() && first_entry_s == 0.0) ? 0.0 : (1.0 + cached_per_block()) * num_blocks;
  }
  double e2e_s() const {
    const double later = later_entries.empty() ? first_entry_s : mean(later_entries);
    if (complete)
      return prep_s + first_entry_s +
             std::accumulate(later_entries.begin(), later_entries.end(), 0.0) +
             std::accumulate(cached.begin(), cached.end(), 0.0);
    return prep_s + first_entry_s + later * (num_blocks - 1) +
           mean(cached) * cached_per_block() * num_blocks;
  }
};

Measured run_request(Transformer& model, const EngineRequestSpec& spec, int stop_blocks,
                     int stop_steps) {
  Measured m;
  m.num_blocks = spec.generation.gen_length / spec.generation.block_length;
  auto t0 = Clock::now();
  absl::StatusOr<PreparedPromptState> prepared = prepare_prompt(model, spec, nullptr);
  if (!prepared.ok()) return m.error = prepared.status().ToString(), m;
  m.prep_s = seconds_since(t0);
  m.select_s = prepared->report.selection_seconds;
  m.decoded_prompt = static_cast<int>(prepared->prompt.size());
  m.chunks_encoded = prepared->report.chunks_encoded;
  m.score_rows = prepared->report.score_rows;
  int blocks_done = 0;
  auto seq = make_decode_sequence(model, spec, prepared->prompt,
                                  prepared->frozen ? &*prepared->frozen : nullptr,
                                  [&](int, std::span<const int32_t>) { ++blocks_done; });
  if (!seq.ok()) return m.error = seq.status().ToString(), m;
  const bool cached = spec.generation.cache != KvCacheMode::kNone;
  bool entry = cached;
  DenoisingSequence* one[] = {seq->get()};
  while (true) {
    const int blocks_before = blocks_done;
    t0 = Clock::now();
    absl::StatusOr<bool> stepped = step_sequences(model, one);
    const double dt = seconds_since(t0);
    if (!stepped.ok()) return m.error = stepped.status().ToString(), m;
    if (!*stepped) {
      m.complete = true;
      break;
    }
    ++m.steps;
    if (entry && m.steps == 1)
      m.first_entry_s = dt;
    else if (entry)
      m.later_entries.push_back(dt);
    else
      m.cached.push_back(dt);
    entry = cached && blocks_done != blocks_before;
    if ((stop_blocks > 0 && blocks_done >= stop_blocks) ||
        (stop_steps > 0 && m.steps >= stop_steps))
      break;
  }
  m.blocks_done = blocks_done;
  if (is_focus(std::string(sparse_policy_name(spec.policy)))) m.focus = focus_counters_of(**seq);
  return m;
}

struct Row {
  int prompt = 0;
  std::string policy;
  Measured one, thr;  // 1 token/step, threshold
  double step_floor_s = 0.0;
  double select_floor_s = 0.0;  // selection's FLOPs over the GEMM peak
  int keys = 0;
  std::string note;
};

// Bytes one cached step must read: the weights and the K/V its attention reads.
double step_floor_s(const ModelConfig& c, const E2eArgs& a, const EngineRequestSpec& spec,
                    const std::string& policy, int decoded_prompt) {
  if (a.copy_gbs <= 0) return 0.0;
  const double keys = decoded_prompt + a.gen;
  const double per_layer_slot = static_cast<double>(kv_slot_bytes(c)) / c.num_layers;
  double kv = keys * per_layer_slot * c.num_layers;
  if (is_focus(policy)) {
    const int dense_layers = focus_sink_layer(spec.focus, c) + 1 + spec.focus.dense_tail;
    const int sparse_layers = std::max(0, c.num_layers - dense_layers);
    const double kept =
        std::min(focus_token_budget(spec.focus, decoded_prompt), decoded_prompt) + a.gen;
    kv = per_layer_slot * (std::min(dense_layers, c.num_layers) * keys + sparse_layers * kept);
  }
  return (a.weight_bytes + kv) / (a.copy_gbs * 1e9);
}

// Selection is compute-bound: every chunk encoded causally (prefix + chunk rows, half of them as
// keys on average) and the scoring rows over one chunk's keys, at the measured GEMM peak.
double select_floor_s(const ModelConfig& c, const E2eArgs& a, const Measured& m) {
  if (a.gemm_tflops <= 0 || m.chunks_encoded == 0) return 0.0;
  const PrefillingOptions p;
  const double rows = a.prefix + p.chunk_size, suffix = a.query + p.draft_tokens;
  const double flops = m.chunks_encoded * forward_flops(c, rows, rows / 2, 0) +
                       forward_flops(c, m.score_rows, rows + suffix / 2, 0);
  return flops / (a.gemm_tflops * 1e12);
}

// Why a request of `slots` K/V slots and `rows` rows in one forward would not fit, or "".
std::string does_not_fit(const ModelConfig& c, const E2eArgs& a, int64_t slots, int64_t rows) {
  const double kv = static_cast<double>(slots) * kv_slot_bytes(c);
  const double act = static_cast<double>(rows) * activation_row_bytes(c);
  if (static_cast<size_t>(slots) <= a.pool_slots) return "";
  char buf[200];
  std::snprintf(buf, sizeof buf,
                "does not fit: K/V %.1f GB + activations %.1f GB + weights %.1f GB > %.1f GB",
                kv / 1e9, act / 1e9, a.weight_bytes / 1e9,
                (a.device_bytes_free + a.weight_bytes) / 1e9);
  return buf;
}

std::string ratio_text(double r) {
  if (r <= 0) return "-";
  char buf[32];
  std::snprintf(buf, sizeof buf, r >= 100 ? "%.0f" : "%.2f", r);
  return buf;
}

void print_line(const Row& r) {
  const Measured& m = r.one;
  std::printf(
      "  %-7d %-17s keys %6d select %.3fs (floor %.3fs) prefill %.3fs step %.2fms (floor %.2f, "
      "%.2fx) "
      "steps %.0f e2e %.2fs | thr: steps %.0f e2e %.2fs%s%s\n",
      r.prompt, r.policy.c_str(), r.keys, m.select_s, r.select_floor_s, m.prefill_s(),
      median(m.cached) * 1e3, r.step_floor_s * 1e3,
      r.step_floor_s > 0 ? median(m.cached) / r.step_floor_s : 0.0, m.steps_total(), m.e2e_s(),
      r.thr.steps_total(), r.thr.error.empty() ? r.thr.e2e_s() : -1.0, r.note.empty() ? "" : " | ",
      r.note.c_str());
  if (m.focus.focused_steps > 0)
    std::printf("          focus: %lld focused steps, %.1f active rows/step, PCGI recall %.3f\n",
                static_cast<long long>(m.focus.focused_steps),
                static_cast<double>(m.focus.active_rows) / m.focus.focused_steps,
                m.focus.pcgi_recall());
  std::fflush(stdout);
}

}  // namespace

size_t e2e_pool_slots(const ModelConfig& c, const E2eArgs& a, size_t free_bytes) {
  // Chunk selection holds a scoring group of chunks, the best K, suffix caches and the
  // compressed prompt (as in prefilling_reuse_bench).
  const PrefillingOptions p;
  size_t slots =
      static_cast<size_t>(2 * p.score_batch + 3 * p.top_k + 2) * (p.chunk_size + a.prefix + 128) +
      a.query + a.gen;
  std::vector<int> prompts = a.prompts;
  std::sort(prompts.rbegin(), prompts.rend());
  for (int prompt : prompts) {
    const int64_t s = prompt + a.gen + 128, rows = prompt + a.gen;
    if (static_cast<double>(s) * kv_slot_bytes(c) +
            static_cast<double>(rows) * activation_row_bytes(c) + kMarginBytes <=
        free_bytes) {
      slots = std::max(slots, static_cast<size_t>(s));
      break;
    }
  }
  return slots;
}

int run_e2e(Transformer& model, const E2eArgs& a) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // progress lines through `tee` as they happen
  const ModelConfig& c = model.config();
  const auto start = Clock::now();
  std::printf(
      "e2e: %s, prefix %d + context + query %d, gen %d, block %d, 1 token/step and "
      "threshold %.2f; dual block cache; K/V pool %zu slots (%.1f GB)\n",
      a.shape.c_str(), a.prefix, a.query, a.gen, a.block, a.threshold, a.pool_slots,
      static_cast<double>(a.pool_slots) * kv_slot_bytes(c) / 1e9);
  std::map<std::string, std::string> disabled;  // policy -> why (found at warm-up)

  // Warm-up at the shortest prompt: kernels loaded, cuBLASLt plans, buffers; a policy this
  // backend cannot run is found here once instead of after a long block entry.
  const int warm_prompt = *std::min_element(a.prompts.begin(), a.prompts.end());
  for (const std::string& policy : a.policies) {
    const EngineRequestSpec spec = make_spec(policy, c, a, warm_prompt, 0.0);
    const auto t0 = Clock::now();
    Measured m = run_request(model, spec, 1, policy == "vanilla" ? 1 : 0);
    std::printf("warm-up %-17s %.2fs%s%s\n", policy.c_str(), seconds_since(t0),
                m.error.empty() ? "" : ": ", m.error.c_str());
    if (!m.error.empty()) disabled[policy] = "not run: " + m.error.substr(0, 90);
  }

  std::vector<Row> rows;
  for (int prompt : a.prompts) {
    std::map<std::string, const Row*> at;
    const size_t first = rows.size();
    for (const std::string& policy : a.policies) {
      Row r;
      r.prompt = prompt;
      r.policy = policy;
      const int L = prompt + a.gen;
      const EngineRequestSpec spec = make_spec(policy, c, a, prompt, 0.0);
      if (auto it = disabled.find(policy); it != disabled.end())
        r.note = it->second;
      else if (!is_prefilling(policy))
        r.note = does_not_fit(c, a, L + 128, L);
      if (r.note.empty() && a.deadline_s > 0 && seconds_since(start) > a.deadline_s)
        r.note = "skipped: past the run's time budget";
      if (!r.note.empty()) {
        r.one.error = r.thr.error = r.note;
        std::printf("  %-7d %-17s %s\n", prompt, policy.c_str(), r.note.c_str());
        rows.push_back(std::move(r));
        continue;
      }
      const bool sample = (policy == "dense" || policy == "vanilla") && prompt > a.full_max;
      const int stop_blocks = sample ? a.sample_blocks : 0;
      if (policy == "vanilla") {
        // Every step is the same full re-encode: the schedule's step count times its median.
        r.one = run_request(model, spec, 0, a.vanilla_steps);
        const double step = median(r.one.cached);
        r.one.complete = true;
        r.one.steps = a.gen;
        r.one.cached.assign(a.gen, step);
        r.note = std::to_string(a.vanilla_steps) + " re-encode step(s) timed, x " +
                 std::to_string(a.gen) + " steps";
      } else {
        r.one = run_request(model, spec, stop_blocks, 0);
        if (a.threshold > 0)
          r.thr = run_request(model, make_spec(policy, c, a, prompt, a.threshold), stop_blocks, 0);
        if (sample)
          r.note = "first " + std::to_string(a.sample_blocks) + " of " +
                   std::to_string(a.gen / a.block) + " blocks run, rest extrapolated";
      }
      if (!r.one.error.empty()) r.note = "failed: " + r.one.error.substr(0, 90);
      r.keys = r.one.decoded_prompt + a.gen;
      r.select_floor_s = select_floor_s(c, a, r.one);
      r.step_floor_s =
          policy == "vanilla"
              ? (a.gemm_tflops > 0 ? forward_flops(c, L, L, a.block) / (a.gemm_tflops * 1e12) : 0.0)
              : step_floor_s(c, a, spec, policy, r.one.decoded_prompt);
      rows.push_back(std::move(r));
      print_line(rows.back());
    }
    for (size_t i = first; i < rows.size(); ++i) at[rows[i].policy] = &rows[i];
    // Vanilla under the threshold schedule: the steps the dense threshold request took, each a
    // full re-encode.
    if (auto v = at.find("vanilla"), d = at.find("dense"); v != at.end() && d != at.end()) {
      Row* vr = const_cast<Row*>(v->second);
      if (vr->one.error.empty() && d->second->thr.error.empty() && a.threshold > 0) {
        vr->thr = vr->one;
        vr->thr.complete = true;
        vr->thr.steps = static_cast<int64_t>(d->second->thr.steps_total() + 0.5);
        vr->thr.cached.assign(vr->thr.steps, median(vr->one.cached));
      }
    }
  }

  // The table: speed-ups are vanilla / policy and dense block cache / policy, end to end.
  std::printf("\n%-9s %-7s %-17s %6s %8s %8s %8s %8s %8s %6s %6s %8s %6s %8s %8s %8s %8s  %s\n",
              "model", "prompt", "policy", "keys", "select_s", "sel_flr", "prefill", "step_ms",
              "floor_ms", "xfloor", "steps", "e2e_s", "st@.9", "e2e@.9", "vs_van", "vs_dense",
              "vsD@.9", "note");
  for (int prompt : a.prompts) {
    const Row *van = nullptr, *den = nullptr;
    for (const Row& r : rows)
      if (r.prompt == prompt && r.one.error.empty()) {
        if (r.policy == "vanilla") van = &r;
        if (r.policy == "dense") den = &r;
      }
    for (const Row& r : rows) {
      if (r.prompt != prompt) continue;
      if (!r.one.error.empty()) {
        std::printf("%-9s %-7d %-17s %s\n", a.shape.c_str(), prompt, r.policy.c_str(),
                    r.note.c_str());
        continue;
      }
      const Measured& m = r.one;
      const bool vanilla = r.policy == "vanilla";
      const double step = median(m.cached), e2e = m.e2e_s();
      const bool thr_ok = r.thr.error.empty() && r.thr.steps_total() > 0;
      const double e2e_thr = thr_ok ? r.thr.e2e_s() : 0.0;
      auto ratio = [](const Row* base, double mine, bool thr) {
        if (base == nullptr || mine <= 0) return 0.0;
        const Measured& b = thr ? base->thr : base->one;
        return b.error.empty() && b.steps_total() > 0 ? b.e2e_s() / mine : 0.0;
      };
      std::printf(
          "%-9s %-7d %-17s %6d %8.3f %8.3f %8.3f %8.2f %8.2f %6.2f %6.0f %8.2f %6.0f %8.2f %8s "
          "%8s %8s  %s\n",
          a.shape.c_str(), prompt, r.policy.c_str(), r.keys, m.select_s, r.select_floor_s,
          vanilla ? 0.0 : m.prefill_s(), step * 1e3, r.step_floor_s * 1e3,
          r.step_floor_s > 0 ? step / r.step_floor_s : 0.0, m.steps_total(), e2e,
          thr_ok ? r.thr.steps_total() : 0.0, e2e_thr, ratio_text(ratio(van, e2e, false)).c_str(),
          ratio_text(ratio(den, e2e, false)).c_str(), ratio_text(ratio(den, e2e_thr, true)).c_str(),
          r.note.c_str());
    }
  }
  std::printf("total bench time %.0f s\n", seconds_since(start));
  return 0;
}

}  // namespace dllm::bench

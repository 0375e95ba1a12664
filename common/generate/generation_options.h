// GenerationOptions: every knob of a denoising run (sampler, blocks, steps, cache, EOS) and its
// validation.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/model/model_config.h"

namespace dllm {

// Which reference sampler a run reproduces. The LLaDA ones read logits as they are; the Dream
// ones read them shifted right by one (the prediction for position p is row p-1).
enum class Sampler {
  kLladaLowConfidence,  // LLaDA generate.py, remasking='low_confidence'
  kLladaRandom,         // LLaDA generate.py, remasking='random'
  kDreamOrigin,         // Dream _sample, alg='origin'
  kDreamMaskgitPlus,    // alg='maskgit_plus' (max probability)
  kDreamTopkMargin,     // alg='topk_margin' (top-1 minus top-2 probability)
  kDreamEntropy,        // alg='entropy' (negative entropy)
};

// Dense block K/V cache of Fast-dLLM. kPrefix: K/V of [0, block start) frozen at block entry;
// kDual: K/V outside the block frozen at block entry.
enum class KvCacheMode { kNone, kPrefix, kDual };

struct GenerationOptions {
  Sampler sampler = Sampler::kLladaLowConfidence;
  int gen_length = 128;
  int block_length = 0;  // 0: one block of gen_length (Dream's reference has no blocks)
  int steps = 128;       // over all blocks; unused in threshold mode
  double temperature = 0.0;
  double top_p = 1.0;      // Dream only; 1 = off
  int top_k = 0;           // Dream only; 0 = off
  double cfg_scale = 0.0;  // LLaDA only: unsupervised classifier-free guidance
  // Fast-dLLM parallel decoding: 0 = off, else in (0, 1]; commits the top-1 masked position of
  // the block plus every one whose confidence is >= threshold, until the block is complete.
  double threshold = 0.0;
  KvCacheMode cache = KvCacheMode::kNone;
  uint64_t seed = 0;      // our own generator: results are deterministic per seed, not torch's
  double eps = 1e-3;      // Dream: timesteps = linspace(1, eps, steps + 1)
  double alg_temp = 0.0;  // Dream: > 0 samples the positions to commit instead of top-k

  // Stop tokens: empty = the model's EOS and EoT (when the config knows them).
  std::vector<int32_t> stop_token_ids;
  // Cut GenerationResult::generated before the first stop token.
  bool truncate_at_stop = false;
  // Stop once a finished block consists only of stop tokens (the rest is filled with the first
  // stop token). Off by default: the reference always runs every block.
  bool stop_after_stop_block = false;
  bool record_trace = false;  // GenerationResult::trace gets the sequence after every step
  // Checked before every denoising step; true stops the request there (a client cancelled, a
  // deadline passed). The result then has `cancelled` set and its sequence as far as it got.
  std::function<bool()> should_stop;
};

bool is_dream_sampler(Sampler sampler);
ModelFamily sampler_family(Sampler sampler);

// "low_confidence" / "llada_low_confidence", "random", "origin", "maskgit_plus", "topk_margin",
// "entropy" (Dream names may carry a "dream_" prefix, LLaDA names a "llada_" prefix).
absl::StatusOr<Sampler> parse_sampler(std::string_view name);
const char* sampler_name(Sampler sampler);
// "none" | "prefix" | "dual"
absl::StatusOr<KvCacheMode> parse_kv_cache_mode(std::string_view name);
const char* kv_cache_mode_name(KvCacheMode mode);

// The options alone, against the model they will run on (InvalidArgument with the reason).
absl::Status validate_generation_options(const GenerationOptions& options,
                                         const ModelConfig& config);
// A prompt against the model: non-empty, ids in range, no mask token.
absl::Status validate_prompt(std::span<const int32_t> prompt, const ModelConfig& config);

// The stop tokens a run uses (options.stop_token_ids, else the model's EOS and EoT).
std::vector<int32_t> resolve_stop_tokens(const GenerationOptions& options,
                                         const ModelConfig& config);
// Rows of the logits (and the valid id range): embedding_rows, else vocab_size.
int logits_width(const ModelConfig& config);

}  // namespace dllm

// Per-position token choice and confidence of the LLaDA and Dream samplers, and their RNG.
#pragma once

#include <cstdint>
#include <random>
#include <span>

namespace dllm {

// The engine's own generator (results are deterministic per seed; torch's stream is not
// reproduced). One per request, so a request's draws never depend on its batch neighbours.
class SamplingRng {
 public:
  explicit SamplingRng(uint64_t seed) : engine_(seed) {}
  // Uniform in the open interval (0, 1): -log(u) and log(-log(u)) stay finite.
  double uniform() {
    return (static_cast<double>(engine_() >> 11) + 0.5) * (1.0 / 9007199254740992.0);
  }

 private:
  std::mt19937_64 engine_;
};

struct TokenChoice {
  int32_t token = 0;
  double confidence = 0.0;
};

// LLaDA: token = argmax of the logits with Gumbel noise at `temperature` (reference:
// exp(l) / (-log u)^T in float64; we take the same argmax in log space, log(exp(l)) - T log(-log
// u), which cannot overflow); temperature 0 is a plain argmax (first maximum, as torch.argmax).
// confidence = softmax(logits)[token] (low_confidence), or a uniform draw (random remasking).
TokenChoice choose_llada_token(std::span<const float> logits, double temperature,
                               bool random_confidence, SamplingRng& rng);

// Dream's sample_tokens(): what the confidence of a position is.
enum class DreamScore { kMaxProb, kMargin, kNegEntropy };

struct DreamSampling {
  double temperature = 0.0;
  double top_p = 1.0;  // 1 = off
  int top_k = 0;       // 0 = off
};

// logits / T (T > 0), then top-p and top-k filtering (also at T = 0, as the reference does),
// probs = softmax; token = a categorical draw (T > 0) or the first maximum; confidence =
// probs[token] (kMaxProb), top1 - top2 probability (kMargin) or sum p log(p + 1e-10) (kNegEntropy).
TokenChoice choose_dream_token(std::span<const float> logits, const DreamSampling& sampling,
                               DreamScore score, SamplingRng& rng);

}  // namespace dllm

// Greedy token choice and confidence from one row of logits, in float64 (the CPU twin of the
// CUDA reduction; mirrors the host samplers of common/generate/token_sampling.cc).
#include <cmath>
#include <limits>

#include "kernels/cpu/cpu_kernels.h"

namespace dllm::kernels::cpu {

void greedy_confidence_row(const float* logits, int vocab, ConfidenceKind kind, int32_t* id,
                           double* conf) {
  int best = 0;
  for (int i = 1; i < vocab; ++i)
    if (logits[i] > logits[best]) best = i;
  const double max = logits[best];
  double sum = 0.0;
  for (int i = 0; i < vocab; ++i) sum += std::exp(static_cast<double>(logits[i]) - max);
  *id = best;
  switch (kind) {
    case ConfidenceKind::kMaxProb:
      *conf = 1.0 / sum;  // exp(max - max) / sum
      return;
    case ConfidenceKind::kMargin: {
      double second = -std::numeric_limits<double>::infinity();
      for (int i = 0; i < vocab; ++i)
        if (i != best && logits[i] > second) second = logits[i];
      *conf = vocab > 1 ? (1.0 - std::exp(second - max)) / sum : 1.0 / sum;
      return;
    }
    case ConfidenceKind::kNegEntropy: {
      double acc = 0.0;
      for (int i = 0; i < vocab; ++i) {
        const double p = std::exp(static_cast<double>(logits[i]) - max) / sum;
        acc += p * std::log(p + 1e-10);
      }
      *conf = acc;
      return;
    }
  }
}

}  // namespace dllm::kernels::cpu

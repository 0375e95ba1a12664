// LLaDA and Dream transfer-count schedules, bit for bit in the reference's arithmetic.
#include "common/generate/transfer_schedule.h"

namespace dllm {

std::vector<int> llada_transfer_counts(int mask_count, int steps) {
  std::vector<int> counts(steps > 0 ? steps : 0, steps > 0 ? mask_count / steps : 0);
  for (int i = 0; i < static_cast<int>(counts.size()) && i < mask_count % steps; ++i) ++counts[i];
  return counts;
}

std::vector<float> dream_timesteps(int steps, float eps) {
  const int n = steps + 1;
  std::vector<float> t(n);
  if (n == 1) {
    t[0] = 1.0f;
    return t;
  }
  const float start = 1.0f;
  const float end = eps;
  const float step = (end - start) / static_cast<float>(n - 1);
  const int halfway = n / 2;
  for (int i = 0; i < n; ++i) {
    t[i] = i < halfway ? start + step * static_cast<float>(i)
                       : end - step * static_cast<float>(n - i - 1);
  }
  return t;
}

int dream_transfer_count(int n_masked, const std::vector<float>& timesteps, int step) {
  const int steps = static_cast<int>(timesteps.size()) - 1;
  if (step >= steps - 1) return n_masked;
  // Each operation rounds to float32 as torch does on float32 tensors; the int() truncation is
  // sensitive to that rounding.
  const float t = timesteps[step];
  const float s = timesteps[step + 1];
  const float ratio = s / t;
  const float fraction = 1.0f - ratio;
  const float expected = static_cast<float>(n_masked) * fraction;
  return static_cast<int>(expected);
}

float dream_reveal_probability(const std::vector<float>& timesteps, int step) {
  const int steps = static_cast<int>(timesteps.size()) - 1;
  if (step >= steps - 1) return 1.0f;
  const float ratio = timesteps[step + 1] / timesteps[step];
  return 1.0f - ratio;
}

}  // namespace dllm

// How many masked positions each denoising step commits (LLaDA's even split, Dream's timesteps).
#pragma once

#include <vector>

namespace dllm {

// LLaDA get_num_transfer_tokens: `mask_count` masks over `steps` steps, mask_count // steps each
// and one more for the first mask_count % steps steps.
std::vector<int> llada_transfer_counts(int mask_count, int steps);

// torch.linspace(1, eps, steps + 1) in float32, with torch's CPU formula (the first half counts
// up from the start, the second half down from the end).
std::vector<float> dream_timesteps(int steps, float eps);

// Dream _sample: int(n_masked * (1 - s / t)) in float32 math for step `step` of `timesteps`;
// the last step commits every remaining mask.
int dream_transfer_count(int n_masked, const std::vector<float>& timesteps, int step);

// Dream alg='origin': the probability 1 - s / t (float32) that a mask is revealed; 1 at the end.
float dream_reveal_probability(const std::vector<float>& timesteps, int step);

}  // namespace dllm

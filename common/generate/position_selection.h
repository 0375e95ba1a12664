// Which masked positions a step commits: top-k, Fast-dLLM threshold, or Dream's alg_temp draw.
#pragma once

#include <span>
#include <vector>

#include "common/generate/token_sampling.h"

namespace dllm {

// Indices of the k largest confidences, best first. Ties go to the lower index: torch.topk on
// CPU leaves the order of equal values unspecified (std::nth_element / partial_sort over values
// only), so this is our documented choice; the golden runs are far from ties.
std::vector<int> select_top_k(std::span<const double> confidence, int k);

// The best index plus every index with confidence >= threshold (Fast-dLLM: at least one
// position per step, so a block always finishes).
std::vector<int> select_by_threshold(std::span<const double> confidence, double threshold);

// Dream alg_temp > 0: k indices drawn one after another without replacement with probability
// softmax(confidence / alg_temp), like torch.multinomial(..., replacement=False).
std::vector<int> sample_without_replacement(std::span<const double> confidence, int k,
                                            double alg_temp, SamplingRng& rng);

}  // namespace dllm

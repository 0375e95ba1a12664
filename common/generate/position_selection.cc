// Top-k, threshold and sampled selection of the positions a denoising step commits.
#include "common/generate/position_selection.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace dllm {

std::vector<int> select_top_k(std::span<const double> confidence, int k) {
  const int n = static_cast<int>(confidence.size());
  k = std::clamp(k, 0, n);
  std::vector<int> order(n);
  std::iota(order.begin(), order.end(), 0);
  auto better = [&](int a, int b) {
    return confidence[a] > confidence[b] || (confidence[a] == confidence[b] && a < b);
  };
  std::partial_sort(order.begin(), order.begin() + k, order.end(), better);
  order.resize(k);
  return order;
}

std::vector<int> select_by_threshold(std::span<const double> confidence, double threshold) {
  std::vector<int> chosen = select_top_k(confidence, 1);
  if (chosen.empty()) return chosen;
  for (int i = 0; i < static_cast<int>(confidence.size()); ++i) {
    if (i != chosen[0] && confidence[i] >= threshold) chosen.push_back(i);
  }
  return chosen;
}

std::vector<int> sample_without_replacement(std::span<const double> confidence, int k,
                                            double alg_temp, SamplingRng& rng) {
  const int n = static_cast<int>(confidence.size());
  k = std::clamp(k, 0, n);
  std::vector<double> weight(n);
  const double max = n > 0 ? *std::max_element(confidence.begin(), confidence.end()) : 0.0;
  for (int i = 0; i < n; ++i) weight[i] = std::exp((confidence[i] - max) / alg_temp);
  std::vector<int> chosen;
  while (static_cast<int>(chosen.size()) < k) {
    double total = 0.0;
    for (double w : weight) total += w;
    int pick = -1;
    if (total > 0.0) {
      const double target = rng.uniform() * total;
      double cumulative = 0.0;
      for (int i = 0; i < n; ++i) {
        if (weight[i] <= 0.0) continue;
        cumulative += weight[i];
        pick = i;
        if (cumulative > target) break;
      }
    }
    if (pick < 0) {  // every remaining weight underflowed: fall back to confidence order
      for (int i : select_top_k(confidence, n)) {
        if (std::find(chosen.begin(), chosen.end(), i) == chosen.end()) {
          pick = i;
          break;
        }
      }
    }
    chosen.push_back(pick);
    weight[pick] = 0.0;
  }
  return chosen;
}

}  // namespace dllm

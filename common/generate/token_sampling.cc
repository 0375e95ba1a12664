// LLaDA (Gumbel-max) and Dream (temperature / top-p / top-k) token choice, in float64.
#include "common/generate/token_sampling.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <vector>

namespace dllm {
namespace {

constexpr double kNegInf = -std::numeric_limits<double>::infinity();

int first_argmax(std::span<const double> values) {
  int best = 0;
  for (int i = 1; i < static_cast<int>(values.size()); ++i) {
    if (values[i] > values[best]) best = i;
  }
  return best;
}

// In place: values become softmax(values). Entries at -inf get probability 0.
void softmax_in_place(std::vector<double>& values) {
  const double max = *std::max_element(values.begin(), values.end());
  double sum = 0.0;
  for (double& v : values) {
    v = std::exp(v - max);
    sum += v;
  }
  for (double& v : values) v /= sum;
}

// Dream's top_p_logits: sort descending, drop every token after the cumulative probability has
// passed top_p (the token that crosses it stays).
void filter_top_p(std::vector<double>& logits, double top_p) {
  std::vector<int> order(logits.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return logits[a] > logits[b]; });
  std::vector<double> sorted(logits.size());
  for (size_t i = 0; i < order.size(); ++i) sorted[i] = logits[order[i]];
  softmax_in_place(sorted);
  double cumulative = 0.0;
  for (size_t i = 0; i < order.size(); ++i) {
    const bool remove = i > 0 && cumulative > top_p;
    cumulative += sorted[i];
    if (remove) logits[order[i]] = kNegInf;
  }
}

// Dream's top_k_logits: drop tokens strictly below the k-th largest logit (ties stay).
void filter_top_k(std::vector<double>& logits, int top_k) {
  if (top_k >= static_cast<int>(logits.size())) return;
  std::vector<double> copy = logits;
  std::nth_element(copy.begin(), copy.begin() + (top_k - 1), copy.end(), std::greater<double>());
  const double kth = copy[top_k - 1];
  for (double& v : logits) {
    if (v < kth) v = kNegInf;
  }
}

int sample_categorical(std::span<const double> probs, SamplingRng& rng) {
  const double target = rng.uniform();
  double cumulative = 0.0;
  int last_nonzero = 0;
  for (int i = 0; i < static_cast<int>(probs.size()); ++i) {
    if (probs[i] <= 0.0) continue;
    cumulative += probs[i];
    last_nonzero = i;
    if (cumulative > target) return i;
  }
  return last_nonzero;  // rounding left the total a hair below 1
}

}  // namespace

TokenChoice choose_llada_token(std::span<const float> logits, double temperature,
                               bool random_confidence, SamplingRng& rng) {
  TokenChoice choice;
  if (temperature > 0.0) {
    std::vector<double> scores(logits.begin(), logits.end());
    for (double& s : scores) s -= temperature * std::log(-std::log(rng.uniform()));
    choice.token = first_argmax(scores);
  } else {
    choice.token =
        static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
  }
  if (random_confidence) {
    choice.confidence = rng.uniform();
    return choice;
  }
  double max = logits[0];
  for (float l : logits) max = std::max(max, static_cast<double>(l));
  double sum = 0.0;
  for (float l : logits) sum += std::exp(static_cast<double>(l) - max);
  choice.confidence = std::exp(static_cast<double>(logits[choice.token]) - max) / sum;
  return choice;
}

TokenChoice choose_dream_token(std::span<const float> logits, const DreamSampling& sampling,
                               DreamScore score, SamplingRng& rng) {
  std::vector<double> probs(logits.begin(), logits.end());
  if (sampling.temperature > 0.0) {
    for (double& v : probs) v /= sampling.temperature;
  }
  if (sampling.top_p < 1.0) filter_top_p(probs, sampling.top_p);
  if (sampling.top_k > 0) filter_top_k(probs, sampling.top_k);
  softmax_in_place(probs);

  TokenChoice choice;
  choice.token = sampling.temperature > 0.0 ? sample_categorical(probs, rng) : first_argmax(probs);
  switch (score) {
    case DreamScore::kMaxProb:
      choice.confidence = probs[choice.token];
      break;
    case DreamScore::kMargin: {
      // top-1 minus top-2 of the distribution, whichever token was drawn.
      double top1 = kNegInf, top2 = kNegInf;
      for (double p : probs) {
        if (p > top1) {
          top2 = top1;
          top1 = p;
        } else if (p > top2) {
          top2 = p;
        }
      }
      choice.confidence = probs.size() > 1 ? top1 - top2 : top1;
      break;
    }
    case DreamScore::kNegEntropy: {
      double sum = 0.0;
      for (double p : probs) sum += p * std::log(p + 1e-10);
      choice.confidence = sum;
      break;
    }
  }
  return choice;
}

}  // namespace dllm

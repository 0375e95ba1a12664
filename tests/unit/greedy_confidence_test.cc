// The greedy reduction (CPU twin of the GPU kernel) equals the host samplers' greedy choice.
#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "common/generate/token_sampling.h"
#include "kernels/cpu/cpu_kernels.h"

namespace dllm {
namespace {

using kernels::ConfidenceKind;

TEST(GreedyConfidence, MatchesHostSamplersOnRandomLogits) {
  std::mt19937 rng(42);
  std::normal_distribution<float> n01(0.0f, 3.0f);
  SamplingRng unused(0);
  for (int vocab : {1, 2, 7, 512, 5000}) {
    for (int trial = 0; trial < 20; ++trial) {
      std::vector<float> logits(vocab);
      for (float& x : logits) x = n01(rng);
      if (vocab > 3 && trial % 5 == 0) logits[vocab - 1] = logits[1];  // a tie: first index wins
      const struct {
        ConfidenceKind kind;
        DreamScore score;
      } cases[] = {{ConfidenceKind::kMaxProb, DreamScore::kMaxProb},
                   {ConfidenceKind::kMargin, DreamScore::kMargin},
                   {ConfidenceKind::kNegEntropy, DreamScore::kNegEntropy}};
      for (const auto& c : cases) {
        int32_t id = -1;
        double conf = 0.0;
        kernels::cpu::greedy_confidence_row(logits.data(), vocab, c.kind, &id, &conf);
        const TokenChoice dream = choose_dream_token(logits, DreamSampling{}, c.score, unused);
        EXPECT_EQ(id, dream.token) << "vocab " << vocab;
        EXPECT_NEAR(conf, dream.confidence, 1e-12 * (1.0 + std::abs(dream.confidence)));
        if (c.kind == ConfidenceKind::kMaxProb) {
          const TokenChoice llada = choose_llada_token(logits, 0.0, false, unused);
          EXPECT_EQ(id, llada.token);
          EXPECT_NEAR(conf, llada.confidence, 1e-12);
        }
      }
    }
  }
}

}  // namespace
}  // namespace dllm

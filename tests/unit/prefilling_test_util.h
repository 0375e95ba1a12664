// Shared helpers of the prefilling tests: the golden tiny models, token runs, and brute-force
// references (separate full forwards, no cache, no page sharing).
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <numeric>
#include <string>
#include <vector>

#include "common/model/load_model.h"
#include "common/sparse/draft.h"
#include "kernels/backend.h"

namespace dllm::testing {

inline const std::string kGolden = DLLM_GOLDEN_DIR;
inline const std::string kLladaTiny = kGolden + "/llada-tiny/checkpoint";
inline const std::string kDreamTiny = kGolden + "/dream-tiny/checkpoint";
inline const std::string kBundledLlada = std::string(DLLM_SOURCE_DIR) + "/models/llada-tiny";
constexpr int32_t kLladaBos = 491;  // <|startoftext|> of models/llada-tiny (config has none)

// One model per checkpoint per test binary (the backend outlives it).
inline Transformer& tiny_model(const std::string& dir) {
  struct Loaded {
    std::unique_ptr<kernels::Backend> backend;
    std::unique_ptr<Transformer> model;
  };
  static std::vector<std::pair<std::string, Loaded>> loaded;
  for (auto& [d, l] : loaded)
    if (d == dir) return *l.model;
  Loaded l;
  l.backend = kernels::make_cpu_backend(2);
  auto model = load_transformer(dir, l.backend.get());
  EXPECT_TRUE(model.ok()) << model.status();
  l.model = std::move(*model);
  loaded.emplace_back(dir, std::move(l));
  return *loaded.back().second.model;
}

// Ordinary tokens (below every special id of the tiny models).
inline std::vector<int32_t> token_run(int n, uint64_t seed) {
  std::vector<int32_t> ids(n);
  uint64_t x = seed * 0x9e3779b97f4a7c15ull + 12345;
  for (int i = 0; i < n; ++i) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    ids[i] = static_cast<int32_t>(x % 480);
  }
  return ids;
}

inline std::vector<int32_t> cat(std::initializer_list<std::span<const int32_t>> parts) {
  std::vector<int32_t> out;
  for (auto p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

// log softmax(row)[token], float64, written out independently of the engine's.
inline double reference_log_prob(std::span<const float> row, int32_t token) {
  long double mx = row[0];
  for (float x : row) mx = std::max<long double>(mx, x);
  long double sum = 0;
  for (float x : row) sum += std::exp(static_cast<long double>(x) - mx);
  return static_cast<double>(row[token] - mx - std::log(sum));
}

inline std::vector<float> full_forward(Transformer& m, std::span<const int32_t> ids, bool causal,
                                       std::vector<int32_t> logit_rows) {
  std::vector<int32_t> pos(ids.size());
  std::iota(pos.begin(), pos.end(), 0);
  SequenceForward f{.ids = ids, .positions = pos, .causal = causal, .logit_rows = logit_rows};
  std::vector<std::vector<float>> out;
  EXPECT_TRUE(m.forward({&f, 1}, &out).ok());
  return out.empty() ? std::vector<float>{} : out[0];
}

// The chunk score the method defines, by brute force: one full causal forward per masked
// target (LLaDA) or one per chunk (Dream), over prefix + chunk + query + draft.
inline double brute_force_score(Transformer& m, std::span<const int32_t> prefix,
                                std::span<const int32_t> chunk, std::span<const int32_t> query,
                                const Draft& draft) {
  const std::vector<int32_t> seq = cat({prefix, chunk, query, draft.ids});
  const int base = static_cast<int>(prefix.size() + chunk.size());
  std::vector<int> targets;
  for (size_t i = 0; i < query.size(); ++i) targets.push_back(base + static_cast<int>(i));
  for (int s : draft.committed) targets.push_back(base + static_cast<int>(query.size()) + s);
  const int width = m.config().embedding_rows;
  double sum = 0.0;
  if (m.config().family == ModelFamily::kDream) {
    std::vector<int32_t> rows;
    for (int p : targets) rows.push_back(p - 1);
    const std::vector<float> logits = full_forward(m, seq, true, rows);
    for (size_t i = 0; i < targets.size(); ++i)
      sum += reference_log_prob(std::span<const float>(logits).subspan(i * width, width),
                                seq[targets[i]]);
  } else {
    for (int p : targets) {
      std::vector<int32_t> masked = seq;
      masked[p] = m.config().mask_token_id;
      const std::vector<float> logits = full_forward(m, masked, true, {p});
      sum += reference_log_prob(logits, seq[p]);
    }
  }
  return sum / static_cast<double>(targets.size());
}

// Slot `slot` of layer `layer`, K (or V) row as floats (f32 pool, CPU backend).
inline std::vector<float> read_kv_row(const kernels::KvView& view, int slot, int row_elems,
                                      bool k) {
  const float* base = static_cast<const float*>(k ? view.k : view.v);
  const float* p = base + view.row_offset(slot, row_elems);
  return std::vector<float>(p, p + row_elems);
}

}  // namespace dllm::testing

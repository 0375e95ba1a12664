// CUDA flash attention vs the CPU twin (and a float64 reference on small shapes): GQA groups,
// head dims, key masks, causal rows, split-KV over up to 70000 keys, NaN in masked K/V rows.
#include <cmath>
#include <limits>
#include <vector>

#include "tests/gpu/gpu_test_util.h"

namespace dllm::gpu_test {
namespace {

struct Case {
  int num_q, num_keys, kv_heads, group, head_dim;
  bool mask = false;        // random key mask (~20% masked)
  bool causal = false;      // random query positions
  bool nan_masked = false;  // masked keys' K/V rows hold NaN: they must not leak
  bool all_masked = false;
};

struct Inputs {
  std::vector<float> q, k, v;
  std::vector<uint8_t> mask;
  std::vector<int32_t> pos;
};

Inputs make_inputs(std::mt19937& rng, const Case& c) {
  const int heads = c.kv_heads * c.group;
  Inputs in;
  in.q = random_floats(rng, static_cast<size_t>(c.num_q) * heads * c.head_dim, -2.0f, 2.0f);
  in.k = random_floats(rng, static_cast<size_t>(c.num_keys) * c.kv_heads * c.head_dim, -2.0f, 2.0f);
  in.v = random_floats(rng, in.k.size());
  if (c.mask || c.all_masked) {
    std::bernoulli_distribution keep(0.8);
    in.mask.resize(c.num_keys);
    for (auto& m : in.mask) m = c.all_masked ? 0 : keep(rng) ? 1 : 0;
    if (c.nan_masked) {
      const size_t row = static_cast<size_t>(c.kv_heads) * c.head_dim;
      for (int j = 0; j < c.num_keys; ++j)
        if (!in.mask[j])
          for (size_t e = 0; e < row; ++e)
            in.k[j * row + e] = in.v[j * row + e] = std::numeric_limits<float>::quiet_NaN();
    }
  }
  if (c.causal) in.pos = random_ints(rng, c.num_q, 0, c.num_keys - 1);
  return in;
}

// softmax(q·kᵀ·scale)·v in double, zeros for a row with no visible key.
std::vector<float> reference(const Case& c, const Inputs& in, float scale) {
  const int heads = c.kv_heads * c.group, hd = c.head_dim;
  std::vector<float> out(static_cast<size_t>(c.num_q) * heads * hd, 0.0f);
  std::vector<double> s(c.num_keys);
  for (int i = 0; i < c.num_q; ++i)
    for (int h = 0; h < heads; ++h) {
      const int kvh = h / c.group;
      const float* q = in.q.data() + (static_cast<size_t>(i) * heads + h) * hd;
      double mx = -std::numeric_limits<double>::infinity();
      for (int j = 0; j < c.num_keys; ++j) {
        const bool vis = (in.mask.empty() || in.mask[j]) && (!c.causal || j <= in.pos[i]);
        if (!vis) {
          s[j] = -std::numeric_limits<double>::infinity();
          continue;
        }
        const float* k = in.k.data() + (static_cast<size_t>(j) * c.kv_heads + kvh) * hd;
        double dot = 0.0;
        for (int d = 0; d < hd; ++d) dot += static_cast<double>(q[d]) * k[d];
        s[j] = dot * scale;
        mx = std::max(mx, s[j]);
      }
      if (std::isinf(mx)) continue;
      double sum = 0.0;
      std::vector<double> acc(hd, 0.0);
      for (int j = 0; j < c.num_keys; ++j) {
        if (std::isinf(s[j])) continue;
        const double w = std::exp(s[j] - mx);
        sum += w;
        const float* v = in.v.data() + (static_cast<size_t>(j) * c.kv_heads + kvh) * hd;
        for (int d = 0; d < hd; ++d) acc[d] += w * v[d];
      }
      float* o = out.data() + (static_cast<size_t>(i) * heads + h) * hd;
      for (int d = 0; d < hd; ++d) o[d] = static_cast<float>(acc[d] / sum);
    }
  return out;
}

class AttentionTest : public CudaVsCpuTest {
 protected:
  // Returns {gpu, cpu} outputs.
  std::pair<std::vector<float>, std::vector<float>> run(const Case& c, const Inputs& in,
                                                        float scale) {
    const int heads = c.kv_heads * c.group;
    auto one = [&](Backend* b) {
      Buf<float> q(b, in.q), k(b, in.k), v(b, in.v);
      Buf<float> out(b, nan_vector(static_cast<size_t>(c.num_q) * heads * c.head_dim));
      Buf<uint8_t> mask(b, in.mask.empty() ? std::vector<uint8_t>{0} : in.mask);
      Buf<int32_t> pos(b, in.pos.empty() ? std::vector<int32_t>{0} : in.pos);
      kernels::AttentionParams p;
      p.q = q.get(), p.k = k.get(), p.v = v.get(), p.out = out.get();
      p.num_q = c.num_q, p.num_keys = c.num_keys, p.num_heads = heads;
      p.num_kv_heads = c.kv_heads, p.head_dim = c.head_dim, p.scale = scale;
      p.key_mask = in.mask.empty() ? nullptr : mask.get();
      p.causal = c.causal;
      p.q_positions = c.causal ? pos.get() : nullptr;
      b->attention(p);
      return out.to_host();
    };
    return {one(gpu()), one(cpu())};
  }
};

std::string describe(const Case& c) {
  return testing::PrintToString(std::vector<int>{c.num_q, c.num_keys, c.kv_heads, c.group,
                                                 c.head_dim, c.mask, c.causal, c.nan_masked,
                                                 c.all_masked});
}

TEST_F(AttentionTest, MatchesCpuTwinAcrossShapes) {
  const Case cases[] = {
      {1, 1, 1, 1, 16},
      {3, 2, 1, 4, 16},
      {5, 63, 2, 7, 64, true},
      {17, 64, 2, 1, 64},
      {33, 65, 1, 4, 128, false, true},
      {8, 1000, 4, 7, 128, true, false, true},
      {100, 300, 2, 4, 32, true, true},
      {7, 4097, 2, 1, 20},      // head_dim padded up to the 32 tier
      {6, 129, 1, 2, 6, true},  // head_dim not a multiple of 4: scalar loads
      {64, 2000, 4, 1, 128, false, true},
      {4, 5000, 2, 1, 16, false, true},               // causal + split-KV: late splits see no key
      {3, 100, 1, 1, 64, false, false, false, true},  // every key masked: zeros
      {32, 8192, 32, 1, 128},                         // LLaDA-8B decode step
      {8, 70000, 4, 7, 128, true, false, true},       // Dream-7B-like GQA over 70K keys
      {2, 70000, 1, 1, 64},
      {300, 777, 2, 4, 128, true, true},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(describe(c));
    const Inputs in = make_inputs(rng_, c);
    const float scale = 1.0f / std::sqrt(static_cast<float>(c.head_dim));
    const auto [g, ref] = run(c, in, scale);
    if (c.all_masked) {
      EXPECT_EQ(max_abs_diff(g, std::vector<float>(g.size(), 0.0f)), 0.0f);
      continue;
    }
    EXPECT_LT(rel_err(g, ref), 1e-4);
  }
}

TEST_F(AttentionTest, BothBackendsMatchFloat64Reference) {
  const Case cases[] = {
      {4, 50, 2, 4, 16, true, true}, {9, 700, 1, 7, 128, true}, {2, 3000, 2, 1, 64}};
  for (const Case& c : cases) {
    SCOPED_TRACE(describe(c));
    const Inputs in = make_inputs(rng_, c);
    const float scale = 0.125f;
    const auto [g, cpu_out] = run(c, in, scale);
    const std::vector<float> ref = reference(c, in, scale);
    EXPECT_LT(rel_err(g, ref), 1e-5);
    EXPECT_LT(rel_err(cpu_out, ref), 1e-5);
  }
}

}  // namespace
}  // namespace dllm::gpu_test

// CUDA attention vs the CPU twin (and a float64 reference on small shapes) over f32 and bf16 K/V
// caches, contiguous and paged (random page tables, pages 16 and 64): GQA groups, head dims, key
// masks, causal rows, split-KV over up to 70000 keys, NaN in masked and unused cache rows, and
// outputs poisoned with NaN so that an unwritten element fails.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>
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

// Where the K/V live: contiguous (page_size 0) or paged through a shuffled page table.
struct Layout {
  DType dtype = DType::kF32;
  int page_size = 0;
  int q_offset = 0;  // floats before q's first element (0: 16-byte aligned)
};

struct Inputs {
  std::vector<float> q, k, v;  // k, v: [num_keys, kv_heads, head_dim], as the cache holds them
  std::vector<uint8_t> mask;
  std::vector<int32_t> pos;
};

Inputs make_inputs(std::mt19937& rng, const Case& c, DType dtype) {
  const int heads = c.kv_heads * c.group;
  Inputs in;
  in.q = random_floats(rng, static_cast<size_t>(c.num_q) * heads * c.head_dim, -2.0f, 2.0f);
  in.k = random_floats(rng, static_cast<size_t>(c.num_keys) * c.kv_heads * c.head_dim, -2.0f, 2.0f);
  in.v = random_floats(rng, in.k.size());
  if (dtype == DType::kBF16)  // the values a bf16 cache can hold (the reference reads these)
    for (auto* vec : {&in.k, &in.v})
      for (float& x : *vec) x = kernels::cpu::bf16_to_f32(kernels::cpu::f32_to_bf16(x));
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

// The cache bytes both backends get: every slot no key occupies (unused pages, the last page's
// tail) holds NaN, so reading one fails the test.
struct HostCache {
  std::vector<uint8_t> k, v;
  std::vector<int32_t> page_table;  // empty: contiguous
};

HostCache make_cache(std::mt19937& rng, const Case& c, const Layout& lay, const Inputs& in) {
  const int64_t row = static_cast<int64_t>(c.kv_heads) * c.head_dim;
  const size_t esz = kernels::dtype_size(lay.dtype);
  HostCache cache;
  int64_t slots = c.num_keys;
  if (lay.page_size > 0) {
    const int used = (c.num_keys + lay.page_size - 1) / lay.page_size;
    const int pool_pages = used + used / 2 + 1;
    std::vector<int32_t> ids(pool_pages);
    std::iota(ids.begin(), ids.end(), 0);
    std::shuffle(ids.begin(), ids.end(), rng);
    cache.page_table.assign(ids.begin(), ids.begin() + used);
    slots = static_cast<int64_t>(pool_pages) * lay.page_size;
  }
  const size_t bytes = static_cast<size_t>(slots * row) * esz;
  cache.k.resize(bytes);
  cache.v.resize(bytes);
  const uint32_t nan32 = 0x7fc00000u;
  const uint16_t nan16 = 0x7fc0u;
  for (size_t i = 0; i < static_cast<size_t>(slots * row); ++i) {
    std::memcpy(cache.k.data() + i * esz, esz == 4 ? static_cast<const void*>(&nan32) : &nan16,
                esz);
    std::memcpy(cache.v.data() + i * esz, esz == 4 ? static_cast<const void*>(&nan32) : &nan16,
                esz);
  }
  for (int j = 0; j < c.num_keys; ++j) {
    const int64_t phys =
        lay.page_size == 0
            ? j
            : static_cast<int64_t>(cache.page_table[j / lay.page_size]) * lay.page_size +
                  j % lay.page_size;
    for (int64_t e = 0; e < row; ++e) {
      const size_t src = static_cast<size_t>(j * row + e),
                   dst = static_cast<size_t>(phys * row + e);
      if (lay.dtype == DType::kF32) {
        std::memcpy(cache.k.data() + dst * 4, &in.k[src], 4);
        std::memcpy(cache.v.data() + dst * 4, &in.v[src], 4);
      } else {
        const uint16_t kb = kernels::cpu::f32_to_bf16(in.k[src]);
        const uint16_t vb = kernels::cpu::f32_to_bf16(in.v[src]);
        std::memcpy(cache.k.data() + dst * 2, &kb, 2);
        std::memcpy(cache.v.data() + dst * 2, &vb, 2);
      }
    }
  }
  return cache;
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
  // Returns {gpu, cpu} outputs for the same cache bytes.
  std::pair<std::vector<float>, std::vector<float>> run(const Case& c, const Layout& lay,
                                                        const Inputs& in, float scale) {
    const int heads = c.kv_heads * c.group;
    const HostCache cache = make_cache(rng_, c, lay, in);
    std::vector<float> q(lay.q_offset, 0.0f);
    q.insert(q.end(), in.q.begin(), in.q.end());
    auto one = [&](Backend* b) {
      Buf<float> qb(b, q);
      Buf<uint8_t> k(b, cache.k), v(b, cache.v);
      Buf<int32_t> table(b, cache.page_table.empty() ? std::vector<int32_t>{0} : cache.page_table);
      Buf<float> out(b, nan_vector(static_cast<size_t>(c.num_q) * heads * c.head_dim));
      Buf<uint8_t> mask(b, in.mask.empty() ? std::vector<uint8_t>{0} : in.mask);
      Buf<int32_t> pos(b, in.pos.empty() ? std::vector<int32_t>{0} : in.pos);
      kernels::AttentionParams p;
      p.q = qb.get() + lay.q_offset, p.out = out.get();
      p.kv.k = k.get(), p.kv.v = v.get(), p.kv.dtype = lay.dtype;
      p.kv.page_table = lay.page_size > 0 ? table.get() : nullptr;
      p.kv.page_size = lay.page_size;
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

  // Every case against the CPU twin: all-masked cases must give exact zeros.
  void expect_matches_cpu(const std::vector<Case>& cases, const Layout& lay, double tol) {
    for (const Case& c : cases) {
      SCOPED_TRACE(describe(c, lay));
      const Inputs in = make_inputs(rng_, c, lay.dtype);
      const float scale = 1.0f / std::sqrt(static_cast<float>(c.head_dim));
      const auto [g, ref] = run(c, lay, in, scale);
      if (c.all_masked) {
        EXPECT_EQ(max_abs_diff(g, std::vector<float>(g.size(), 0.0f)), 0.0f);
        continue;
      }
      EXPECT_LT(rel_err(g, ref), tol);
    }
  }

  static std::string describe(const Case& c, const Layout& lay) {
    return testing::PrintToString(std::vector<int>{c.num_q, c.num_keys, c.kv_heads, c.group,
                                                   c.head_dim, c.mask, c.causal, c.nan_masked,
                                                   c.all_masked}) +
           " " + dtype_name(lay.dtype) + " page_size=" + std::to_string(lay.page_size) +
           " q_offset=" + std::to_string(lay.q_offset);
  }
};

// fp32 K/V (the golden-test path) stays within 1e-4 of the CPU twin.
TEST_F(AttentionTest, F32MatchesCpuTwinAcrossShapes) {
  const std::vector<Case> cases = {
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
  expect_matches_cpu(cases, Layout{DType::kF32, 0}, 1e-4);
}

TEST_F(AttentionTest, F32PagedMatchesCpuTwin) {
  const std::vector<Case> cases = {
      {1, 1, 1, 1, 16},
      {5, 63, 2, 7, 64, true, false, true},
      {33, 200, 1, 4, 128, false, true},
      {6, 129, 1, 2, 6, true},
      {8, 20000, 4, 4, 128, true, false, true},
      {4, 5000, 2, 1, 16, false, true},
  };
  for (int page : {16, 64}) expect_matches_cpu(cases, Layout{DType::kF32, page}, 1e-4);
}

// bf16 K/V: tensor cores (Q and P rounded to bf16) for head_dim % 8 == 0, the fp32 kernel
// otherwise; within 1e-2 of the CPU twin, which widens the same bf16 values.
const std::vector<Case>& bf16_cases() {
  static const std::vector<Case> cases = {
      {1, 1, 1, 1, 64},
      {3, 2, 1, 4, 128},
      {5, 63, 2, 4, 64, true},
      {17, 64, 2, 1, 64},
      {33, 65, 1, 4, 128, false, true},  // 132 query vectors: the prefill shape, one page
      {8, 1000, 4, 4, 128, true, false, true},
      {100, 300, 2, 4, 64, true, true},
      {32, 8192, 32, 1, 128},                    // LLaDA-8B decode step
      {8, 70000, 4, 4, 128, true, false, true},  // GQA decode over 70K keys, split
      {32, 70000, 2, 4, 128, true},              // 128 vectors per KV head: prefill shape, split
      {2, 70000, 1, 1, 64},
      {300, 777, 2, 4, 128, true, true},
      {256, 2048, 4, 1, 128, false, true},
      {4, 5000, 2, 1, 64, false, true},               // causal + split-KV: late splits see no key
      {3, 100, 1, 1, 64, false, false, false, true},  // every key masked: zeros
      {9, 500, 2, 2, 16},                             // the golden models' head_dim, padded to 64
      {9, 500, 2, 2, 24, true},                       // padded to 64
      {9, 500, 2, 2, 96, false, true},                // padded to 128
      {6, 129, 1, 2, 20, true},                       // head_dim % 8 != 0: the fp32 kernel
      {6, 129, 1, 2, 6, false, true},
  };
  return cases;
}

TEST_F(AttentionTest, Bf16PagedMatchesCpuTwin) {
  for (int page : {16, 64}) expect_matches_cpu(bf16_cases(), Layout{DType::kBF16, page}, 1e-2);
}

TEST_F(AttentionTest, Bf16ContiguousMatchesCpuTwin) {
  const std::vector<Case> cases = {
      {16, 3000, 2, 4, 128, true}, {40, 1000, 2, 1, 64, false, true}, {6, 129, 1, 2, 20, true}};
  expect_matches_cpu(cases, Layout{DType::kBF16, 0}, 1e-2);
}

TEST_F(AttentionTest, Bf16UnalignedQueriesMatchCpuTwin) {
  const std::vector<Case> cases = {{5, 300, 2, 4, 128, true}, {70, 100, 1, 1, 64, false, true}};
  expect_matches_cpu(cases, Layout{DType::kBF16, 16, 1}, 1e-2);
}

TEST_F(AttentionTest, BothBackendsMatchFloat64Reference) {
  struct Ref {
    Case c;
    Layout lay;
    double gpu_tol;
  };
  const Ref refs[] = {
      {{4, 50, 2, 4, 16, true, true}, {DType::kF32, 0}, 1e-5},
      {{9, 700, 1, 7, 128, true}, {DType::kF32, 16}, 1e-5},
      {{2, 3000, 2, 1, 64}, {DType::kF32, 64}, 1e-5},
      {{4, 50, 2, 4, 64, true, true}, {DType::kBF16, 16}, 1e-2},
      {{9, 700, 1, 7, 128, true}, {DType::kBF16, 64}, 1e-2},
      {{130, 3000, 2, 1, 128, false, true}, {DType::kBF16, 64}, 1e-2},
  };
  for (const Ref& r : refs) {
    SCOPED_TRACE(AttentionTest::describe(r.c, r.lay));
    const Inputs in = make_inputs(rng_, r.c, r.lay.dtype);
    const float scale = 0.125f;
    const auto [g, cpu_out] = run(r.c, r.lay, in, scale);
    const std::vector<float> ref = reference(r.c, in, scale);
    EXPECT_LT(rel_err(g, ref), r.gpu_tol);
    EXPECT_LT(rel_err(cpu_out, ref), 1e-5);
  }
}

}  // namespace
}  // namespace dllm::gpu_test

// Focus-dLLM kernels, CUDA vs the CPU twins and float64 references on fresh random inputs at
// several shapes: attention mass per key, block keys and scores, sink and block selection (equal
// to the CPU's), sparse attention over block / token / response segments with device counts,
// and the instrumentation sums. Outputs start poisoned so that an unwritten element fails.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <set>
#include <span>
#include <vector>

#include "common/sparse/focus_attention.h"
#include "kernels/cpu/focus_kernels.h"
#include "kernels/cuda/cuda_kernels.h"
#include "tests/gpu/gpu_test_util.h"

namespace dllm::gpu_test {
namespace {

using kernels::KvView;
using FocusKernelTest = CudaVsCpuTest;

constexpr int32_t kPoison = 0x7eadbeef;

// TwinKv with random bytes and its K and V also unpaged on the host, for the references.
struct UnpackedKv : TwinKv {
  UnpackedKv(Backend* gpu, Backend* cpu, std::mt19937& rng, DType dt, int n_slots, int elems,
             int page)
      : TwinKv(gpu, cpu, rng, dt, n_slots, elems, page, /*spare_pages=*/2,
               [&](size_t n) { return random_weight_bytes(rng, n, dt, 1.0f); }),
        k_rows(unpaged(k_host)),
        v_rows(unpaged(v_host)) {}
  // Element e of a slot's row (KV head h at h * head_dim) as a double, from the host bytes.
  double at(bool k, int slot, int64_t e) const {
    return (k ? k_rows : v_rows)[static_cast<size_t>(slot) * row_elems + e];
  }

  std::vector<float> k_rows, v_rows;  // [slots][row_elems], unpaged
};

struct Shape {
  int num_q, heads, kv_heads, head_dim, page;
  DType dtype;
};

const Shape kShapes[] = {
    {1, 2, 1, 16, 0, DType::kF32},      {3, 4, 2, 64, 16, DType::kBF16},
    {5, 8, 8, 128, 64, DType::kBF16},   {4, 8, 2, 128, 32, DType::kF32},
    {2, 32, 32, 128, 64, DType::kBF16},
};

std::string describe(const Shape& s, int keys) {
  return testing::PrintToString(s.num_q) + "q " + testing::PrintToString(s.heads) + "h/" +
         testing::PrintToString(s.kv_heads) + " hd" + testing::PrintToString(s.head_dim) + " page" +
         testing::PrintToString(s.page) + " " + dtype_name(s.dtype) + " keys" +
         testing::PrintToString(keys);
}

std::vector<uint8_t> random_mask(std::mt19937& rng, int n, double hidden) {
  std::bernoulli_distribution hide(hidden);
  std::vector<uint8_t> m(n);
  for (uint8_t& x : m) x = hide(rng) ? 0 : 1;
  return m;
}

// Scores with many exact ties (a few distinct values) or all distinct.
std::vector<float> tied_scores(std::mt19937& rng, int n, bool ties) {
  std::vector<float> v = random_floats(rng, n, -3.0f, 3.0f);
  if (ties)
    for (float& x : v) x = std::round(x * 2.0f) / 2.0f;
  return v;
}

TEST_F(FocusKernelTest, AttentionMassMatchesCpuAndFloat64) {
  for (const Shape& s : kShapes) {
    for (int keys : {37, 700, 3000}) {
      SCOPED_TRACE(describe(s, keys));
      const int elems = s.kv_heads * s.head_dim;
      UnpackedKv kv(gpu(), cpu(), rng_, s.dtype, keys, elems, s.page);
      const std::vector<float> q = random_floats(rng_, size_t(s.num_q) * s.heads * s.head_dim);
      const std::vector<uint8_t> mask = random_mask(rng_, keys, 0.2);
      const float scale = 1.0f / std::sqrt(float(s.head_dim));
      Buf<float> gq(gpu(), q), cq(cpu(), q);
      Buf<uint8_t> gm(gpu(), mask), cm(cpu(), mask);
      Buf<float> gout(gpu(), nan_vector(keys)), cout(cpu(), nan_vector(keys));
      auto params = [&](bool on_gpu) {
        return kernels::AttentionMassParams{.q = (on_gpu ? gq : cq).get(),
                                            .kv = kv.view(on_gpu),
                                            .num_q = s.num_q,
                                            .num_keys = keys,
                                            .num_heads = s.heads,
                                            .num_kv_heads = s.kv_heads,
                                            .head_dim = s.head_dim,
                                            .scale = scale,
                                            .key_mask = (on_gpu ? gm : cm).get(),
                                            .out = (on_gpu ? gout : cout).get()};
      };
      gpu()->attention_mass_per_key(params(true));
      cpu()->attention_mass_per_key(params(false));
      const std::vector<float> g = gout.to_host(), c = cout.to_host();
      // float64 reference.
      std::vector<float> ref(keys, 0.0f);
      std::vector<double> mass(keys, 0.0), sc(keys);
      const int group = s.heads / s.kv_heads;
      for (int r = 0; r < s.num_q; ++r)
        for (int h = 0; h < s.heads; ++h) {
          double mx = -INFINITY;
          for (int j = 0; j < keys; ++j) {
            if (!mask[j]) continue;
            double d = 0.0;
            for (int e = 0; e < s.head_dim; ++e)
              d += double(q[(size_t(r) * s.heads + h) * s.head_dim + e]) *
                   kv.at(true, j, int64_t(h / group) * s.head_dim + e);
            sc[j] = d * scale;
            mx = std::max(mx, sc[j]);
          }
          double sum = 0.0;
          for (int j = 0; j < keys; ++j)
            if (mask[j]) sum += std::exp(sc[j] - mx);
          for (int j = 0; j < keys; ++j)
            if (mask[j]) mass[j] += std::exp(sc[j] - mx) / sum;
        }
      for (int j = 0; j < keys; ++j) ref[j] = float(mass[j] / (double(s.num_q) * s.heads));
      // float32 on the GPU, float64 in the CPU twin.
      EXPECT_LT(rel_err(g, ref), 2e-5);
      EXPECT_LT(rel_err(g, c), 2e-5);
      for (int j = 0; j < keys; ++j) {
        if (!mask[j]) {
          ASSERT_EQ(g[j], 0.0f) << "masked key " << j;
        }
      }
    }
  }
}

TEST_F(FocusKernelTest, BlockKeysAndScoresMatchCpuExactly) {
  for (const Shape& s : kShapes) {
    for (int slots : {1, 63, 1000}) {
      for (int block : {8, 64}) {
        SCOPED_TRACE(describe(s, slots) + " block" + testing::PrintToString(block));
        const int elems = s.kv_heads * s.head_dim;
        const int nb = (slots + block - 1) / block;
        UnpackedKv kv(gpu(), cpu(), rng_, s.dtype, slots, elems, s.page);
        Buf<float> gk(gpu(), nan_vector(size_t(nb) * elems)),
            ck(cpu(), nan_vector(size_t(nb) * elems));
        auto key_params = [&](bool on_gpu) {
          return kernels::BlockKeyParams{.kv = kv.view(on_gpu),
                                         .num_slots = slots,
                                         .block_size = block,
                                         .num_kv_heads = s.kv_heads,
                                         .head_dim = s.head_dim,
                                         .out = (on_gpu ? gk : ck).get()};
        };
        gpu()->block_representative_keys(key_params(true));
        cpu()->block_representative_keys(key_params(false));
        const std::vector<float> g = gk.to_host(), c = ck.to_host();
        ASSERT_EQ(g, c);  // float64 sums in the same order: bit for bit
        // float64 reference of one block's mean.
        std::vector<float> ref(size_t(nb) * elems);
        for (int b = 0; b < nb; ++b)
          for (int e = 0; e < elems; ++e) {
            double sum = 0.0;
            const int end = std::min(slots, (b + 1) * block);
            for (int t = b * block; t < end; ++t) sum += kv.at(true, t, e);
            ref[size_t(b) * elems + e] = float(sum / (end - b * block));
          }
        EXPECT_LT(rel_err(g, ref), 1e-7);

        // Scores of those keys against random focus rows (some repeated, out of order).
        const int total_q = s.num_q + 3;
        const std::vector<float> q = random_floats(rng_, size_t(total_q) * s.heads * s.head_dim);
        for (int num_rows : {0, 1, 3}) {
          const std::vector<int32_t> rows = random_ints(rng_, num_rows, 0, total_q - 1);
          Buf<float> gq(gpu(), q), cq(cpu(), q);
          Buf<int32_t> gr(gpu(), rows), cr(cpu(), rows);
          Buf<float> gs(gpu(), nan_vector(nb)), cs(cpu(), nan_vector(nb));
          const float scale = 1.0f / std::sqrt(float(s.head_dim));
          auto score_params = [&](bool on_gpu) {
            return kernels::BlockScoreParams{.q = (on_gpu ? gq : cq).get(),
                                             .rows = (on_gpu ? gr : cr).get(),
                                             .num_rows = num_rows,
                                             .block_keys = (on_gpu ? gk : ck).get(),
                                             .num_blocks = nb,
                                             .num_heads = s.heads,
                                             .num_kv_heads = s.kv_heads,
                                             .head_dim = s.head_dim,
                                             .scale = scale,
                                             .out = (on_gpu ? gs : cs).get()};
          };
          gpu()->block_scores(score_params(true));
          cpu()->block_scores(score_params(false));
          const std::vector<float> gsc = gs.to_host(), csc = cs.to_host();
          for (int b = 0; b < nb; ++b) {
            if (num_rows == 0) {
              ASSERT_TRUE(std::isinf(gsc[b]) && gsc[b] < 0) << b;
            } else {
              ASSERT_TRUE(std::isfinite(gsc[b])) << b;
            }
            ASSERT_EQ(std::memcmp(&gsc[b], &csc[b], 4), 0) << "block " << b << " rows " << num_rows;
          }
        }
      }
    }
  }
}

TEST_F(FocusKernelTest, SinkSelectionEqualsCpu) {
  int compared = 0;
  for (int len : {0, 1, 5, 1000, 40000}) {
    for (int count : {0, 1, 7, 64, 2048, 50000}) {
      for (bool ties : {false, true}) {
        SCOPED_TRACE(testing::Message() << "len " << len << " count " << count << " ties " << ties);
        std::vector<float> scores = tied_scores(rng_, len + 3, ties);  // 3 beyond len: ignored
        if (len > 2 && !ties) scores[1] = -0.0f, scores[2] = 0.0f;     // −0 ties +0
        const std::vector<int32_t> expect = choose_sinks(scores, len, count);
        const int cap = std::max(1, std::min(count, len));
        Buf<float> gsc(gpu(), scores);
        Buf<int32_t> gs(gpu(), std::vector<int32_t>(cap, kPoison));
        Buf<int32_t> gn(gpu(), std::vector<int32_t>{kPoison});
        gpu()->select_sinks({.scores = gsc.get(),
                             .len = len,
                             .count = count,
                             .sinks = gs.get(),
                             .num_sinks = gn.get()});
        const int n = gn.to_host()[0];
        ASSERT_EQ(n, static_cast<int>(expect.size()));
        std::vector<int32_t> got = gs.to_host();
        got.resize(n);
        EXPECT_EQ(got, expect);
        ++compared;
      }
    }
  }
  EXPECT_EQ(compared, 60);
}

TEST_F(FocusKernelTest, BlockSelectionEqualsCpu) {
  int compared = 0;
  for (int prompt : {0, 7, 64, 1000, 32768, 100003}) {
    for (int block : {8, 64}) {
      const int nb = (prompt + block - 1) / block;
      if (nb > kernels::cuda::kMaxFocusBlocks) continue;
      for (int num_sinks : {0, 4, 64}) {
        for (int budget : {0, 5, 100, 2048, 1 << 20}) {
          for (bool ties : {false, true}) {
            SCOPED_TRACE(testing::Message()
                         << "prompt " << prompt << " block " << block << " sinks " << num_sinks
                         << " budget " << budget << " ties " << ties);
            const std::vector<float> scores = tied_scores(rng_, nb, ties);
            std::set<int32_t> sink_set;
            while (static_cast<int>(sink_set.size()) < std::min(num_sinks, prompt))
              sink_set.insert(random_ints(rng_, 1, 0, prompt - 1)[0]);
            const std::vector<int32_t> sinks(sink_set.begin(), sink_set.end());
            const int ns = static_cast<int>(sinks.size());
            std::vector<int32_t> cb(std::max(1, nb)), ct(std::max(1, ns));
            int32_t cc[2] = {kPoison, kPoison};
            kernels::cpu::select_blocks({.scores = scores.data(),
                                         .num_blocks = nb,
                                         .block_size = block,
                                         .prompt_len = prompt,
                                         .budget = budget,
                                         .sinks = sinks.data(),
                                         .num_sinks = &ns,
                                         .blocks = cb.data(),
                                         .tokens = ct.data(),
                                         .counts = cc});
            // The CPU kernel's blocks are the documented rule's.
            const int used = std::min(ns, budget);
            ASSERT_EQ(std::vector<int32_t>(cb.begin(), cb.begin() + cc[0]),
                      choose_blocks(scores, std::span(sinks).first(used), block, prompt, budget));
            Buf<float> gsc(gpu(), scores);
            Buf<int32_t> gsk(gpu(), sinks), gns(gpu(), std::vector<int32_t>{ns});
            Buf<int32_t> gb(gpu(), std::vector<int32_t>(std::max(1, nb), kPoison));
            Buf<int32_t> gt(gpu(), std::vector<int32_t>(std::max(1, ns), kPoison));
            Buf<int32_t> gc(gpu(), std::vector<int32_t>{kPoison, kPoison});
            gpu()->select_blocks({.scores = gsc.get(),
                                  .num_blocks = nb,
                                  .block_size = block,
                                  .prompt_len = prompt,
                                  .budget = budget,
                                  .sinks = gsk.get(),
                                  .num_sinks = gns.get(),
                                  .blocks = gb.get(),
                                  .tokens = gt.get(),
                                  .counts = gc.get()});
            const std::vector<int32_t> counts = gc.to_host();
            ASSERT_EQ(counts[0], cc[0]);
            ASSERT_EQ(counts[1], cc[1]);
            const std::vector<int32_t> blocks = gb.to_host(), tokens = gt.to_host();
            EXPECT_TRUE(std::equal(cb.begin(), cb.begin() + cc[0], blocks.begin()));
            EXPECT_TRUE(std::equal(ct.begin(), ct.begin() + cc[1], tokens.begin()));
            ++compared;
          }
        }
      }
    }
  }
  EXPECT_GT(compared, 300);
}

// A random selection: ascending blocks, sinks outside them, and the response range.
struct Selection {
  std::vector<int32_t> blocks, tokens;
  int prompt, response_end;
};

Selection random_selection(std::mt19937& rng, int prompt, int response, int block,
                           double keep_blocks) {
  Selection s{.prompt = prompt, .response_end = prompt + response};
  const int nb = (prompt + block - 1) / block;
  std::bernoulli_distribution keep(keep_blocks), sink(0.05);
  for (int b = 0; b < nb; ++b)
    if (keep(rng)) s.blocks.push_back(b);
  for (int t = 0; t < prompt; ++t)
    if (!std::binary_search(s.blocks.begin(), s.blocks.end(), t / block) && sink(rng))
      s.tokens.push_back(t);
  return s;
}

// float64 attention of every row and head over the kept slots.
std::vector<float> reference_attention(const UnpackedKv& kv, const std::vector<float>& q, int num_q,
                                       int heads, int kv_heads, int hd, float scale,
                                       const std::vector<int>& slots) {
  std::vector<float> out(size_t(num_q) * heads * hd, 0.0f);
  const int group = heads / kv_heads;
  std::vector<double> p(slots.size());
  for (int i = 0; i < num_q; ++i)
    for (int h = 0; h < heads; ++h) {
      const int64_t base = int64_t(h / group) * hd;
      double mx = -INFINITY;
      for (size_t j = 0; j < slots.size(); ++j) {
        double d = 0.0;
        for (int e = 0; e < hd; ++e)
          d += double(q[(size_t(i) * heads + h) * hd + e]) * kv.at(true, slots[j], base + e);
        p[j] = d * scale;
        mx = std::max(mx, p[j]);
      }
      double sum = 0.0;
      for (double& x : p) sum += x = std::exp(x - mx);
      for (int e = 0; e < hd; ++e) {
        double acc = 0.0;
        for (size_t j = 0; j < slots.size(); ++j) acc += p[j] * kv.at(false, slots[j], base + e);
        out[(size_t(i) * heads + h) * hd + e] = slots.empty() ? 0.0f : float(acc / sum);
      }
    }
  return out;
}

TEST_F(FocusKernelTest, SparseAttentionMatchesFloat64AndCpu) {
  struct Case {
    int prompt, response, block;
    double keep;
  };
  for (const Shape& s : kShapes) {
    for (const Case& k : {Case{100, 10, 8, 0.3}, Case{2000, 40, 64, 0.5}, Case{4100, 7, 16, 0.9},
                          Case{300, 0, 64, 1.0}, Case{50, 30, 8, 0.0}}) {
      SCOPED_TRACE(describe(s, k.prompt + k.response) + " block" + testing::PrintToString(k.block) +
                   " keep" + testing::PrintToString(k.keep));
      const int keys = k.prompt + k.response, elems = s.kv_heads * s.head_dim;
      UnpackedKv kv(gpu(), cpu(), rng_, s.dtype, keys, elems, s.page);
      const Selection sel = random_selection(rng_, k.prompt, k.response, k.block, k.keep);
      const std::vector<float> q = random_floats(rng_, size_t(s.num_q) * s.heads * s.head_dim);
      const float scale = 1.0f / std::sqrt(float(s.head_dim));
      std::vector<int> slots;
      for (int b : sel.blocks)
        for (int t = b * k.block; t < std::min(k.prompt, (b + 1) * k.block); ++t)
          slots.push_back(t);
      slots.insert(slots.end(), sel.tokens.begin(), sel.tokens.end());
      for (int t = k.prompt; t < keys; ++t) slots.push_back(t);
      const std::vector<float> ref =
          reference_attention(kv, q, s.num_q, s.heads, s.kv_heads, s.head_dim, scale, slots);
      // Device counts with looser upper bounds (as focus passes them).
      const std::vector<int32_t> counts = {int32_t(sel.blocks.size()), int32_t(sel.tokens.size())};
      std::vector<int32_t> blocks = sel.blocks, tokens = sel.tokens;
      blocks.resize(blocks.size() + 3, kPoison);
      tokens.resize(tokens.size() + 2, kPoison);
      const size_t out_n = size_t(s.num_q) * s.heads * s.head_dim;
      Buf<float> gq(gpu(), q), cq(cpu(), q);
      Buf<int32_t> gb(gpu(), blocks), cb(cpu(), blocks), gt(gpu(), tokens), ct(cpu(), tokens);
      Buf<int32_t> gc(gpu(), counts), cc(cpu(), counts);
      Buf<float> gout(gpu(), nan_vector(out_n)), cout(cpu(), nan_vector(out_n));
      auto params = [&](bool on_gpu) {
        return kernels::SparseAttentionParams{.q = (on_gpu ? gq : cq).get(),
                                              .kv = kv.view(on_gpu),
                                              .out = (on_gpu ? gout : cout).get(),
                                              .num_q = s.num_q,
                                              .num_heads = s.heads,
                                              .num_kv_heads = s.kv_heads,
                                              .head_dim = s.head_dim,
                                              .scale = scale,
                                              .blocks = (on_gpu ? gb : cb).get(),
                                              .num_blocks = static_cast<int>(blocks.size()),
                                              .block_size = k.block,
                                              .prompt_len = k.prompt,
                                              .tokens = (on_gpu ? gt : ct).get(),
                                              .num_tokens = static_cast<int>(tokens.size()),
                                              .response_begin = k.prompt,
                                              .response_end = keys,
                                              .counts = (on_gpu ? gc : cc).get()};
      };
      gpu()->sparse_attention(params(true));
      cpu()->sparse_attention(params(false));
      const std::vector<float> g = gout.to_host(), c = cout.to_host();
      // bf16 K/V: the tensor-core kernel rounds Q and P to bf16 as well.
      const double tol = s.dtype == DType::kBF16 ? 1e-2 : 1e-5;
      if (slots.empty()) {
        EXPECT_EQ(max_abs_diff(g, ref), 0.0f);  // no key: zeros, as the CPU
      } else {
        EXPECT_LT(rel_err(g, ref), tol);
        EXPECT_LT(rel_err(c, ref), 1e-5);
      }
    }
  }
}

// Few rows over many kept keys (the decode shape): the plan splits the keys; splits past the
// device counts find nothing and the merge must ignore them.
TEST_F(FocusKernelTest, SparseAttentionSplitsOverManyKeysAndMatchesDense) {
  for (DType dt : {DType::kBF16, DType::kF32}) {
    SCOPED_TRACE(dtype_name(dt));
    const int heads = 8, kv_heads = 8, hd = 128, num_q = 2, prompt = 16384, response = 64;
    const int keys = prompt + response, block = 64, elems = kv_heads * hd;
    UnpackedKv kv(gpu(), cpu(), rng_, dt, keys, elems, 64);
    const std::vector<float> q = random_floats(rng_, size_t(num_q) * heads * hd, -3.0f, 3.0f);
    const float scale = 1.0f / std::sqrt(float(hd));
    const size_t out_n = size_t(num_q) * heads * hd;
    Buf<float> gq(gpu(), q);
    // Every block kept: equals the dense kernel over all keys.
    std::vector<int32_t> all(prompt / block);
    std::iota(all.begin(), all.end(), 0);
    Buf<int32_t> gb(gpu(), all), gt(gpu(), std::vector<int32_t>{kPoison});
    Buf<int32_t> gc(gpu(), std::vector<int32_t>{int32_t(all.size()), 0});
    Buf<float> sparse(gpu(), nan_vector(out_n)), dense(gpu(), nan_vector(out_n));
    kernels::SparseAttentionParams p{.q = gq.get(),
                                     .kv = kv.view(true),
                                     .out = sparse.get(),
                                     .num_q = num_q,
                                     .num_heads = heads,
                                     .num_kv_heads = kv_heads,
                                     .head_dim = hd,
                                     .scale = scale,
                                     .blocks = gb.get(),
                                     .num_blocks = int(all.size()),
                                     .block_size = block,
                                     .prompt_len = prompt,
                                     .tokens = gt.get(),
                                     .num_tokens = 1,
                                     .response_begin = prompt,
                                     .response_end = keys,
                                     .counts = gc.get()};
    gpu()->sparse_attention(p);
    gpu()->attention({.q = gq.get(),
                      .kv = kv.view(true),
                      .out = dense.get(),
                      .num_q = num_q,
                      .num_keys = keys,
                      .num_heads = heads,
                      .num_kv_heads = kv_heads,
                      .head_dim = hd,
                      .scale = scale});
    const std::vector<float> s_all = sparse.to_host(), d_all = dense.to_host();
    EXPECT_LT(rel_err(s_all, d_all), dt == DType::kF32 ? 1e-6 : 5e-3);
    // Only 3 blocks counted out of the 256 the bound allows: most splits are empty.
    Buf<int32_t> gc3(gpu(), std::vector<int32_t>{3, 0});
    Buf<float> few(gpu(), nan_vector(out_n));
    p.counts = gc3.get();
    p.out = few.get();
    gpu()->sparse_attention(p);
    std::vector<int> slots;
    for (int t = 0; t < 3 * block; ++t) slots.push_back(t);
    for (int t = prompt; t < keys; ++t) slots.push_back(t);
    const std::vector<float> ref =
        reference_attention(kv, q, num_q, heads, kv_heads, hd, scale, slots);
    EXPECT_LT(rel_err(few.to_host(), ref), dt == DType::kF32 ? 1e-5 : 1e-2);
  }
}

TEST_F(FocusKernelTest, StatsMatchCpu) {
  for (int keys : {10, 5000}) {
    const int prompt = keys * 3 / 4, block = 8;
    std::vector<float> mass = random_floats(rng_, keys, 0.0f, 1.0f);
    const Selection sel = random_selection(rng_, prompt, keys - prompt, block, 0.4);
    const std::vector<int32_t> counts = {int32_t(sel.blocks.size()), int32_t(sel.tokens.size())};
    const std::vector<int32_t> sinks = {1, 4, 5, 9}, previous = {0, 4, 9};
    const std::vector<int32_t> ns = {4}, np = {3};
    auto run = [&](Backend* b) {
      Buf<float> m(b, mass);
      Buf<int32_t> bl(b, sel.blocks.empty() ? std::vector<int32_t>{0} : sel.blocks);
      Buf<int32_t> tk(b, sel.tokens.empty() ? std::vector<int32_t>{0} : sel.tokens);
      Buf<int32_t> c(b, counts), s(b, sinks), pv(b, previous), n(b, ns), pn(b, np);
      Buf<double> st(b, std::vector<double>{0.5, 1.0, 0.25, 1.0});
      b->accumulate_focus_stats({.sinks = s.get(),
                                 .num_sinks = n.get(),
                                 .previous = pv.get(),
                                 .num_previous = pn.get(),
                                 .mass = m.get(),
                                 .num_keys = keys,
                                 .prompt_len = prompt,
                                 .block_size = block,
                                 .blocks = bl.get(),
                                 .tokens = tk.get(),
                                 .counts = c.get(),
                                 .stats = st.get()});
      return st.to_host();
    };
    const std::vector<double> g = run(gpu()), c = run(cpu());
    EXPECT_DOUBLE_EQ(g[0], 0.5 + 0.5);  // {4, 9} of 4 sinks
    EXPECT_EQ(g[1], 2.0);
    EXPECT_NEAR(g[2], c[2], 1e-12);
    EXPECT_EQ(g[3], 2.0);
    EXPECT_EQ(c[0], g[0]);
  }
}

}  // namespace
}  // namespace dllm::gpu_test

// Prefilling-dLLM kernels, CUDA vs the CPU twins on fresh random inputs: K/V re-rotation into a
// paged cache, attention mass per key, token selection (sum, max-pool, top-capacity) and target
// log-probabilities. Outputs start poisoned so that an unwritten element fails.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <vector>

#include "kernels/cpu/prefilling_kernels.h"
#include "tests/gpu/gpu_test_util.h"

namespace dllm::gpu_test {
namespace {

using kernels::KvView;
using PrefillingKernelTest = CudaVsCpuTest;

// TwinKv with random bytes, or all NaN (`poison`: a destination every unwritten element of
// which shows), and 3 spare pages.
struct PrefillKv : TwinKv {
  PrefillKv(Backend* gpu, Backend* cpu, std::mt19937& rng, DType dt, int n_slots, int elems,
            int page, bool poison)
      : TwinKv(gpu, cpu, rng, dt, n_slots, elems, page, /*spare_pages=*/3, [&](size_t n) {
          return poison ? nan_bytes(n, dt) : random_weight_bytes(rng, n, dt, 2.0f);
        }) {}
  static std::vector<uint8_t> nan_bytes(size_t n, DType dt) {
    std::vector<uint8_t> bytes(n * kernels::dtype_size(dt));
    for (size_t i = 0; i < n; ++i) {
      if (dt == DType::kF32) {
        const float nan = std::numeric_limits<float>::quiet_NaN();
        std::memcpy(bytes.data() + 4 * i, &nan, 4);
      } else {
        const uint16_t nan = 0x7fc0;
        std::memcpy(bytes.data() + 2 * i, &nan, 2);
      }
    }
    return bytes;
  }
  // K or V of one backend as floats, with the element index of (slot, e) at slot * row_elems + e.
  std::vector<float> rows(bool on_gpu, bool k) const {
    return unpaged((on_gpu ? (k ? gk : gv) : (k ? ck : cv))->to_host());
  }
};

std::vector<float> inv_freq_of(int head_dim, double theta) {
  std::vector<float> inv(head_dim / 2);
  for (int j = 0; j < head_dim / 2; ++j)
    inv[j] = static_cast<float>(1.0 / std::pow(theta, 2.0 * j / head_dim));
  return inv;
}

// Elements of (slot, head) cells that `written` marks, in order.
std::vector<float> pick(const std::vector<float>& all, const std::vector<uint8_t>& written,
                        int head_dim) {
  std::vector<float> out;
  for (size_t cell = 0; cell < written.size(); ++cell)
    if (written[cell])
      out.insert(out.end(), all.begin() + cell * head_dim, all.begin() + (cell + 1) * head_dim);
  return out;
}

TEST_F(PrefillingKernelTest, RerotateMatchesCpuEveryDtypeAndLayout) {
  struct Shape {
    int kv_heads, head_dim, rows, page;
    bool per_head;
  };
  for (const Shape& s :
       {Shape{1, 16, 5, 16, false}, Shape{4, 64, 300, 64, false}, Shape{8, 128, 257, 64, false},
        Shape{8, 128, 200, 0, false}, Shape{4, 64, 333, 16, true}, Shape{32, 128, 640, 64, true}}) {
    for (DType src_t : {DType::kF32, DType::kBF16}) {
      for (DType dst_t : {DType::kF32, DType::kBF16}) {
        SCOPED_TRACE(testing::Message()
                     << "kvh=" << s.kv_heads << " hd=" << s.head_dim << " rows=" << s.rows
                     << " page=" << s.page << " per_head=" << s.per_head << " " << dtype_name(src_t)
                     << "->" << dtype_name(dst_t));
        const int elems = s.kv_heads * s.head_dim;
        const int src_slots = s.rows + 50, dst_slots = s.rows + 20;
        PrefillKv src(gpu(), cpu(), rng_, src_t, src_slots, elems, s.page, false);
        PrefillKv dst(gpu(), cpu(), rng_, dst_t, dst_slots, elems, s.page, true);
        // Distinct destinations: per-head rows share a slot but not a head (stitching's layout).
        std::vector<int32_t> from_slots(src_slots), to_slots(dst_slots);
        std::iota(from_slots.begin(), from_slots.end(), 0);
        std::iota(to_slots.begin(), to_slots.end(), 0);
        std::shuffle(from_slots.begin(), from_slots.end(), rng_);
        std::shuffle(to_slots.begin(), to_slots.end(), rng_);
        std::vector<int32_t> ss(s.rows), ds(s.rows), heads(s.rows);
        std::vector<uint8_t> written(static_cast<size_t>(dst_slots) * s.kv_heads, 0);
        for (int i = 0; i < s.rows; ++i) {
          const int cell = s.per_head ? i / s.kv_heads : i;
          heads[i] = s.per_head ? i % s.kv_heads : 0;
          ss[i] = from_slots[s.per_head ? (i * 7) % src_slots : i];
          ds[i] = to_slots[cell];
          for (int h = 0; h < s.kv_heads; ++h)
            if (!s.per_head || h == heads[i])
              written[static_cast<size_t>(ds[i]) * s.kv_heads + h] = 1;
        }
        std::vector<int32_t> from = random_ints(rng_, s.rows, 0, 131071);
        std::vector<int32_t> to = random_ints(rng_, s.rows, 0, 131071);
        for (int i = 0; i < s.rows; i += 5) to[i] = from[i];  // some rows do not move
        const std::vector<float> inv = inv_freq_of(s.head_dim, 500000.0);
        Buf<int32_t> gss(gpu(), ss), gds(gpu(), ds), gh(gpu(), heads), gf(gpu(), from),
            gto(gpu(), to);
        Buf<float> ginv(gpu(), inv);
        kernels::KvRerotateParams p{.src = src.view(false),
                                    .dst = dst.view(false),
                                    .num_rows = s.rows,
                                    .num_kv_heads = s.kv_heads,
                                    .head_dim = s.head_dim,
                                    .src_slots = ss.data(),
                                    .dst_slots = ds.data(),
                                    .from_positions = from.data(),
                                    .to_positions = to.data(),
                                    .heads = s.per_head ? heads.data() : nullptr,
                                    .inv_freq = inv.data()};
        cpu()->rerotate_kv_rows(p);
        p.src = src.view(true);
        p.dst = dst.view(true);
        p.src_slots = gss.get(), p.dst_slots = gds.get(), p.from_positions = gf.get();
        p.to_positions = gto.get(), p.heads = s.per_head ? gh.get() : nullptr;
        p.inv_freq = ginv.get();
        gpu()->rerotate_kv_rows(p);
        for (bool k : {true, false}) {
          const std::vector<float> g = dst.rows(true, k), c = dst.rows(false, k);
          const double err = rel_err(pick(g, written, s.head_dim), pick(c, written, s.head_dim));
          EXPECT_LT(err, dst_t == DType::kF32 ? 1e-6 : 4e-3) << (k ? "K" : "V");
          if (!k) {
            EXPECT_EQ(err, 0.0) << "V is copied, never rounded differently";
          }
          // Cells nobody wrote keep their poison on the GPU.
          for (size_t cell = 0; cell < written.size(); ++cell)
            if (!written[cell]) {
              ASSERT_TRUE(std::isnan(g[cell * s.head_dim])) << "cell " << cell << " was written";
            }
        }
      }
    }
  }
}

TEST_F(PrefillingKernelTest, KeyAttentionScoresMatchCpu) {
  struct Shape {
    int num_q, heads, kv_heads, head_dim, keys, page;
    bool causal, masked;
  };
  for (const Shape& s :
       {Shape{1, 4, 4, 64, 1, 16, false, false}, Shape{8, 4, 4, 64, 100, 16, true, true},
        Shape{8, 8, 2, 128, 1100, 64, true, true}, Shape{3, 8, 2, 128, 777, 0, false, true},
        Shape{8, 32, 32, 128, 1157, 64, true, true},
        Shape{2, 28, 4, 128, 5000, 64, false, false}}) {
    for (DType dt : {DType::kF32, DType::kBF16}) {
      SCOPED_TRACE(testing::Message()
                   << "q=" << s.num_q << " heads=" << s.heads << "/" << s.kv_heads
                   << " hd=" << s.head_dim << " keys=" << s.keys << " page=" << s.page
                   << " causal=" << s.causal << " " << dtype_name(dt));
      PrefillKv kv(gpu(), cpu(), rng_, dt, s.keys, s.kv_heads * s.head_dim, s.page, false);
      const std::vector<float> q =
          random_floats(rng_, static_cast<size_t>(s.num_q) * s.heads * s.head_dim, -1.0f, 1.0f);
      std::vector<uint8_t> mask(s.keys, 1);
      if (s.masked)
        for (int j = 0; j < s.keys; ++j) mask[j] = (rng_() % 5) != 0;
      // Causal slots: the last row sees everything, the first may see nothing visible.
      std::vector<int32_t> slots = random_ints(rng_, s.num_q, 0, s.keys - 1);
      slots.back() = s.keys - 1;
      if (s.num_q > 1) slots.front() = 0;
      const std::vector<float> initial =
          random_floats(rng_, static_cast<size_t>(s.kv_heads) * s.keys, 0.0f, 3.0f);
      Buf<float> gq(gpu(), q), gout(gpu(), initial), cout(cpu(), initial);
      Buf<uint8_t> gmask(gpu(), mask);
      Buf<int32_t> gslots(gpu(), slots);
      kernels::KeyAttentionScoreParams p{.q = q.data(),
                                         .kv = kv.view(false),
                                         .num_q = s.num_q,
                                         .num_keys = s.keys,
                                         .num_heads = s.heads,
                                         .num_kv_heads = s.kv_heads,
                                         .head_dim = s.head_dim,
                                         .scale = 1.0f / std::sqrt(static_cast<float>(s.head_dim)),
                                         .key_mask = s.masked ? mask.data() : nullptr,
                                         .q_slots = slots.data(),
                                         .causal = s.causal,
                                         .out = cout.get()};
      cpu()->accumulate_key_attention_scores(p);
      p.q = gq.get(), p.kv = kv.view(true), p.key_mask = s.masked ? gmask.get() : nullptr;
      p.q_slots = gslots.get(), p.out = gout.get();
      gpu()->accumulate_key_attention_scores(p);
      gpu()->accumulate_key_attention_scores(p);  // accumulates: twice the mass on top
      cpu()->accumulate_key_attention_scores({.q = q.data(),
                                              .kv = kv.view(false),
                                              .num_q = s.num_q,
                                              .num_keys = s.keys,
                                              .num_heads = s.heads,
                                              .num_kv_heads = s.kv_heads,
                                              .head_dim = s.head_dim,
                                              .scale = p.scale,
                                              .key_mask = s.masked ? mask.data() : nullptr,
                                              .q_slots = slots.data(),
                                              .causal = s.causal,
                                              .out = cout.get()});
      const std::vector<float> g = gout.to_host(), c = cout.to_host();
      EXPECT_LT(rel_err(g, c), 1e-6);
      // The mass of each (row, head) sums to 1 when it sees any key: check the total.
      double added = 0.0;
      for (size_t i = 0; i < g.size(); ++i) added += static_cast<double>(g[i]) - initial[i];
      EXPECT_GT(added, 0.0);
      EXPECT_LE(added, 2.0 * s.num_q * s.heads * (1 + 1e-4));
    }
  }
}

// Independent of both kernels: sum, pool, then rank every token by (pooled desc, index asc).
std::vector<int32_t> brute_force_select(const std::vector<float>& scores, int64_t stride, int o,
                                        int group, int len, int width, int capacity,
                                        bool keep_first) {
  std::vector<float> total(len, 0.0f), pooled(len);
  for (int g = 0; g < group; ++g)
    for (int t = 0; t < len; ++t)
      total[t] += scores[(static_cast<int64_t>(o) * group + g) * stride + t];
  for (int t = 0; t < len; ++t) {
    pooled[t] = total[t];
    for (int u = std::max(0, t - width / 2); u <= std::min(len - 1, t + width / 2); ++u)
      pooled[t] = std::max(pooled[t], total[u]);
  }
  std::vector<int32_t> kept;
  for (int t = 0; t < len; ++t) {
    int better = 0;
    for (int u = 0; u < len; ++u) {
      const bool u_first = keep_first && u == 0, t_first = keep_first && t == 0;
      if (u == t || t_first) continue;
      if (u_first || pooled[u] > pooled[t] || (pooled[u] == pooled[t] && u < t)) ++better;
    }
    if (better < capacity) kept.push_back(t);
  }
  return kept;
}

TEST_F(PrefillingKernelTest, TokenSelectionMatchesCpuAndBruteForce) {
  struct Shape {
    int len, outputs, group;
  };
  for (const Shape& s : {Shape{1, 1, 1}, Shape{7, 3, 1}, Shape{33, 1, 64}, Shape{1024, 1, 64},
                         Shape{1000, 64, 1}, Shape{4097, 2, 3}, Shape{9000, 1, 2}}) {
    for (bool ties : {false, true}) {
      for (int width : {1, 7}) {
        for (int cap : {1, 2, s.len / 3, s.len - 1, s.len, s.len + 5}) {
          if (cap < 1) continue;
          for (bool keep_first : {false, true}) {
            SCOPED_TRACE(testing::Message()
                         << "len=" << s.len << " outputs=" << s.outputs << " group=" << s.group
                         << " ties=" << ties << " width=" << width << " cap=" << cap
                         << " keep_first=" << keep_first);
            const int64_t stride = s.len + 13;  // rows live inside longer key rows
            const size_t rows = static_cast<size_t>(s.outputs) * s.group;
            std::vector<float> scores = random_floats(rng_, rows * stride + 5, 0.0f, 1.0f);
            if (ties)
              for (float& x : scores) x = std::floor(x * 6.0f) / 8.0f;
            const int keep = std::min(cap, s.len);
            const std::vector<int32_t> poison(static_cast<size_t>(s.outputs) * keep, -1);
            Buf<float> gs(gpu(), scores), cs(cpu(), scores);
            Buf<int32_t> gk(gpu(), poison), ck(cpu(), poison);
            kernels::TokenSelectParams p{.scores = cs.get() + 5,
                                         .row_stride = stride,
                                         .num_outputs = s.outputs,
                                         .group = s.group,
                                         .len = s.len,
                                         .pool_width = width,
                                         .capacity = cap,
                                         .keep_first = keep_first,
                                         .kept = ck.get()};
            cpu()->select_top_tokens(p);
            p.scores = gs.get() + 5, p.kept = gk.get();
            gpu()->select_top_tokens(p);
            const std::vector<int32_t> g = gk.to_host(), c = ck.to_host();
            ASSERT_EQ(g, c);
            if (s.len <= 1024 && s.outputs <= 3) {
              for (int o = 0; o < s.outputs; ++o) {
                const std::vector<int32_t> ref =
                    brute_force_select(std::vector<float>(scores.begin() + 5, scores.end()), stride,
                                       o, s.group, s.len, width, keep, keep_first);
                ASSERT_EQ(std::vector<int32_t>(c.begin() + o * keep, c.begin() + (o + 1) * keep),
                          ref);
              }
            }
          }
        }
      }
    }
  }
}

TEST_F(PrefillingKernelTest, TargetLogProbsMatchCpu) {
  for (int vocab : {1, 5, 1000, 126464}) {
    for (int n : {1, 17}) {
      SCOPED_TRACE(testing::Message() << "vocab=" << vocab << " n=" << n);
      const std::vector<float> logits =
          random_floats(rng_, static_cast<size_t>(n) * vocab, -12.0f, 12.0f);
      const std::vector<int32_t> tokens = random_ints(rng_, n, 0, vocab - 1);
      const std::vector<double> poison(n, std::numeric_limits<double>::quiet_NaN());
      Buf<float> gl(gpu(), logits), cl(cpu(), logits);
      Buf<int32_t> gt(gpu(), tokens), ct(cpu(), tokens);
      Buf<double> go(gpu(), poison), co(cpu(), poison);
      cpu()->target_log_probs(
          {.logits = cl.get(), .num_rows = n, .vocab = vocab, .tokens = ct.get(), .out = co.get()});
      gpu()->target_log_probs(
          {.logits = gl.get(), .num_rows = n, .vocab = vocab, .tokens = gt.get(), .out = go.get()});
      const std::vector<double> g = go.to_host(), c = co.to_host();
      for (int i = 0; i < n; ++i) {
        ASSERT_TRUE(std::isfinite(g[i])) << i;
        EXPECT_NEAR(g[i], c[i], 1e-12 * std::max(1.0, std::fabs(c[i]))) << i;
      }
    }
  }
}

}  // namespace
}  // namespace dllm::gpu_test

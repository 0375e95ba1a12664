// CUDA backend vs the CPU twin: embedding, RMSNorm, RoPE, SwiGLU, residual add, row gather, K/V
// cache writes, free memory and memory errors. Outputs start as NaN so that an unwritten element
// fails.
#include <algorithm>
#include <cmath>
#include <iterator>
#include <limits>
#include <new>
#include <numeric>
#include <vector>

#include "tests/gpu/gpu_test_util.h"

namespace dllm::gpu_test {
namespace {

using OpsTest = CudaVsCpuTest;

TEST_F(OpsTest, EmbeddingGathersEveryDtypeExactly) {
  for (DType dt : {DType::kF32, DType::kBF16, DType::kF16}) {
    for (int cols : {1, 3, 8, 64, 1001, 4096}) {
      const int vocab = 37, n = 29;
      SCOPED_TRACE(testing::Message() << dtype_name(dt) << " cols=" << cols);
      TwinWeight table(gpu(), random_weight_bytes(rng_, size_t{1} * vocab * cols, dt), dt, vocab,
                       cols);
      const std::vector<int32_t> ids = random_ints(rng_, n, 0, vocab - 1);
      Buf<int32_t> gids(gpu(), ids), cids(cpu(), ids);
      Buf<float> gout(gpu(), nan_vector(size_t{1} * n * cols)),
          cout(cpu(), nan_vector(size_t{1} * n * cols));
      gpu()->embedding(gids.get(), n, table.gpu, gout.get());
      cpu()->embedding(cids.get(), n, table.cpu, cout.get());
      EXPECT_EQ(rel_err(gout.to_host(), cout.to_host()), 0.0);
    }
  }
}

TEST_F(OpsTest, RmsNormMatchesCpu) {
  for (DType dt : {DType::kF32, DType::kBF16, DType::kF16}) {
    for (int dim : {1, 3, 64, 100, 4096, 4097}) {
      for (int n : {1, 7, 33}) {
        SCOPED_TRACE(testing::Message() << dtype_name(dt) << " n=" << n << " dim=" << dim);
        TwinWeight w(gpu(), random_weight_bytes(rng_, dim, dt), dt, 1, dim);
        const std::vector<float> x = random_floats(rng_, size_t{1} * n * dim, -3.0f, 3.0f);
        Buf<float> gx(gpu(), x), cx(cpu(), x);
        Buf<float> gout(gpu(), nan_vector(x.size())), cout(cpu(), nan_vector(x.size()));
        gpu()->rms_norm(gx.get(), n, dim, w.gpu, 1e-5f, gout.get());
        cpu()->rms_norm(cx.get(), n, dim, w.cpu, 1e-5f, cout.get());
        const std::vector<float> ref = cout.to_host();
        EXPECT_LT(rel_err(gout.to_host(), ref), 1e-6);
        // In place (the LM-head path normalises its rows in place).
        gpu()->rms_norm(gx.get(), n, dim, w.gpu, 1e-5f, gx.get());
        EXPECT_LT(rel_err(gx.to_host(), ref), 1e-6);
      }
    }
  }
}

TEST_F(OpsTest, RopeMatchesCpu) {
  for (int hd : {6, 16, 64, 128}) {
    for (int heads : {1, 3, 32}) {
      for (int n : {1, 5, 40}) {
        SCOPED_TRACE(testing::Message() << "hd=" << hd << " heads=" << heads << " n=" << n);
        std::vector<float> inv(hd / 2);
        for (int j = 0; j < hd / 2; ++j)
          inv[j] = static_cast<float>(1.0 / std::pow(500000.0, 2.0 * j / hd));
        std::vector<int32_t> pos = random_ints(rng_, n, 0, 131071);
        pos[0] = 0;
        const std::vector<float> x = random_floats(rng_, size_t{1} * n * heads * hd);
        Buf<float> gx(gpu(), x), cx(cpu(), x), ginv(gpu(), inv), cinv(cpu(), inv);
        Buf<int32_t> gpos(gpu(), pos), cpos(cpu(), pos);
        gpu()->rope(gx.get(), n, heads, hd, gpos.get(), ginv.get());
        cpu()->rope(cx.get(), n, heads, hd, cpos.get(), cinv.get());
        EXPECT_LT(rel_err(gx.to_host(), cx.to_host()), 1e-6);
      }
    }
  }
}

TEST_F(OpsTest, SiluMulMatchesCpuAlsoInPlace) {
  for (int64_t n : {1, 3, 1000, 12289, 4096 * 3}) {
    SCOPED_TRACE(testing::Message() << "n=" << n);
    const std::vector<float> gate = random_floats(rng_, n, -8.0f, 8.0f),
                             up = random_floats(rng_, n);
    Buf<float> gg(gpu(), gate), gu(gpu(), up), cg(cpu(), gate), cu(cpu(), up);
    Buf<float> gout(gpu(), nan_vector(n)), cout(cpu(), nan_vector(n));
    gpu()->silu_mul(gg.get(), gu.get(), gout.get(), n);
    cpu()->silu_mul(cg.get(), cu.get(), cout.get(), n);
    const std::vector<float> ref = cout.to_host();
    EXPECT_LT(rel_err(gout.to_host(), ref), 1e-6);
    gpu()->silu_mul(gg.get(), gu.get(), gg.get(), n);  // out aliases gate, as the model calls it
    EXPECT_LT(rel_err(gg.to_host(), ref), 1e-6);
  }
}

TEST_F(OpsTest, AddInplaceIsExact) {
  for (int64_t n : {1, 5, 4096, 100003}) {
    SCOPED_TRACE(testing::Message() << "n=" << n);
    const std::vector<float> x = random_floats(rng_, n), y = random_floats(rng_, n);
    Buf<float> gx(gpu(), x), gy(gpu(), y), cx(cpu(), x), cy(cpu(), y);
    gpu()->add_inplace(gx.get(), gy.get(), n);
    cpu()->add_inplace(cx.get(), cy.get(), n);
    EXPECT_EQ(rel_err(gx.to_host(), cx.to_host()), 0.0);
  }
  // Unaligned views take the scalar path.
  const std::vector<float> x = random_floats(rng_, 11), y = random_floats(rng_, 11);
  Buf<float> gx(gpu(), x), gy(gpu(), y);
  gpu()->add_inplace(gx.get() + 1, gy.get() + 2, 9);
  const std::vector<float> out = gx.to_host();
  for (int i = 0; i < 9; ++i) EXPECT_EQ(out[i + 1], x[i + 1] + y[i + 2]);
  EXPECT_EQ(out[0], x[0]);
  EXPECT_EQ(out[10], x[10]);
}

TEST_F(OpsTest, GatherRowsIsExact) {
  for (int dim : {1, 3, 64, 130}) {
    SCOPED_TRACE(testing::Message() << "dim=" << dim);
    const int src_rows = 50, n = 17;
    const std::vector<float> x = random_floats(rng_, size_t{1} * src_rows * dim);
    std::vector<int32_t> rows = random_ints(rng_, n, 0, src_rows - 1);
    Buf<float> gx(gpu(), x), cx(cpu(), x);
    Buf<int32_t> grows(gpu(), rows), crows(cpu(), rows);
    Buf<float> gout(gpu(), nan_vector(size_t{1} * n * dim)),
        cout(cpu(), nan_vector(size_t{1} * n * dim));
    gpu()->gather_rows(gx.get(), dim, grows.get(), n, gout.get());
    cpu()->gather_rows(cx.get(), dim, crows.get(), n, cout.get());
    EXPECT_EQ(rel_err(gout.to_host(), cout.to_host()), 0.0);
  }
}

// The greedy reduction of a step's logits: same token, confidence within float64 rounding of
// float32 exp on the GPU vs double on the CPU (ranking gaps in the golden runs are > 1e-4).
TEST_F(OpsTest, GreedyConfidenceMatchesCpu) {
  using kernels::ConfidenceKind;
  for (int vocab : {1, 5, 512, 126464}) {
    for (ConfidenceKind kind :
         {ConfidenceKind::kMaxProb, ConfidenceKind::kMargin, ConfidenceKind::kNegEntropy}) {
      SCOPED_TRACE(testing::Message() << "vocab=" << vocab << " kind=" << static_cast<int>(kind));
      const int n = 33;
      std::vector<float> logits = random_floats(rng_, size_t{1} * n * vocab, -8.0f, 8.0f);
      if (vocab > 2) logits[vocab - 1] = logits[1];  // a tie in row 0 where 1 may be the max
      Buf<float> gl(gpu(), logits), cl(cpu(), logits);
      Buf<int32_t> gid(gpu(), std::vector<int32_t>(n, -1)), cid(cpu(), std::vector<int32_t>(n, -1));
      Buf<double> gc(gpu(), std::vector<double>(n, std::nan(""))),
          cc(cpu(), std::vector<double>(n, std::nan("")));
      gpu()->greedy_confidence(gl.get(), n, vocab, kind, gid.get(), gc.get());
      cpu()->greedy_confidence(cl.get(), n, vocab, kind, cid.get(), cc.get());
      const auto gi = gid.to_host(), ci = cid.to_host();
      const auto gv = gc.to_host(), cv = cc.to_host();
      for (int i = 0; i < n; ++i) {
        EXPECT_EQ(gi[i], ci[i]) << "row " << i;
        ASSERT_FALSE(std::isnan(gv[i])) << "row " << i;
        EXPECT_NEAR(gv[i], cv[i], 1e-9 * (1.0 + std::abs(cv[i]))) << "row " << i;
      }
    }
  }
}

// write_kv into contiguous and paged caches of both dtypes: the same cache bytes as the CPU
// backend (bf16 rounding ties, NaN, infinities and overflow included); other slots untouched.
TEST_F(OpsTest, WriteKvMatchesCpuBitForBit) {
  const float specials[] = {std::numeric_limits<float>::quiet_NaN(),
                            -std::numeric_limits<float>::infinity(),
                            std::numeric_limits<float>::infinity(),
                            -0.0f,
                            1.00390625f,  // 1 + 2^-8: a bf16 tie, rounds to even (1.0)
                            1.01171875f,  // 1 + 3·2^-8: a tie that rounds up
                            3.4e38f,      // rounds past the largest bf16: +inf
                            1e-40f};      // subnormal
  for (DType dt : {DType::kF32, DType::kBF16}) {
    for (int page : {0, 16, 64}) {
      for (int row_elems : {3, 64, 130, 1024}) {
        for (int misalign : {0, 1}) {
          SCOPED_TRACE(testing::Message() << dtype_name(dt) << " page=" << page << " row_elems="
                                          << row_elems << " misalign=" << misalign);
          const int pool_pages = 6, slots_total = page == 0 ? 150 : pool_pages * page;
          const int capacity = page == 0 ? slots_total : 4 * page;  // 4 pages in the table
          std::vector<int32_t> table = {4, 1, 5, 2};                // non-contiguous, out of order
          std::vector<int32_t> slots(capacity);
          std::iota(slots.begin(), slots.end(), 0);
          std::shuffle(slots.begin(), slots.end(), rng_);
          const int n = std::min(capacity, 37);
          slots.resize(n);
          std::vector<float> k = random_floats(rng_, size_t{1} * n * row_elems + misalign, -4, 4);
          std::vector<float> v = random_floats(rng_, k.size(), -4, 4);
          for (size_t i = 0; i < std::size(specials); ++i) k[misalign + i] = specials[i];
          for (size_t i = 0; i < std::size(specials); ++i) v[v.size() - 1 - i] = specials[i];
          const size_t cache_bytes =
              static_cast<size_t>(slots_total) * row_elems * kernels::dtype_size(dt);
          std::vector<uint8_t> init(cache_bytes);
          for (auto& b : init) b = static_cast<uint8_t>(rng_());
          auto one = [&](Backend* b) {
            Buf<float> kb(b, k), vb(b, v);
            Buf<int32_t> sb(b, slots), tb(b, table);
            Buf<uint8_t> kc(b, init), vc(b, init);
            kernels::KvView kv;
            kv.k = kc.get(), kv.v = vc.get(), kv.dtype = dt;
            kv.page_table = page == 0 ? nullptr : tb.get();
            kv.page_size = page;
            b->write_kv(kb.get() + misalign, vb.get() + misalign, n, row_elems, sb.get(), kv);
            return std::make_pair(kc.to_host(), vc.to_host());
          };
          const auto g = one(gpu()), c = one(cpu());
          EXPECT_TRUE(g.first == c.first) << "K cache differs";
          EXPECT_TRUE(g.second == c.second) << "V cache differs";
        }
      }
    }
  }
}

TEST_F(OpsTest, FreeMemoryTracksAllocations) {
  const size_t total = kernels::cuda::list_devices()[0].total_memory;
  const size_t before = gpu()->free_memory_bytes();
  EXPECT_GT(before, size_t{0});
  EXPECT_LE(before, total);
  const size_t chunk = size_t{1} << 30;
  if (before < 2 * chunk) GTEST_SKIP() << "less than 2 GiB free";
  void* p = gpu()->allocate(chunk);
  gpu()->synchronize();
  const size_t during = gpu()->free_memory_bytes();
  EXPECT_LE(during + chunk / 2, before) << "a 1 GiB allocation should lower free memory";
  gpu()->release(p);
  gpu()->synchronize();
  // Freed memory stays in the stream-ordered pool, and is reported free again.
  EXPECT_GE(gpu()->free_memory_bytes() + chunk / 2, before);
}

TEST_F(OpsTest, OutOfMemoryThrowsBadAllocAndLeavesTheBackendUsable) {
  bool thrown = false;
  try {
    gpu()->allocate(kernels::cuda::list_devices()[0].total_memory * 2);
  } catch (const std::bad_alloc& e) {
    thrown = true;
    EXPECT_NE(std::string(e.what()).find("out of memory"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(thrown);
  const std::vector<float> x = {1, 2, 3}, y = {4, 5, 6};
  Buf<float> gx(gpu(), x), gy(gpu(), y);
  gpu()->add_inplace(gx.get(), gy.get(), 3);
  EXPECT_EQ(gx.to_host(), (std::vector<float>{5, 7, 9}));
}

TEST(CudaBackendOpen, BadDeviceIndexThrowsClearly) {
  if (!have_gpu()) GTEST_SKIP() << "no CUDA device visible: GPU test skipped";
  EXPECT_THROW(kernels::make_cuda_backend(4096), kernels::CudaError);
}

}  // namespace
}  // namespace dllm::gpu_test

// CUDA linear (cuBLASLt) vs the CPU twin: f32 weights must match to TF32-excluding precision,
// bf16/f16 weights (activations rounded to the weight type) to 1e-2; with and without bias.
#include <optional>
#include <vector>

#include "tests/gpu/gpu_test_util.h"

namespace dllm::gpu_test {
namespace {

struct Shape {
  int n;
  int64_t k, m;
};

class LinearTest : public CudaVsCpuTest {
 protected:
  // Runs both backends on fresh inputs; x_offset/out_offset (floats) misalign the activations.
  double run(const Shape& s, DType wt, std::optional<DType> bias_type, int x_offset = 0,
             int out_offset = 0) {
    TwinWeight w(gpu(), random_weight_bytes(rng_, static_cast<size_t>(s.m * s.k), wt, 0.5f), wt,
                 s.m, s.k);
    std::optional<TwinWeight> b;
    if (bias_type) b.emplace(gpu(), random_weight_bytes(rng_, s.m, *bias_type), *bias_type, 1, s.m);
    std::vector<float> x = random_floats(rng_, x_offset + static_cast<size_t>(s.n * s.k));
    const size_t out_n = out_offset + static_cast<size_t>(s.n * s.m);
    Buf<float> gx(gpu(), x), cx(cpu(), x), gout(gpu(), nan_vector(out_n)),
        cout(cpu(), nan_vector(out_n));
    gpu()->linear(gx.get() + x_offset, s.n, w.gpu, b ? &b->gpu : nullptr, gout.get() + out_offset);
    cpu()->linear(cx.get() + x_offset, s.n, w.cpu, b ? &b->cpu : nullptr, cout.get() + out_offset);
    std::vector<float> g = gout.to_host(), c = cout.to_host();
    g.erase(g.begin(), g.begin() + out_offset);
    c.erase(c.begin(), c.begin() + out_offset);
    return rel_err(g, c);
  }
};

const Shape kShapes[] = {{1, 1, 1},     {3, 17, 5},      {7, 64, 33},      {32, 256, 512},
                         {65, 1000, 3}, {129, 4096, 31}, {32, 4096, 4096}, {300, 128, 1000}};

TEST_F(LinearTest, F32WeightsAreTrueFp32) {
  for (const Shape& s : kShapes) {
    SCOPED_TRACE(testing::Message() << "n=" << s.n << " k=" << s.k << " m=" << s.m);
    EXPECT_LT(run(s, DType::kF32, std::nullopt), 1e-5);  // TF32 would give ~1e-3
    EXPECT_LT(run(s, DType::kF32, DType::kF32), 1e-5);
    EXPECT_LT(run(s, DType::kF32, DType::kBF16), 1e-5);
  }
}

TEST_F(LinearTest, HalfWeightsWithinOnePercent) {
  for (DType wt : {DType::kBF16, DType::kF16}) {
    for (const Shape& s : kShapes) {
      SCOPED_TRACE(testing::Message()
                   << dtype_name(wt) << " n=" << s.n << " k=" << s.k << " m=" << s.m);
      EXPECT_LT(run(s, wt, std::nullopt), 1e-2);
      EXPECT_LT(run(s, wt, wt), 1e-2);
      EXPECT_LT(run(s, wt, DType::kF32), 1e-2);
    }
  }
}

TEST_F(LinearTest, MisalignedActivationsStillCorrect) {
  for (DType wt : {DType::kF32, DType::kBF16}) {
    SCOPED_TRACE(dtype_name(wt));
    const double tol = wt == DType::kF32 ? 1e-5 : 1e-2;
    EXPECT_LT(run({9, 64, 40}, wt, DType::kF32, /*x_offset=*/1, /*out_offset=*/1), tol);
    EXPECT_LT(run({5, 33, 7}, wt, std::nullopt, /*x_offset=*/3, /*out_offset=*/2), tol);
  }
}

TEST_F(LinearTest, RepeatedShapesReuseThePlan) {
  // Same shape twice with different data (the cached plan must not keep stale pointers).
  for (int i = 0; i < 3; ++i) EXPECT_LT(run({16, 128, 96}, DType::kBF16, DType::kBF16), 1e-2);
}

}  // namespace
}  // namespace dllm::gpu_test

// cuBLASLt matmul for the linear layer, with one algorithm chosen per shape and cached.
#pragma once

#include <cublasLt.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <map>
#include <memory>
#include <tuple>

#include "kernels/tensor_view.h"

namespace dllm::kernels::cuda {

// out[n, m] = x[n, k] · w[m, k]ᵀ (+ bias[m]), all row-major; fp32 accumulate and fp32 out.
// In cuBLAS's column-major terms this is outᵀ[m, n] = W · xᵀ: A = w read as a k×m column-major
// matrix with op T, B = x read as k×n with op N, D = m×n with ld m ("TN", the layout Hopper's
// tensor-core kernels prefer).
class LtGemm {
 public:
  explicit LtGemm(cudaStream_t stream);
  ~LtGemm();
  LtGemm(const LtGemm&) = delete;
  LtGemm& operator=(const LtGemm&) = delete;

  // x and w share `dtype`: kF32 runs true fp32 (CUBLAS_COMPUTE_32F, TF32 off); kBF16/kF16 run on
  // tensor cores. bias: fp32 device pointer or null (fused as the BIAS epilogue when cuBLASLt
  // has one for the shape, else added by a kernel). Returns false, having queued nothing, when
  // cuBLASLt has no algorithm for this shape and alignment.
  bool matmul(const void* x, const void* w, DType dtype, int64_t n, int64_t m, int64_t k,
              const float* bias, float* out);

 private:
  struct Plan;
  // (n, m, k, dtype, has_bias, alignment class of x, w, out, bias)
  using Key = std::tuple<int64_t, int64_t, int64_t, int, bool, int, int, int, int>;

  std::unique_ptr<Plan> make_plan(const Key& key, const float* bias);

  cudaStream_t stream_;
  cublasLtHandle_t handle_ = nullptr;
  void* workspace_ = nullptr;
  size_t workspace_bytes_ = 0;
  std::map<Key, std::unique_ptr<Plan>> plans_;
};

}  // namespace dllm::kernels::cuda

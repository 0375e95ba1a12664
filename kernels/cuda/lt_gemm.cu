// cuBLASLt matmul with a per-shape plan cache (descriptors + the heuristic's first algorithm).
#include <algorithm>

#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/cuda_kernels.h"
#include "kernels/cuda/device_memory.h"
#include "kernels/cuda/lt_gemm.h"

namespace dllm::kernels::cuda {
namespace {

// Hopper's cuBLASLt kernels want up to 32 MiB of workspace (split-K, stream-K).
constexpr size_t kWorkspaceBytes = size_t{32} << 20;

int alignment_class(const void* p) {
  const auto a = reinterpret_cast<uintptr_t>(p);
  if (a == 0) return 256;
  return static_cast<int>(std::min<uintptr_t>(a & (~a + 1), 256));
}

cudaDataType_t cuda_type(DType t) {
  switch (t) {
    case DType::kF32:
      return CUDA_R_32F;
    case DType::kBF16:
      return CUDA_R_16BF;
    case DType::kF16:
      return CUDA_R_16F;
  }
  return CUDA_R_32F;
}

template <typename T>
void set_desc(cublasLtMatmulDesc_t desc, cublasLtMatmulDescAttributes_t attr, const T& value) {
  DLLM_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(desc, attr, &value, sizeof(value)));
}

template <typename T>
void set_pref(cublasLtMatmulPreference_t pref, cublasLtMatmulPreferenceAttributes_t attr,
              const T& value) {
  DLLM_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref, attr, &value, sizeof(value)));
}

}  // namespace

struct LtGemm::Plan {
  cublasLtMatmulDesc_t desc = nullptr;
  cublasLtMatrixLayout_t a = nullptr, b = nullptr, d = nullptr;
  cublasLtMatmulAlgo_t algo{};
  bool found = false;
  bool bias_fused = false;

  Plan() = default;
  Plan(const Plan&) = delete;
  Plan& operator=(const Plan&) = delete;
  ~Plan() {
    if (desc) cublasLtMatmulDescDestroy(desc);
    if (a) cublasLtMatrixLayoutDestroy(a);
    if (b) cublasLtMatrixLayoutDestroy(b);
    if (d) cublasLtMatrixLayoutDestroy(d);
  }
};

LtGemm::LtGemm(cudaStream_t stream) : stream_(stream) {
  DLLM_CUBLAS_CHECK(cublasLtCreate(&handle_));
  try {
    workspace_ = device_alloc(kWorkspaceBytes, stream_);
  } catch (...) {
    cublasLtDestroy(handle_);
    throw;
  }
  workspace_bytes_ = kWorkspaceBytes;
}

LtGemm::~LtGemm() {
  plans_.clear();
  device_free(workspace_, stream_);
  if (handle_) cublasLtDestroy(handle_);
}

std::unique_ptr<LtGemm::Plan> LtGemm::make_plan(const Key& key, const float* bias) {
  const auto [n, m, k, dtype, has_bias, align_x, align_w, align_out, align_bias] = key;
  (void)align_bias;  // the bias pointer itself tells the heuristic its alignment
  auto plan = std::make_unique<Plan>();
  const cudaDataType_t t = cuda_type(static_cast<DType>(dtype));
  DLLM_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&plan->a, t, k, m, k));
  DLLM_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&plan->b, t, k, n, k));
  DLLM_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&plan->d, CUDA_R_32F, m, n, m));

  cublasLtMatmulPreference_t pref = nullptr;
  DLLM_CUBLAS_CHECK(cublasLtMatmulPreferenceCreate(&pref));
  struct PrefGuard {
    cublasLtMatmulPreference_t p;
    ~PrefGuard() { cublasLtMatmulPreferenceDestroy(p); }
  } pref_guard{pref};
  set_pref(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, static_cast<uint64_t>(workspace_bytes_));
  set_pref(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, static_cast<uint32_t>(align_w));
  set_pref(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, static_cast<uint32_t>(align_x));
  set_pref(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, static_cast<uint32_t>(align_out));
  set_pref(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, static_cast<uint32_t>(align_out));

  // With a bias, first ask for the fused epilogue, then for a plain matmul plus a bias kernel.
  const cublasLtEpilogue_t epilogues[2] = {
      has_bias ? CUBLASLT_EPILOGUE_BIAS : CUBLASLT_EPILOGUE_DEFAULT, CUBLASLT_EPILOGUE_DEFAULT};
  for (int e = 0; e < (has_bias ? 2 : 1); ++e) {
    // CUBLAS_COMPUTE_32F (not _FAST_TF32): fp32 inputs keep full fp32 products.
    DLLM_CUBLAS_CHECK(cublasLtMatmulDescCreate(&plan->desc, CUBLAS_COMPUTE_32F, CUDA_R_32F));
    set_desc(plan->desc, CUBLASLT_MATMUL_DESC_TRANSA, CUBLAS_OP_T);
    set_desc(plan->desc, CUBLASLT_MATMUL_DESC_TRANSB, CUBLAS_OP_N);
    set_desc(plan->desc, CUBLASLT_MATMUL_DESC_EPILOGUE, epilogues[e]);
    if (epilogues[e] == CUBLASLT_EPILOGUE_BIAS) {
      const void* bias_ptr = bias;
      set_desc(plan->desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, bias_ptr);
    }
    cublasLtMatmulHeuristicResult_t result{};
    int returned = 0;
    const cublasStatus_t st = cublasLtMatmulAlgoGetHeuristic(
        handle_, plan->desc, plan->a, plan->b, plan->d, plan->d, pref, 1, &result, &returned);
    if (st == CUBLAS_STATUS_SUCCESS && returned > 0 && result.state == CUBLAS_STATUS_SUCCESS) {
      plan->algo = result.algo;
      plan->found = true;
      plan->bias_fused = epilogues[e] == CUBLASLT_EPILOGUE_BIAS;
      return plan;
    }
    if (st != CUBLAS_STATUS_SUCCESS && st != CUBLAS_STATUS_NOT_SUPPORTED)
      check_cublas(st, "cublasLtMatmulAlgoGetHeuristic", __FILE__, __LINE__);
    cublasLtMatmulDescDestroy(plan->desc);
    plan->desc = nullptr;
  }
  return plan;  // found == false: the caller takes its fallback
}

bool LtGemm::matmul(const void* x, const void* w, DType dtype, int64_t n, int64_t m, int64_t k,
                    const float* bias, float* out) {
  if (n <= 0 || m <= 0) return true;
  if (k <= 0) return false;
  const Key key{n,
                m,
                k,
                static_cast<int>(dtype),
                bias != nullptr,
                alignment_class(x),
                alignment_class(w),
                alignment_class(out),
                bias != nullptr ? alignment_class(bias) : 0};
  auto it = plans_.find(key);
  if (it == plans_.end()) it = plans_.emplace(key, make_plan(key, bias)).first;
  Plan& p = *it->second;
  if (!p.found) return false;
  if (p.bias_fused) {
    const void* bias_ptr = bias;
    set_desc(p.desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, bias_ptr);
  }
  const float alpha = 1.0f, beta = 0.0f;
  DLLM_CUBLAS_CHECK(cublasLtMatmul(handle_, p.desc, &alpha, w, p.a, x, p.b, &beta, out, p.d, out,
                                   p.d, &p.algo, workspace_, workspace_bytes_, stream_));
  if (bias != nullptr && !p.bias_fused) launch_add_bias(out, n, m, bias, stream_);
  return true;
}

}  // namespace dllm::kernels::cuda

// CudaBackend: the Backend op set on one CUDA stream (memory, copies, dispatch to the kernels).
#include <cuda_runtime.h>

#include <algorithm>
#include <string>
#include <vector>

#include "kernels/cuda/cuda_backend.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/cuda_kernels.h"
#include "kernels/cuda/device_memory.h"
#include "kernels/cuda/lt_gemm.h"
#include "kernels/cuda/weight_access.cuh"

namespace dllm::kernels {
namespace {

using namespace cuda;  // NOLINT(google-build-using-namespace): this file is the cuda:: front end

// Makes `device` current for a scope and restores the caller's device after.
class DeviceScope {
 public:
  explicit DeviceScope(int device) : device_(device) {
    DLLM_CUDA_CHECK(cudaGetDevice(&previous_));
    if (previous_ != device_) DLLM_CUDA_CHECK(cudaSetDevice(device_));
  }
  ~DeviceScope() {
    if (previous_ != device_) cudaSetDevice(previous_);
  }
  DeviceScope(const DeviceScope&) = delete;
  DeviceScope& operator=(const DeviceScope&) = delete;

 private:
  int device_;
  int previous_ = 0;
};

cudaStream_t create_stream(int device) {
  int count = 0;
  const cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess) {
    cudaGetLastError();
    throw CudaError(std::string("CUDA backend: no usable CUDA driver or device (") +
                    cudaGetErrorString(err) + ")");
  }
  if (device < 0 || device >= count)
    throw CudaError("CUDA backend: device " + std::to_string(device) + " does not exist (" +
                    std::to_string(count) + " visible)");
  DeviceScope scope(device);
  cudaStream_t stream = nullptr;
  DLLM_CUDA_CHECK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  return stream;
}

class CudaBackend final : public Backend {
 public:
  explicit CudaBackend(int device) : device_(device), stream_(create_stream(device)) {
    try {
      DeviceScope scope(device_);
      keep_freed_memory_in_pool(device_);
      gemm_ = std::make_unique<LtGemm>(stream_);
      attention_limits_ = prepare_attention(device_);
    } catch (...) {
      gemm_.reset();
      cudaStreamDestroy(stream_);
      throw;
    }
  }

  ~CudaBackend() override {
    // May run on any thread: make our device current without throwing, restore it after.
    int previous = device_;
    cudaGetDevice(&previous);
    cudaSetDevice(device_);
    for (void* p : uploads_) device_free(p, stream_);
    gemm_.reset();
    activations_.release();
    bias_.release();
    attention_scratch_.release();
    key_score_scratch_.release();
    focus_scratch_.release();
    cudaStreamSynchronize(stream_);
    cudaStreamDestroy(stream_);
    cudaGetLastError();
    cudaSetDevice(previous);
  }

  std::string_view name() const override { return "cuda"; }

  void* allocate(size_t bytes) override {
    DeviceScope scope(device_);
    return device_alloc(bytes, stream_);
  }
  void release(void* ptr) override {
    DeviceScope scope(device_);
    device_free(ptr, stream_);
  }

  void copy_from_host(void* dst, const void* src, size_t bytes) override {
    if (bytes == 0) return;
    DeviceScope scope(device_);
    DLLM_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, stream_));
    // Pageable memory is staged before cudaMemcpyAsync returns; page-locked memory is read
    // later by the DMA engine, so wait for it: the caller may reuse `src` at once.
    cudaPointerAttributes attr{};
    if (cudaPointerGetAttributes(&attr, src) != cudaSuccess)
      cudaGetLastError();
    else if (attr.type == cudaMemoryTypeHost)
      DLLM_CUDA_CHECK(cudaStreamSynchronize(stream_));
  }
  void copy_to_host(void* dst, const void* src, size_t bytes) override {
    if (bytes == 0) return;
    DeviceScope scope(device_);
    DLLM_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, stream_));
    DLLM_CUDA_CHECK(cudaStreamSynchronize(stream_));
  }
  void copy_within(void* dst, const void* src, size_t bytes) override {
    if (bytes == 0) return;
    DeviceScope scope(device_);
    DLLM_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, stream_));
  }
  void synchronize() override {
    DeviceScope scope(device_);
    DLLM_CUDA_CHECK(cudaStreamSynchronize(stream_));
  }
  void* allocate_shareable(size_t bytes) override {
    DeviceScope scope(device_);
    void* ptr = nullptr;
    DLLM_CUDA_CHECK(cudaMalloc(&ptr, std::max<size_t>(bytes, 1)));
    return ptr;
  }
  void release_shareable(void* ptr) override {
    if (ptr == nullptr) return;
    DeviceScope scope(device_);
    DLLM_CUDA_CHECK(cudaFree(ptr));  // waits for work still using it
  }

  WeightView upload_weight(const WeightView& host) override {
    if (host.empty()) return host;
    const size_t bytes = static_cast<size_t>(host.rows * host.cols) * dtype_size(host.dtype);
    void* dev = allocate(bytes);
    uploads_.push_back(dev);
    copy_from_host(dev, host.data, bytes);
    WeightView out = host;
    out.data = dev;
    return out;
  }

  void embedding(const int32_t* ids, int n, const WeightView& table, float* out) override {
    DeviceScope scope(device_);
    launch_embedding(ids, n, table, out, stream_);
  }
  void rms_norm(const float* x, int n, int dim, const WeightView& weight, float eps,
                float* out) override {
    DeviceScope scope(device_);
    launch_rms_norm(x, n, dim, weight, eps, out, stream_);
  }
  void linear(const float* x, int n, const WeightView& w, const WeightView* bias,
              float* out) override;
  void rope(float* x, int n, int heads, int head_dim, const int32_t* positions,
            const float* inv_freq) override {
    DeviceScope scope(device_);
    launch_rope(x, n, heads, head_dim, positions, inv_freq, stream_);
  }
  void attention(const AttentionParams& p) override {
    DeviceScope scope(device_);
    launch_attention(p, attention_limits_, attention_scratch_, stream_);
  }
  void silu_mul(const float* gate, const float* up, float* out, int64_t n) override {
    DeviceScope scope(device_);
    launch_silu_mul(gate, up, out, n, stream_);
  }
  void add_inplace(float* x, const float* y, int64_t n) override {
    DeviceScope scope(device_);
    launch_add_inplace(x, y, n, stream_);
  }
  void gather_rows(const float* x, int dim, const int32_t* rows, int n, float* out) override {
    DeviceScope scope(device_);
    launch_copy_rows(x, rows, out, nullptr, n, dim, stream_);
  }
  void write_kv(const float* k_rows, const float* v_rows, int n, int row_elems,
                const int32_t* slots, const KvView& kv) override {
    DeviceScope scope(device_);
    launch_write_kv(k_rows, v_rows, n, row_elems, slots, kv, stream_);
  }
  void greedy_confidence(const float* logits, int n, int vocab, ConfidenceKind kind, int32_t* ids,
                         double* conf) override {
    DeviceScope scope(device_);
    launch_greedy_confidence(logits, n, vocab, kind, ids, conf, stream_);
  }
  void fill_zero(void* dst, size_t bytes) override {
    if (bytes == 0) return;
    DeviceScope scope(device_);
    DLLM_CUDA_CHECK(cudaMemsetAsync(dst, 0, bytes, stream_));
  }
  void rerotate_kv_rows(const KvRerotateParams& p) override {
    DeviceScope scope(device_);
    launch_rerotate_kv_rows(p, stream_);
  }
  void accumulate_key_attention_scores(const KeyAttentionScoreParams& p) override {
    DeviceScope scope(device_);
    launch_accumulate_key_attention_scores(p, key_score_scratch_, stream_);
  }
  void select_top_tokens(const TokenSelectParams& p) override {
    DeviceScope scope(device_);
    launch_select_top_tokens(p, stream_);
  }
  void target_log_probs(const TargetLogProbParams& p) override {
    DeviceScope scope(device_);
    launch_target_log_probs(p, stream_);
  }
  void attention_mass_per_key(const AttentionMassParams& p) override {
    DeviceScope scope(device_);
    launch_attention_mass_per_key(p, focus_scratch_, key_score_scratch_, stream_);
  }
  void select_sinks(const SinkSelectParams& p) override {
    DeviceScope scope(device_);
    launch_select_sinks(p, stream_);
  }
  void block_representative_keys(const BlockKeyParams& p) override {
    DeviceScope scope(device_);
    launch_block_representative_keys(p, stream_);
  }
  void block_scores(const BlockScoreParams& p) override {
    DeviceScope scope(device_);
    launch_block_scores(p, stream_);
  }
  void select_blocks(const BlockSelectParams& p) override {
    DeviceScope scope(device_);
    launch_select_blocks(p, stream_);
  }
  void sparse_attention(const SparseAttentionParams& p) override {
    DeviceScope scope(device_);
    launch_sparse_attention(p, attention_limits_, attention_scratch_, stream_);
  }
  void accumulate_focus_stats(const FocusStatsParams& p) override {
    DeviceScope scope(device_);
    launch_accumulate_focus_stats(p, stream_);
  }
  size_t free_memory_bytes() override;

 private:
  int device_;
  cudaStream_t stream_;
  std::unique_ptr<LtGemm> gemm_;
  AttentionLimits attention_limits_;
  StreamScratch activations_;  // x in the weight dtype for bf16/f16 GEMMs
  StreamScratch bias_;         // a non-fp32 bias widened to fp32
  StreamScratch attention_scratch_;
  StreamScratch key_score_scratch_;  // softmax statistics of the key-score kernel
  StreamScratch focus_scratch_;      // per-KV-head sums of the attention mass per key
  std::vector<void*> uploads_;
};

void CudaBackend::linear(const float* x, int n, const WeightView& w, const WeightView* bias,
                         float* out) {
  if (n <= 0 || w.rows <= 0) return;
  DeviceScope scope(device_);
  const float* bias_f32 = nullptr;
  if (bias != nullptr && !bias->empty()) {
    if (bias->dtype == DType::kF32 && aligned_to(bias->data, 16)) {
      bias_f32 = static_cast<const float*>(bias->data);
    } else {
      auto* b =
          static_cast<float*>(bias_.get(static_cast<size_t>(w.rows) * sizeof(float), stream_));
      launch_weight_to_f32(WeightView{bias->data, bias->dtype, 1, w.rows}, b, stream_);
      bias_f32 = b;
    }
  }
  const void* lhs = x;
  if (w.dtype != DType::kF32) {
    const int64_t elems = static_cast<int64_t>(n) * w.cols;
    void* converted = activations_.get(static_cast<size_t>(elems) * 2, stream_);
    launch_f32_to_half(x, elems, w.dtype, converted, stream_);
    lhs = converted;
  }
  if (!gemm_->matmul(lhs, w.data, w.dtype, n, w.rows, w.cols, bias_f32, out))
    launch_linear_fallback(x, n, w, bias_f32, out, stream_);
}

// The driver's free memory plus what the default pool holds but no allocation uses: freed blocks
// stay in the pool (keep_freed_memory_in_pool), and the next allocations are served from them.
size_t CudaBackend::free_memory_bytes() {
  DeviceScope scope(device_);
  size_t free_b = 0, total_b = 0;
  DLLM_CUDA_CHECK(cudaMemGetInfo(&free_b, &total_b));
  int pools = 0;
  DLLM_CUDA_CHECK(cudaDeviceGetAttribute(&pools, cudaDevAttrMemoryPoolsSupported, device_));
  if (pools == 0) return free_b;
  cudaMemPool_t pool = nullptr;
  DLLM_CUDA_CHECK(cudaDeviceGetDefaultMemPool(&pool, device_));
  uint64_t reserved = 0, used = 0;
  DLLM_CUDA_CHECK(cudaMemPoolGetAttribute(pool, cudaMemPoolAttrReservedMemCurrent, &reserved));
  DLLM_CUDA_CHECK(cudaMemPoolGetAttribute(pool, cudaMemPoolAttrUsedMemCurrent, &used));
  return free_b + static_cast<size_t>(reserved > used ? reserved - used : 0);
}

}  // namespace

std::unique_ptr<Backend> make_cuda_backend(int device) {
  return std::make_unique<CudaBackend>(device);
}

}  // namespace dllm::kernels

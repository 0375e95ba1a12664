// Shared by the GPU tests: a fixture holding both backends, buffers in backend memory poisoned with
// NaN, random data in every weight dtype, K/V twins in both backends, and error norms.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <limits>
#include <memory>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "kernels/backend.h"
#include "kernels/cpu/cpu_kernels.h"
#include "kernels/cuda/cuda_backend.h"
#include "kernels/cuda/device_info.h"

namespace dllm::gpu_test {

using kernels::Backend;
using kernels::DType;
using kernels::WeightView;

inline bool have_gpu() {
  static const bool present = !kernels::cuda::list_devices().empty();
  return present;
}

// Golden data: DLLM_GOLDEN_DIR in the environment (a bundle on the GPU machine) wins over the
// folder compiled in.
inline std::string golden_dir() {
  const char* env = std::getenv("DLLM_GOLDEN_DIR");
  return env != nullptr && *env != '\0' ? env : DLLM_GOLDEN_DIR;
}

// `n` reproducible token ids of the tiny golden models, all below their special ids.
inline std::vector<int32_t> token_run(int n, uint64_t seed) {
  std::vector<int32_t> ids(n);
  uint64_t x = seed * 0x9e3779b97f4a7c15ull + 12345;
  for (int i = 0; i < n; ++i) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    ids[i] = static_cast<int32_t>(x % 480);
  }
  return ids;
}

// An owning buffer in one backend's memory, filled from the host.
template <typename T>
class Buf {
 public:
  Buf(Backend* b, const std::vector<T>& host) : b_(b), n_(host.size()) {
    ptr_ = static_cast<T*>(b_->allocate(std::max<size_t>(1, n_) * sizeof(T)));
    if (n_ > 0) b_->copy_from_host(ptr_, host.data(), n_ * sizeof(T));
  }
  ~Buf() { b_->release(ptr_); }
  Buf(const Buf&) = delete;
  Buf& operator=(const Buf&) = delete;

  T* get() const { return ptr_; }
  std::vector<T> to_host() const {
    std::vector<T> out(n_);
    if (n_ > 0) b_->copy_to_host(out.data(), ptr_, n_ * sizeof(T));
    b_->synchronize();
    return out;
  }

 private:
  Backend* b_;
  size_t n_;
  T* ptr_;
};

inline std::vector<float> nan_vector(size_t n) {
  return std::vector<float>(n, std::numeric_limits<float>::quiet_NaN());
}

// ‖out − ref‖₂ / ‖ref‖₂ in double; +inf for any NaN/inf in `out` or a size mismatch.
inline double rel_err(const std::vector<float>& out, const std::vector<float>& ref) {
  if (out.size() != ref.size()) return std::numeric_limits<double>::infinity();
  double num = 0.0, den = 0.0;
  for (size_t i = 0; i < out.size(); ++i) {
    if (!std::isfinite(out[i])) return std::numeric_limits<double>::infinity();
    const double d = static_cast<double>(out[i]) - ref[i];
    num += d * d;
    den += static_cast<double>(ref[i]) * ref[i];
  }
  if (den == 0.0) return num == 0.0 ? 0.0 : std::numeric_limits<double>::infinity();
  return std::sqrt(num / den);
}

inline float max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
  if (a.size() != b.size()) return std::numeric_limits<float>::infinity();
  float m = 0.0f;
  for (size_t i = 0; i < a.size(); ++i) {
    const float d = std::fabs(a[i] - b[i]);
    if (std::isnan(d)) return std::numeric_limits<float>::infinity();
    m = std::max(m, d);
  }
  return m;
}

inline std::vector<float> random_floats(std::mt19937& rng, size_t n, float lo = -1.0f,
                                        float hi = 1.0f) {
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

inline std::vector<int32_t> random_ints(std::mt19937& rng, size_t n, int32_t lo, int32_t hi) {
  std::uniform_int_distribution<int32_t> dist(lo, hi);
  std::vector<int32_t> v(n);
  for (int32_t& x : v) x = dist(rng);
  return v;
}

// Random finite weights as raw bytes of `dtype` (f16 covers subnormals too).
inline std::vector<uint8_t> random_weight_bytes(std::mt19937& rng, size_t n, DType dtype,
                                                float scale = 1.0f) {
  std::vector<uint8_t> bytes(n * kernels::dtype_size(dtype));
  const std::vector<float> f = random_floats(rng, n, -scale, scale);
  for (size_t i = 0; i < n; ++i) {
    if (dtype == DType::kF32) {
      std::memcpy(bytes.data() + 4 * i, &f[i], 4);
    } else {
      uint16_t h;
      if (dtype == DType::kBF16) {
        h = kernels::cpu::f32_to_bf16(f[i]);
      } else {  // f16: sign, exponent 0..15 (subnormal to ~1), random mantissa
        const uint32_t r = rng();
        h = static_cast<uint16_t>((r & 0x8000u) | (((r >> 10) % 16u) << 10) | (r & 0x3ffu));
      }
      std::memcpy(bytes.data() + 2 * i, &h, 2);
    }
  }
  return bytes;
}

// One weight in both backends: the host bytes (the CPU view) and the uploaded CUDA copy.
struct TwinWeight {
  std::vector<uint8_t> host;
  WeightView cpu, gpu;
  TwinWeight(Backend* gpu_backend, std::vector<uint8_t> bytes, DType dtype, int64_t rows,
             int64_t cols)
      : host(std::move(bytes)) {
    cpu = WeightView{host.data(), dtype, rows, cols};
    gpu = gpu_backend->upload_weight(cpu);
  }
};

// One layer's K and V with the same bytes in both backends, paged through a shuffled page table
// (page_size > 0, with `spare_pages` pages no slot uses) or contiguous. `fill(n)` makes the host
// bytes of n elements: K's first, then V's, then the page table is shuffled (one rng order).
struct TwinKv {
  DType dtype;
  int slots, row_elems, page_size;
  std::vector<uint8_t> k_host, v_host;
  std::vector<int32_t> table;
  std::unique_ptr<Buf<uint8_t>> gk, gv, ck, cv;
  std::unique_ptr<Buf<int32_t>> gt, ct;

  TwinKv(Backend* gpu, Backend* cpu, std::mt19937& rng, DType dt, int n_slots, int elems, int page,
         int spare_pages, const std::function<std::vector<uint8_t>(size_t)>& fill)
      : dtype(dt), slots(n_slots), row_elems(elems), page_size(page) {
    const int pages = page > 0 ? (n_slots + page - 1) / page + spare_pages : 0;
    const size_t n = static_cast<size_t>(page > 0 ? pages * page : n_slots) * elems;
    k_host = fill(n);
    v_host = fill(n);
    gk = std::make_unique<Buf<uint8_t>>(gpu, k_host);
    gv = std::make_unique<Buf<uint8_t>>(gpu, v_host);
    ck = std::make_unique<Buf<uint8_t>>(cpu, k_host);
    cv = std::make_unique<Buf<uint8_t>>(cpu, v_host);
    if (page > 0) {
      table.resize(pages);
      std::iota(table.begin(), table.end(), 0);
      std::shuffle(table.begin(), table.end(), rng);
    }
    gt = std::make_unique<Buf<int32_t>>(gpu, table);
    ct = std::make_unique<Buf<int32_t>>(cpu, table);
  }
  kernels::KvView view(bool on_gpu) const {
    kernels::KvView v{
        .k = (on_gpu ? gk : ck)->get(), .v = (on_gpu ? gv : cv)->get(), .dtype = dtype};
    if (page_size > 0) {
      v.page_table = (on_gpu ? gt : ct)->get();
      v.page_size = page_size;
    }
    return v;
  }
  // K or V bytes laid out like k_host, as floats with element e of slot s at s * row_elems + e.
  std::vector<float> unpaged(const std::vector<uint8_t>& bytes) const {
    kernels::KvView host{.dtype = dtype,
                         .page_table = page_size > 0 ? table.data() : nullptr,
                         .page_size = page_size};
    std::vector<float> out(static_cast<size_t>(slots) * row_elems);
    for (int s = 0; s < slots; ++s)
      kernels::cpu::load_row_f32(bytes.data(), dtype, host.row_offset(s, row_elems), row_elems,
                                 out.data() + static_cast<size_t>(s) * row_elems);
    return out;
  }
};

inline const char* dtype_name(DType t) {
  return t == DType::kF32 ? "f32" : t == DType::kBF16 ? "bf16" : "f16";
}

// Both backends; every test is skipped (with a message) on a machine without a CUDA device.
class CudaVsCpuTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!have_gpu()) GTEST_SKIP() << "no CUDA device visible: GPU test skipped";
    gpu_ = kernels::make_cuda_backend(0);
    cpu_ = kernels::make_cpu_backend(0);
  }
  Backend* gpu() { return gpu_.get(); }
  Backend* cpu() { return cpu_.get(); }

  std::mt19937 rng_{20251124};
  std::unique_ptr<Backend> gpu_, cpu_;
};

}  // namespace dllm::gpu_test

// Small vector primitives shared by the CPU attention kernels (dense and sparse use the same
// ones, so that a sparse selection of every key reproduces dense attention bit for bit).
#pragma once

namespace dllm::kernels::cpu {

// Σ a[i]·b[i] with eight partial sums (AVX2/FMA clone picked at run time).
float dot(const float* a, const float* b, int n);
// out[i] += a · x[i]
void axpy(float* out, float a, const float* x, int n);

}  // namespace dllm::kernels::cpu

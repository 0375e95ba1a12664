// DeviceBuffer: an owning, typed allocation in a Backend's memory (RAII).
#pragma once

#include <cstddef>
#include <utility>

#include "kernels/backend.h"

namespace dllm {

template <typename T>
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  DeviceBuffer(kernels::Backend* backend, size_t count)
      : backend_(backend), count_(count),
        data_(count ? static_cast<T*>(backend->allocate(count * sizeof(T))) : nullptr) {}
  ~DeviceBuffer() { reset(); }
  DeviceBuffer(DeviceBuffer&& o) noexcept { *this = std::move(o); }
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept {
    if (this != &o) {
      reset();
      backend_ = std::exchange(o.backend_, nullptr);
      count_ = std::exchange(o.count_, 0);
      data_ = std::exchange(o.data_, nullptr);
    }
    return *this;
  }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;

  // Grows (never shrinks) to hold `count` elements; contents are not kept.
  void ensure(kernels::Backend* backend, size_t count) {
    if (count <= count_ && backend == backend_) return;
    *this = DeviceBuffer(backend, count);
  }
  void reset() {
    if (data_ != nullptr) backend_->release(data_);
    data_ = nullptr;
    count_ = 0;
  }
  T* data() const { return data_; }
  size_t size() const { return count_; }

 private:
  kernels::Backend* backend_ = nullptr;
  size_t count_ = 0;
  T* data_ = nullptr;
};

}  // namespace dllm

// What the GPU modes of dllm-bench-transfer share: a forked child that fills a device arena and
// exposes it through a transport, the parent's end of its pipes, pulls in pieces, timing helpers.
#pragma once

#include <cuda_runtime_api.h>
#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "common/transfer/transport.h"

namespace dllm::bench {

using Clock = std::chrono::steady_clock;

// Prints what failed and returns false unless `e` is cudaSuccess.
bool check(cudaError_t e, const char* what);

// Not zeros: a copy of zeros can run faster than one of real data.
std::vector<uint8_t> pattern(size_t n);

double median(std::vector<double> v);
double seconds_since(Clock::time_point t0);

// [offset, +bytes) of `descriptor` into `dst` as `pieces` pull_async calls issued together (how a
// decode node pulls K/V layer by layer); the last failure, or OK.
absl::Status pull_in_pieces(transfer::Transport& t, const std::string& descriptor, size_t offset,
                            void* dst, size_t bytes, size_t pieces);

// Whether `bytes` of device memory at `dst` equal `expected` (false, printed, if the copy fails).
bool device_bytes_equal(const void* dst, const uint8_t* expected, size_t bytes);

// A child process, forked before this process touches CUDA, that allocates `arena_bytes` on
// `device`, fills them with pattern(arena_bytes) and exposes them through `transport` made with
// `options`; it lives until finish() (or destruction). The descriptor is empty when the child did
// not expose.
class ExposerChild {
 public:
  ExposerChild(int device, size_t arena_bytes, const std::string& transport,
               const transfer::TransportOptions& options);
  ExposerChild(const ExposerChild&) = delete;
  ExposerChild& operator=(const ExposerChild&) = delete;
  ~ExposerChild() { finish(0); }

  const std::string& descriptor() const { return descriptor_; }
  // Lets the child go, waits for it and returns `status`.
  int finish(int status);

 private:
  pid_t pid_ = -1;
  int control_fd_ = -1;
  std::string descriptor_;
};

}  // namespace dllm::bench

// The exposing child of the GPU modes of dllm-bench-transfer and the helpers they share.
#include "bench/transfer/exposer_child.h"

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <future>

namespace dllm::bench {
namespace {

bool write_all(int fd, const void* p, size_t n) {
  const char* c = static_cast<const char*>(p);
  while (n > 0) {
    const ssize_t w = write(fd, c, n);
    if (w <= 0) return false;
    c += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

bool read_all(int fd, void* p, size_t n) {
  char* c = static_cast<char*>(p);
  while (n > 0) {
    const ssize_t r = read(fd, c, n);
    if (r <= 0) return false;
    c += r;
    n -= static_cast<size_t>(r);
  }
  return true;
}

[[noreturn]] void run_exposer(int device, size_t arena_bytes, const std::string& transport_name,
                              const transfer::TransportOptions& options, int descriptor_fd,
                              int control_fd) {
  void* arena = nullptr;
  if (!check(cudaSetDevice(device), "child: cudaSetDevice") ||
      !check(cudaMalloc(&arena, arena_bytes), "child: cudaMalloc"))
    _exit(3);
  const std::vector<uint8_t> bytes = pattern(arena_bytes);
  // Synchronized: a copy from pageable memory may return before its DMA lands.
  if (!check(cudaMemcpy(arena, bytes.data(), arena_bytes, cudaMemcpyHostToDevice), "child: fill") ||
      !check(cudaDeviceSynchronize(), "child: fill"))
    _exit(3);
  auto transport = transfer::make_transport(transport_name, options);
  if (!transport.ok()) {
    std::fprintf(stderr, "child: %s\n", transport.status().ToString().c_str());
    _exit(4);
  }
  auto reg = (*transport)->expose(arena, arena_bytes);
  if (!reg.ok()) {
    std::fprintf(stderr, "child: expose: %s\n", reg.status().ToString().c_str());
    _exit(5);
  }
  const std::string& d = (*reg)->descriptor();
  const uint32_t n = static_cast<uint32_t>(d.size());
  if (!write_all(descriptor_fd, &n, sizeof(n)) || !write_all(descriptor_fd, d.data(), n)) _exit(6);
  char byte;
  (void)!read(control_fd, &byte, 1);  // until the parent is done and closes the pipe
  reg->reset();
  transport->reset();
  cudaFree(arena);
  _exit(0);
}

}  // namespace

bool check(cudaError_t e, const char* what) {
  if (e == cudaSuccess) return true;
  std::fprintf(stderr, "dllm-bench-transfer: %s: %s\n", what, cudaGetErrorString(e));
  return false;
}

std::vector<uint8_t> pattern(size_t n) {
  std::vector<uint8_t> v(n);
  uint64_t x = 0x9e3779b97f4a7c15ull;
  for (size_t i = 0; i < n; i += 8) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    std::memcpy(v.data() + i, &x, std::min<size_t>(8, n - i));
  }
  return v;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0.0 : v[v.size() / 2];
}

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

absl::Status pull_in_pieces(transfer::Transport& t, const std::string& descriptor, size_t offset,
                            void* dst, size_t bytes, size_t pieces) {
  std::vector<std::future<absl::Status>> pending;
  for (size_t k = 0; k < pieces; ++k)
    pending.push_back(t.pull_async(descriptor, offset + k * bytes / pieces,
                                   static_cast<uint8_t*>(dst) + k * bytes / pieces, bytes / pieces,
                                   absl::Seconds(60)));
  absl::Status s;
  for (auto& p : pending)
    if (absl::Status ps = p.get(); !ps.ok()) s = ps;
  return s;
}

bool device_bytes_equal(const void* dst, const uint8_t* expected, size_t bytes) {
  std::vector<uint8_t> got(bytes);
  return check(cudaMemcpy(got.data(), dst, bytes, cudaMemcpyDeviceToHost), "read back") &&
         std::memcmp(got.data(), expected, bytes) == 0;
}

ExposerChild::ExposerChild(int device, size_t arena_bytes, const std::string& transport,
                           const transfer::TransportOptions& options) {
  int descriptor_pipe[2], control_pipe[2];
  if (pipe(descriptor_pipe) != 0 || pipe(control_pipe) != 0) return;
  pid_ = fork();  // before this process touches CUDA
  if (pid_ == 0) {
    close(descriptor_pipe[0]);
    close(control_pipe[1]);
    run_exposer(device, arena_bytes, transport, options, descriptor_pipe[1], control_pipe[0]);
  }
  close(descriptor_pipe[1]);
  close(control_pipe[0]);
  control_fd_ = control_pipe[1];
  uint32_t n = 0;
  if (read_all(descriptor_pipe[0], &n, sizeof(n)) && n < (1u << 20)) {
    descriptor_.resize(n);
    if (!read_all(descriptor_pipe[0], descriptor_.data(), n)) descriptor_.clear();
  }
  close(descriptor_pipe[0]);
}

int ExposerChild::finish(int status) {
  if (control_fd_ >= 0) close(control_fd_);
  control_fd_ = -1;
  if (pid_ > 0) waitpid(pid_, nullptr, 0);
  pid_ = -1;
  return status;
}

}  // namespace dllm::bench

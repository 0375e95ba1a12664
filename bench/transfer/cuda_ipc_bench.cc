// The --cuda-ipc mode of dllm-bench-transfer. A forked child (forked before this process touches
// CUDA) allocates a source arena on the GPU, fills it and exposes it through the cuda_ipc
// transport; this process holds an arena of the same bytes and, for each size and iteration,
// times in turn:
//   memcpy  cudaMemcpyAsync device-to-device within this process + stream synchronize, on the
//           host clock (the ceiling: what a caller waiting for a local copy sees);
//   events  the same copy timed by CUDA events (the copy engine's time alone, for reference);
//   pull    Transport::pull from the child's arena into this process's memory, host clock;
//   async   Transport::pull_async(...).get(), host clock (through the completion thread);
//   8 async the same bytes as 8 pull_async pieces issued together, then all waited for (how a
//           decode node pulls K/V layer by layer).
// pull/memcpy is the like-for-like ratio (both include enqueueing and waiting on the host);
// pull/events holds the pull to the GPU's copy time alone, which small sizes cannot reach.
// Iterations walk through the arena, so that a copy does not find its source in L2. GB/s count
// the bytes copied (each is read once and written once). Medians of --iters.
#include "bench/transfer/cuda_ipc_bench.h"

#include <cuda_runtime_api.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "bench/transfer/exposer_child.h"
#include "common/transfer/transport.h"

namespace dllm::bench {
namespace {

constexpr size_t kPieces = 8;

}  // namespace

int run_cuda_ipc_bench(const CudaIpcBenchOptions& o) {
  const size_t max_bytes = *std::max_element(o.sizes_mib.begin(), o.sizes_mib.end()) << 20;
  const size_t arena_bytes = std::max(max_bytes, size_t{1} << 30);
  ExposerChild child(o.device, arena_bytes, "cuda_ipc", {});
  const std::string& descriptor = child.descriptor();
  if (descriptor.empty()) {
    std::fprintf(stderr, "dllm-bench-transfer: the child did not expose its arena\n");
    return child.finish(1);
  }

  cudaDeviceProp prop{};
  void *src = nullptr, *dst = nullptr;
  cudaStream_t stream = nullptr;
  cudaEvent_t ev[2] = {nullptr, nullptr};
  const std::vector<uint8_t> expected = pattern(arena_bytes);
  if (!check(cudaSetDevice(o.device), "cudaSetDevice") ||
      !check(cudaGetDeviceProperties(&prop, o.device), "cudaGetDeviceProperties") ||
      !check(cudaMalloc(&src, arena_bytes), "cudaMalloc") ||
      !check(cudaMalloc(&dst, max_bytes), "cudaMalloc") ||
      !check(cudaMemcpy(src, expected.data(), arena_bytes, cudaMemcpyHostToDevice), "fill") ||
      !check(cudaDeviceSynchronize(), "fill") ||
      !check(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), "cudaStreamCreate") ||
      !check(cudaEventCreate(&ev[0]), "cudaEventCreate") ||
      !check(cudaEventCreate(&ev[1]), "cudaEventCreate"))
    return child.finish(1);
  auto transport = transfer::make_transport("cuda_ipc", {});
  if (!transport.ok()) {
    std::fprintf(stderr, "%s\n", transport.status().ToString().c_str());
    return child.finish(1);
  }
  transfer::Transport& t = **transport;
  const auto* src_bytes = static_cast<const uint8_t*>(src);

  std::printf("device %d: %s, cuda_ipc between two processes; median of %d; GB/s = bytes copied\n",
              o.device, prop.name, o.iters);
  std::printf("%10s %12s %12s %12s %12s %12s %12s %12s\n", "size", "memcpy GB/s", "events GB/s",
              "pull GB/s", "async GB/s", "8 async GB/s", "pull/memcpy", "pull/events");
  // Clocks up, the mapping opened: none of that belongs to a figure.
  for (int k = 0; k < 10; ++k) {
    cudaMemcpyAsync(dst, src, max_bytes, cudaMemcpyDeviceToDevice, stream);
    (void)t.pull(descriptor, 0, dst, max_bytes, absl::Seconds(60));
  }
  cudaStreamSynchronize(stream);

  bool all_ok = true;
  for (size_t mib : o.sizes_mib) {
    const size_t bytes = mib << 20;
    const size_t slots = arena_bytes / bytes;
    std::vector<double> t_memcpy, t_events, t_pull, t_async, t_pieces;
    bool ok = true;
    for (int it = 0; it < o.iters && ok; ++it) {
      const size_t offset = (static_cast<size_t>(it) % slots) * bytes;
      Clock::time_point t0 = Clock::now();
      cudaEventRecord(ev[0], stream);
      cudaMemcpyAsync(dst, src_bytes + offset, bytes, cudaMemcpyDeviceToDevice, stream);
      cudaEventRecord(ev[1], stream);
      ok &= check(cudaStreamSynchronize(stream), "memcpy");
      t_memcpy.push_back(seconds_since(t0));
      float ms = 0.0f;
      cudaEventElapsedTime(&ms, ev[0], ev[1]);
      t_events.push_back(ms / 1e3);

      const size_t pull_offset = ((static_cast<size_t>(it) + slots / 2) % slots) * bytes;
      t0 = Clock::now();
      absl::Status s = t.pull(descriptor, pull_offset, dst, bytes, absl::Seconds(60));
      t_pull.push_back(seconds_since(t0));
      if (s.ok()) {
        t0 = Clock::now();
        s = pull_in_pieces(t, descriptor, pull_offset, dst, bytes, kPieces);
        t_pieces.push_back(seconds_since(t0));
      }
      if (s.ok()) {
        t0 = Clock::now();
        s = t.pull_async(descriptor, offset, dst, bytes, absl::Seconds(60)).get();
        t_async.push_back(seconds_since(t0));
      }
      if (!s.ok()) {
        std::fprintf(stderr, "pull: %s\n", s.ToString().c_str());
        ok = false;
      }
    }
    // The last pull_async read [offset, +bytes) of the child's arena: compare it all.
    const size_t last = (static_cast<size_t>(o.iters - 1) % slots) * bytes;
    ok = ok && device_bytes_equal(dst, expected.data() + last, bytes);
    all_ok &= ok;
    auto gbs = [&](const std::vector<double>& v) { return bytes / median(v) / 1e9; };
    std::printf("%6zu MiB %12.1f %12.1f %12.1f %12.1f %12.1f %11.0f%% %11.0f%%%s\n", mib,
                gbs(t_memcpy), gbs(t_events), gbs(t_pull), gbs(t_async), gbs(t_pieces),
                100.0 * median(t_memcpy) / median(t_pull),
                100.0 * median(t_events) / median(t_pull), ok ? "" : "  (FAILED OR BYTES DIFFER)");
    std::fflush(stdout);
  }
  transport->reset();
  cudaEventDestroy(ev[0]);
  cudaEventDestroy(ev[1]);
  cudaStreamDestroy(stream);
  cudaFree(src);
  cudaFree(dst);
  return child.finish(all_ok ? 0 : 1);
}

}  // namespace dllm::bench

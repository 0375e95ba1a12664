// The --transport nccl mode of dllm-bench-transfer. A forked child (forked before this process
// touches CUDA) allocates a source arena on --device, fills it and exposes it through the nccl
// transport; this process, on --pull-device, times for each size and iteration:
//   peer    cudaMemcpyPeerAsync from an arena of this process on --device into --pull-device +
//           stream synchronize, host clock (the ceiling: the GPU-to-GPU link as CUDA drives it);
//   pull    Transport::pull from the child's arena into device memory, host clock;
//   8 async the same bytes as 8 pull_async pieces issued together (how a decode node pulls K/V
//           layer by layer; they run one after another on the pair);
//   host    Transport::pull into pageable host memory (staged through a device buffer).
// The first pull (communicator set-up) is timed on its own. Medians of --iters; GB/s count the
// bytes moved. NCCL cannot put both ranks on one GPU: the two devices must differ.
#include "bench/transfer/nccl_bench.h"

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

transfer::TransportOptions nccl_options(int device, size_t piece_mib) {
  transfer::TransportOptions o;
  o.nccl_device = device;
  o.nccl_piece_bytes = piece_mib << 20;
  return o;
}

}  // namespace

int run_nccl_bench(const NcclBenchOptions& o) {
  if (o.expose_device == o.pull_device) {
    std::fprintf(stderr,
                 "dllm-bench-transfer: NCCL cannot put both ranks on one GPU: give --device and "
                 "--pull-device different GPUs\n");
    return 1;
  }
  const size_t max_bytes = *std::max_element(o.sizes_mib.begin(), o.sizes_mib.end()) << 20;
  const size_t arena_bytes = std::max(max_bytes, size_t{1} << 30);
  ExposerChild child(o.expose_device, arena_bytes, "nccl",
                     nccl_options(o.expose_device, o.piece_mib));
  const std::string& descriptor = child.descriptor();
  if (descriptor.empty()) {
    std::fprintf(stderr, "dllm-bench-transfer: the child did not expose its arena\n");
    return child.finish(1);
  }

  cudaDeviceProp props[2]{};
  void *peer_src = nullptr, *dst = nullptr;
  cudaStream_t stream = nullptr;
  const std::vector<uint8_t> expected = pattern(arena_bytes);
  if (!check(cudaGetDeviceProperties(&props[0], o.expose_device), "cudaGetDeviceProperties") ||
      !check(cudaGetDeviceProperties(&props[1], o.pull_device), "cudaGetDeviceProperties") ||
      !check(cudaSetDevice(o.expose_device), "cudaSetDevice") ||
      !check(cudaMalloc(&peer_src, arena_bytes), "cudaMalloc") ||
      !check(cudaMemcpy(peer_src, expected.data(), arena_bytes, cudaMemcpyHostToDevice), "fill") ||
      !check(cudaSetDevice(o.pull_device), "cudaSetDevice") ||
      !check(cudaMalloc(&dst, max_bytes), "cudaMalloc") ||
      !check(cudaDeviceSynchronize(), "fill") ||
      !check(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), "cudaStreamCreate"))
    return child.finish(1);
  int can_access = 0;
  cudaDeviceCanAccessPeer(&can_access, o.pull_device, o.expose_device);
  if (can_access) cudaDeviceEnablePeerAccess(o.expose_device, 0);
  cudaGetLastError();
  auto transport = transfer::make_transport("nccl", nccl_options(o.pull_device, o.piece_mib));
  if (!transport.ok()) {
    std::fprintf(stderr, "%s\n", transport.status().ToString().c_str());
    return child.finish(1);
  }
  transfer::Transport& t = **transport;
  const auto* peer_bytes = static_cast<const uint8_t*>(peer_src);
  std::vector<uint8_t> host(max_bytes, 1);

  Clock::time_point t0 = Clock::now();
  absl::Status first = t.pull(descriptor, 0, dst, 4096, absl::Seconds(120));
  const double setup = seconds_since(t0);
  if (!first.ok()) {
    std::fprintf(stderr, "first pull: %s\n", first.ToString().c_str());
    return child.finish(1);
  }
  std::printf(
      "nccl: GPU %d (%s) exposes, GPU %d (%s) pulls; peer access %s; first pull (sets up "
      "the communicator) %.1f ms; pieces %zu MiB; median of %d; GB/s = bytes moved\n",
      o.expose_device, props[0].name, o.pull_device, props[1].name, can_access ? "on" : "off",
      setup * 1e3, o.piece_mib, o.iters);
  std::printf("%10s %12s %12s %12s %12s %11s\n", "size", "peer GB/s", "pull GB/s", "8 async GB/s",
              "host GB/s", "pull/peer");
  for (int k = 0; k < 5; ++k) {  // clocks up, channels connected
    cudaMemcpyPeerAsync(dst, o.pull_device, peer_src, o.expose_device, max_bytes, stream);
    cudaStreamSynchronize(stream);
    (void)t.pull(descriptor, 0, dst, max_bytes, absl::Seconds(60));
  }

  bool all_ok = true;
  for (size_t mib : o.sizes_mib) {
    const size_t bytes = mib << 20;
    const size_t slots = arena_bytes / bytes;
    std::vector<double> t_peer, t_pull, t_pieces, t_host;
    bool ok = true;
    size_t last = 0;
    for (int it = 0; it < o.iters && ok; ++it) {
      const size_t offset = (static_cast<size_t>(it) % slots) * bytes;
      t0 = Clock::now();
      cudaMemcpyPeerAsync(dst, o.pull_device, peer_bytes + offset, o.expose_device, bytes, stream);
      ok &= check(cudaStreamSynchronize(stream), "cudaMemcpyPeer");
      t_peer.push_back(seconds_since(t0));

      const size_t pull_offset = ((static_cast<size_t>(it) + slots / 2) % slots) * bytes;
      t0 = Clock::now();
      absl::Status s = t.pull(descriptor, pull_offset, dst, bytes, absl::Seconds(60));
      t_pull.push_back(seconds_since(t0));
      if (s.ok()) {
        t0 = Clock::now();
        s = t.pull(descriptor, pull_offset, host.data(), bytes, absl::Seconds(60));
        t_host.push_back(seconds_since(t0));
      }
      if (s.ok()) {
        t0 = Clock::now();
        s = pull_in_pieces(t, descriptor, offset, dst, bytes, kPieces);
        t_pieces.push_back(seconds_since(t0));
        last = offset;
      }
      if (!s.ok()) {
        std::fprintf(stderr, "pull: %s\n", s.ToString().c_str());
        ok = false;
      }
    }
    // dst holds [last, +bytes) of the child's arena from the pieces, host the last plain pull.
    ok = ok && device_bytes_equal(dst, expected.data() + last, bytes);
    all_ok &= ok;
    auto gbs = [&](const std::vector<double>& v) {
      return v.empty() ? 0.0 : bytes / median(v) / 1e9;
    };
    std::printf("%6zu MiB %12.1f %12.1f %12.1f %12.1f %10.0f%%%s\n", mib, gbs(t_peer), gbs(t_pull),
                gbs(t_pieces), gbs(t_host), 100.0 * median(t_peer) / median(t_pull),
                ok ? "" : "  (FAILED OR BYTES DIFFER)");
    std::fflush(stdout);
  }
  transport->reset();
  cudaStreamDestroy(stream);
  cudaFree(dst);
  cudaSetDevice(o.expose_device);
  cudaFree(peer_src);
  return child.finish(all_ok ? 0 : 1);
}

}  // namespace dllm::bench

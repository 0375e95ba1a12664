// dllm-bench-transfer: what a decode node's K/V pull costs, against the ceilings of this machine.
//
//   dllm-bench-transfer [--sizes-mib 1,16,64,256] [--iters 5] [--ucx-tls tcp]
//                       [--protocol auto|am|rma] [--piece-kib 1024] [--segment-kib 1024]
//   dllm-bench-transfer --cuda-ipc [--sizes-mib 16,64,256,1024] [--iters 20] [--device 0]
//   dllm-bench-transfer --transport nccl [--sizes-mib 16,64,256,1024] [--iters 20] [--device 0]
//                       [--pull-device 1] [--nccl-piece-mib 64]
//
// --cuda-ipc (or --transport cuda_ipc; CUDA builds): cuda_ipc pulls between two processes on one
// GPU against the GPU's device-to-device copy, in the same run (cuda_ipc_bench.cc).
// --transport nccl (CUDA builds with nccl.h, two GPUs): nccl pulls from a process on --device
// into one on --pull-device against cudaMemcpyPeer between them, in the same run
// (nccl_bench.cc). The rest of this comment is about the default mode (--transport ucx).
//
// One run measures, for each size: memcpy in this process; a plain TCP socket copy over loopback
// from a forked child; and a ucx transport pull of the same bytes, exposed by the same child.
// TCP is the best of four simple setups (kernel-tuned or 4 MiB socket buffers, times 1 MiB or
// whole-size send()/recv() calls): on loopback explicit buffers are often slower, so the
// baseline takes whichever wins here. Every figure is the best of --iters; the child is forked
// before this process touches UCX.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "common/transfer/transport.h"
#if DLLM_TRANSFER_HAVE_CUDA_IPC
#include "bench/transfer/cuda_ipc_bench.h"
#endif
#if DLLM_TRANSFER_HAVE_NCCL
#include "bench/transfer/nccl_bench.h"
#endif

using dllm::transfer::Transport;
using dllm::transfer::TransportOptions;
using dllm::transfer::UcxProtocol;

namespace {

struct Args {
  std::vector<size_t> sizes_mib = {1, 16, 64, 256};
  int iters = 5;
  TransportOptions transport;
  bool cuda_ipc = false;
  bool nccl = false;
  bool sizes_given = false, iters_given = false;
  int device = 0;
  int pull_device = 1;      // nccl
  size_t nccl_piece_mib = 64;
};

[[noreturn]] void usage(const char* why) {
  std::fprintf(stderr,
               "dllm-bench-transfer: %s\nusage: dllm-bench-transfer [--sizes-mib 1,16,64,256] "
               "[--iters 5] [--ucx-tls tcp] [--protocol auto|am|rma] [--piece-kib 1024] "
               "[--segment-kib 1024]\n"
               "       dllm-bench-transfer --cuda-ipc [--sizes-mib 16,64,256,1024] [--iters 20] "
               "[--device 0]\n"
               "       dllm-bench-transfer --transport nccl [--sizes-mib 16,64,256,1024] "
               "[--iters 20] [--device 0] [--pull-device 1] [--nccl-piece-mib 64]\n",
               why);
  std::exit(2);
}

Args parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "--cuda-ipc") {
      a.cuda_ipc = true;
      continue;
    }
    if (i + 1 >= argc) usage(("missing value for " + flag).c_str());
    const std::string value = argv[++i];
    size_t n = 0;
    if (flag == "--sizes-mib") {
      a.sizes_given = true;
      a.sizes_mib.clear();
      for (absl::string_view s : absl::StrSplit(value, ',')) {
        if (!absl::SimpleAtoi(s, &n) || n == 0) usage("--sizes-mib takes positive integers");
        a.sizes_mib.push_back(n);
      }
    } else if (flag == "--iters") {
      if (!absl::SimpleAtoi(value, &a.iters) || a.iters <= 0) usage("--iters must be > 0");
      a.iters_given = true;
    } else if (flag == "--device") {
      if (!absl::SimpleAtoi(value, &a.device) || a.device < 0) usage("--device must be >= 0");
    } else if (flag == "--transport") {
      if (value == "cuda_ipc")
        a.cuda_ipc = true;
      else if (value == "nccl")
        a.nccl = true;
      else if (value != "ucx")
        usage("--transport is ucx, cuda_ipc or nccl");
    } else if (flag == "--pull-device") {
      if (!absl::SimpleAtoi(value, &a.pull_device) || a.pull_device < 0)
        usage("--pull-device must be >= 0");
    } else if (flag == "--nccl-piece-mib") {
      if (!absl::SimpleAtoi(value, &a.nccl_piece_mib) || a.nccl_piece_mib == 0)
        usage("--nccl-piece-mib must be > 0");
    } else if (flag == "--ucx-tls") {
      a.transport.ucx_tls = value;
    } else if (flag == "--protocol") {
      if (value == "auto")
        a.transport.ucx_protocol = UcxProtocol::kAuto;
      else if (value == "am")
        a.transport.ucx_protocol = UcxProtocol::kActiveMessage;
      else if (value == "rma")
        a.transport.ucx_protocol = UcxProtocol::kRma;
      else
        usage("--protocol is auto, am or rma");
    } else if (flag == "--piece-kib") {
      if (!absl::SimpleAtoi(value, &n) || n == 0) usage("--piece-kib must be > 0");
      a.transport.ucx_piece_bytes = n << 10;
    } else if (flag == "--segment-kib") {
      if (!absl::SimpleAtoi(value, &n)) usage("--segment-kib must be >= 0 (0 = UCX default)");
      a.transport.ucx_tcp_segment_bytes = n << 10;
    } else {
      usage(("unknown flag " + flag).c_str());
    }
  }
  return a;
}

std::vector<uint8_t> pattern(size_t n) {
  std::vector<uint8_t> v(n);
  uint64_t x = 0x9e3779b97f4a7c15ull;
  for (size_t i = 0; i < n; ++i) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    v[i] = static_cast<uint8_t>(x);
  }
  return v;
}

// Moves n bytes in calls of at most `chunk` bytes.
bool io_all(int fd, void* p, size_t n, bool sending, size_t chunk = SIZE_MAX) {
  auto* c = static_cast<char*>(p);
  while (n > 0) {
    const size_t step = std::min(n, chunk);
    const ssize_t k = sending ? send(fd, c, step, MSG_NOSIGNAL) : recv(fd, c, step, 0);
    if (k <= 0) return false;
    c += k;
    n -= static_cast<size_t>(k);
  }
  return true;
}

constexpr int kTunedBuffer = 4 << 20;

// Before listen()/connect(), so that the window scale matches.
void set_socket_buffers(int fd, bool tuned) {
  if (!tuned) return;  // leave the kernel's autotuning alone
  setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &kTunedBuffer, sizeof(kTunedBuffer));
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &kTunedBuffer, sizeof(kTunedBuffer));
}

struct CopyRequest {
  uint64_t bytes = 0;
  uint64_t chunk = 0;  // send() call size
};

void serve_tcp(int listen_fd, const std::vector<uint8_t>* buffer) {
  const int conn = accept(listen_fd, nullptr, nullptr);
  CopyRequest r;
  while (io_all(conn, &r, sizeof(r), false) && r.bytes <= buffer->size())
    if (!io_all(conn, const_cast<uint8_t*>(buffer->data()), r.bytes, true, r.chunk)) break;
  close(conn);
}

int listen_loopback(bool tuned, sockaddr_in* addr) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  set_socket_buffers(fd, tuned);
  *addr = sockaddr_in{};
  addr->sin_family = AF_INET;
  addr->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(*addr);
  if (bind(fd, reinterpret_cast<sockaddr*>(addr), sizeof(*addr)) != 0 || listen(fd, 1) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(addr), &len) != 0) {
    std::perror("listen");
    std::exit(1);
  }
  return fd;
}

// The child: serves TCP copies of its buffer (one connection per buffer setup) and exposes the
// same buffer over ucx.
[[noreturn]] void serve(const int listen_fds[2], int descriptor_fd, int control_fd,
                        size_t max_bytes, const TransportOptions& options) {
  const std::vector<uint8_t> buffer = pattern(max_bytes);
  auto transport = dllm::transfer::make_transport("ucx", options);
  if (!transport.ok()) {
    std::fprintf(stderr, "child: %s\n", transport.status().ToString().c_str());
    _exit(3);
  }
  auto reg = (*transport)->expose(buffer.data(), buffer.size());
  if (!reg.ok()) _exit(4);
  const std::string& d = (*reg)->descriptor();
  const uint32_t n = static_cast<uint32_t>(d.size());
  if (write(descriptor_fd, &n, 4) != 4 ||
      write(descriptor_fd, d.data(), n) != static_cast<ssize_t>(n))
    _exit(5);
  std::thread tuned(serve_tcp, listen_fds[1], &buffer);
  serve_tcp(listen_fds[0], &buffer);
  tuned.join();
  char byte;
  (void)!read(control_fd, &byte, 1);  // the parent is done with ucx when this pipe closes
  reg->reset();
  transport->reset();
  _exit(0);
}

}  // namespace

int main(int argc, char** argv) {
  const Args args = parse(argc, argv);
  if (args.cuda_ipc) {
#if DLLM_TRANSFER_HAVE_CUDA_IPC
    dllm::bench::CudaIpcBenchOptions o;
    if (args.sizes_given) o.sizes_mib = args.sizes_mib;
    if (args.iters_given) o.iters = args.iters;
    o.device = args.device;
    return dllm::bench::run_cuda_ipc_bench(o);
#else
    usage("--cuda-ipc needs a CUDA build (this one has no cuda_ipc transport)");
#endif
  }
  if (args.nccl) {
#if DLLM_TRANSFER_HAVE_NCCL
    dllm::bench::NcclBenchOptions o;
    if (args.sizes_given) o.sizes_mib = args.sizes_mib;
    if (args.iters_given) o.iters = args.iters;
    o.expose_device = args.device;
    o.pull_device = args.pull_device;
    o.piece_mib = args.nccl_piece_mib;
    return dllm::bench::run_nccl_bench(o);
#else
    usage("--transport nccl needs a CUDA build with nccl.h (this one has no nccl transport)");
#endif
  }
  const size_t max_bytes = *std::max_element(args.sizes_mib.begin(), args.sizes_mib.end()) << 20;

  sockaddr_in addrs[2];
  const int listen_fds[2] = {listen_loopback(false, &addrs[0]), listen_loopback(true, &addrs[1])};
  int descriptor_pipe[2], control_pipe[2];
  if (pipe(descriptor_pipe) != 0 || pipe(control_pipe) != 0) return 1;
  const pid_t child = fork();
  if (child == 0) {
    close(descriptor_pipe[0]);
    close(control_pipe[1]);
    serve(listen_fds, descriptor_pipe[1], control_pipe[0], max_bytes, args.transport);
  }
  close(listen_fds[0]);
  close(listen_fds[1]);
  close(descriptor_pipe[1]);
  close(control_pipe[0]);

  uint32_t n = 0;
  std::string descriptor;
  if (read(descriptor_pipe[0], &n, 4) == 4) {
    descriptor.resize(n);
    if (read(descriptor_pipe[0], descriptor.data(), n) != static_cast<ssize_t>(n))
      descriptor.clear();
  }
  if (descriptor.empty()) {
    std::fprintf(stderr, "the child did not expose its buffer\n");
    return 1;
  }
  int tcp[2];
  for (int i = 0; i < 2; ++i) {
    tcp[i] = socket(AF_INET, SOCK_STREAM, 0);
    set_socket_buffers(tcp[i], i == 1);
    if (connect(tcp[i], reinterpret_cast<sockaddr*>(&addrs[i]), sizeof(addrs[i])) != 0) {
      std::perror("connect");
      return 1;
    }
  }
  auto transport = dllm::transfer::make_transport("ucx", args.transport);
  if (!transport.ok()) {
    std::fprintf(stderr, "%s\n", transport.status().ToString().c_str());
    return 1;
  }
  const std::vector<uint8_t> expected = pattern(max_bytes);
  std::vector<uint8_t> dst(max_bytes, 1);  // touched: page faults are not part of any figure

  std::printf("%10s %12s %12s %12s %9s   %s\n", "size", "memcpy GB/s", "TCP GB/s", "UCX GB/s",
              "UCX/TCP", "best TCP setup");
  bool all_ok = true;
  for (size_t mib : args.sizes_mib) {
    const size_t bytes = mib << 20;
    (void)(*transport)->pull(descriptor, 0, dst.data(), bytes, absl::Seconds(60));  // warm-up
    // Iterations interleave the methods, so that a burst of load on this machine hits them alike.
    double t_copy = 1e30, t_ucx = 1e30;
    double t_tcp[2][2] = {{1e30, 1e30}, {1e30, 1e30}};  // [tuned buffers][whole-size calls]
    bool tcp_ok = true, ucx_ok = true;
    auto timed = [](auto&& once) {
      const auto t0 = std::chrono::steady_clock::now();
      const bool ok = once();
      return ok ? std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count()
                : -1.0;
    };
    for (int it = 0; it < args.iters; ++it) {
      t_copy = std::min(t_copy, timed([&] {
                          std::memcpy(dst.data(), expected.data(), bytes);
                          return true;
                        }));
      for (int tuned = 0; tuned < 2; ++tuned) {
        for (int whole = 0; whole < 2; ++whole) {
          const size_t chunk = whole ? bytes : size_t{1} << 20;
          std::memset(dst.data(), 0, bytes);
          const double t = timed([&] {
            const CopyRequest r{bytes, chunk};
            return io_all(tcp[tuned], const_cast<CopyRequest*>(&r), sizeof(r), true) &&
                   io_all(tcp[tuned], dst.data(), bytes, false, chunk);
          });
          tcp_ok &= t > 0 && std::memcmp(dst.data(), expected.data(), bytes) == 0;
          if (t > 0) t_tcp[tuned][whole] = std::min(t_tcp[tuned][whole], t);
        }
      }
      std::memset(dst.data(), 0, bytes);
      const double t = timed([&] {
        absl::Status s = (*transport)->pull(descriptor, 0, dst.data(), bytes, absl::Seconds(120));
        if (!s.ok()) std::fprintf(stderr, "ucx pull: %s\n", s.ToString().c_str());
        return s.ok();
      });
      ucx_ok &= t > 0 && std::memcmp(dst.data(), expected.data(), bytes) == 0;
      if (t > 0) t_ucx = std::min(t_ucx, t);
    }
    double best_tcp = 1e30;
    std::string tcp_setup;
    for (int tuned = 0; tuned < 2; ++tuned) {
      for (int whole = 0; whole < 2; ++whole) {
        if (t_tcp[tuned][whole] >= best_tcp) continue;
        best_tcp = t_tcp[tuned][whole];
        tcp_setup = std::string(tuned ? "4 MiB buffers, " : "kernel buffers, ") +
                    (whole ? "whole-size calls" : "1 MiB calls");
      }
    }
    all_ok &= tcp_ok && ucx_ok;
    auto gbs = [&](double t) { return t < 1e29 ? bytes / t / 1e9 : 0.0; };
    std::printf("%6zu MiB %12.2f %12.2f %12.2f %8.0f%%   %s%s\n", mib, gbs(t_copy), gbs(best_tcp),
                gbs(t_ucx), 100.0 * best_tcp / t_ucx, tcp_setup.c_str(),
                tcp_ok && ucx_ok ? "" : "  (BYTES DIFFER)");
    std::fflush(stdout);
  }
  close(tcp[0]);
  close(tcp[1]);
  transport->reset();
  close(control_pipe[1]);
  waitpid(child, nullptr, 0);
  return all_ok ? 0 : 1;
}

// The K/V transfer engine's one interface: expose a host buffer, hand its descriptor to a peer,
// and let the peer pull byte ranges of it. Back ends: `local` (same process), `ucx`, `cuda_ipc`,
// `nccl`. Nothing of UCX, NCCL or CUDA leaks through this header.
#pragma once

#include <cstddef>
#include <cstdint>
#include <future>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace dllm::transfer {

// How the ucx back end moves a pull's bytes. The exposing side picks it and writes it into each
// descriptor; a puller follows the descriptor, whatever its own setting.
enum class UcxProtocol {
  // kActiveMessage when ucx_tls names only tcp, kRma otherwise.
  kAuto,
  // Request/reply served by the exposing side's progress thread: it checks the region is still
  // exposed and holds it until the bytes are sent. Over tcp UCP has no native RMA (it emulates
  // gets with active messages that read the raw address unchecked), so this is the safe and the
  // faster path there.
  kActiveMessage,
  // One-sided ucp_get_nbx with the region's rkey, bracketed by reads of the region's liveness
  // token. The path for fabrics with native RMA (RDMA, shared memory).
  kRma,
};

struct TransportOptions {
  std::string ucx_tls = "tcp";          // UCX_TLS for the ucx transport (tcp on loopback/CI)
  double fault_drop_probability = 0.0;  // fault hook: this fraction of pulls fail with
                                        // Unavailable("injected transfer fault")
  uint64_t fault_seed = 0;

  UcxProtocol ucx_protocol = UcxProtocol::kAuto;
  // A pull is cut into pieces of this size with up to this many in flight: one piece at a time
  // leaves the wire idle between request and reply.
  size_t ucx_piece_bytes = size_t{1} << 20;
  int ucx_pieces_in_flight = 8;
  // UCX's tcp segment (TX_SEG_SIZE; RX is twice that). UCX's 8 KiB default costs a syscall per
  // 8 KiB and halves bandwidth on loopback; 1 MiB costs about 40 MiB of UCX buffers per
  // transport. 0 keeps UCX's default.
  size_t ucx_tcp_segment_bytes = size_t{1} << 20;
  // Regions one transport can expose at once (the liveness-token table is allocated up front;
  // cuda_ipc uses the same limit).
  int ucx_max_regions = 1 << 16;
  // How long unexposing waits for replies still being sent before cutting those connections.
  absl::Duration ucx_unexpose_grace = absl::Milliseconds(500);

  // nccl: the exposing side's control server (pullers connect to it to set up their pair's
  // communicator and to ask for each pull). The host is written into descriptors, so it must be
  // one that pullers can reach. Port 0 picks a free one.
  std::string nccl_control_host = "127.0.0.1";
  int nccl_control_port = 0;
  // The GPU whose memory this transport exposes and pulls into; -1: the calling thread's current
  // device when the transport is made.
  int nccl_device = -1;
  // A pull moves in messages of at most this size; host memory is staged through a device buffer
  // of this size on each side. The exposing side's value rules (it is sent with each reply).
  size_t nccl_piece_bytes = size_t{64} << 20;
  // How long unexposing waits for sends still reading the region before aborting those pairs.
  absl::Duration nccl_unexpose_grace = absl::Milliseconds(500);
};

struct TransportCapabilities {
  bool cross_process = false;  // descriptors work in another process
  bool device_memory = false;  // expose() accepts GPU memory
};

// A region exposed for remote reads; unexposed when destroyed (pulls in flight then fail
// cleanly). The caller keeps the memory alive until the Registration is gone.
class Registration {
 public:
  virtual ~Registration() = default;
  // Opaque bytes a peer passes to Transport::pull (carried in gRPC messages as `bytes`). They name
  // the transport, so pulling a ucx descriptor with the local transport is a clear InvalidArgument.
  virtual const std::string& descriptor() const = 0;
  virtual size_t size() const = 0;
};

class Transport {
 public:
  virtual ~Transport() = default;
  virtual std::string_view name() const = 0;
  virtual TransportCapabilities capabilities() const = 0;
  // InvalidArgument for a null or empty region.
  virtual absl::StatusOr<std::unique_ptr<Registration>> expose(const void* data, size_t bytes) = 0;
  // Copies [offset, offset + bytes) of the remote region into dst. Thread-safe (many concurrent
  // pulls from different threads). DeadlineExceeded on timeout, Unavailable when the peer died
  // or went away or the region is no longer exposed (never hangs past the timeout), OutOfRange
  // past the region's end, InvalidArgument for a malformed / foreign descriptor. dst is not
  // written once the future is ready.
  virtual std::future<absl::Status> pull_async(std::string_view descriptor, size_t offset,
                                               void* dst, size_t bytes, absl::Duration timeout) = 0;
  // pull_async(...).get(); a back end with a cheaper way to wait in the caller's thread
  // (cuda_ipc) overrides it.
  virtual absl::Status pull(std::string_view descriptor, size_t offset, void* dst, size_t bytes,
                            absl::Duration timeout);
};

// "local" | "ucx" | "cuda_ipc" | "nccl". InvalidArgument for an unknown name, Unimplemented for a
// back end this build lacks. A fault_drop_probability > 0 wraps the transport in the fault hook.
absl::StatusOr<std::unique_ptr<Transport>> make_transport(std::string_view name,
                                                          const TransportOptions& options);

// A future that is already resolved (validation failures, the local back end).
std::future<absl::Status> ready_future(absl::Status status);

}  // namespace dllm::transfer

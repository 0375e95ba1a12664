// The cuda_ipc back end. Exposing publishes a CUDA IPC handle of the allocation that holds the
// region, plus a slot of the exporter's token table (cuda_ipc_liveness.h: CUDA IPC cannot revoke
// a mapping, so liveness is checked around every copy). A puller opens the handle once per
// allocation and device and caches the mapping; a pull is one cudaMemcpyAsync on a stream of
// the caller's current device, from the mapping into dst.
//
// Completion: pull() waits in the caller's thread (it sleeps while the copy surely runs, then
// polls its event), which costs what a synchronous cudaMemcpy costs. pull_async() hands the copy
// to one completion thread per transport that does the same for every copy in flight. A copy
// cannot be cancelled, so a pull past its deadline still waits for its copy before reporting
// DeadlineExceeded: dst is never written after the future is ready (a local DMA does not hang).
//
// Mappings stay open across pulls (opening one costs far more than a small copy). One is closed
// when the puller next opens another allocation and finds every region it pulled through it
// unexposed, or when its exporter is gone. CUDA calls freeing an allocation that an importer
// still maps undefined: exporters should expose regions of long-lived allocations (a K/V pool)
// and unexpose before freeing. (On the H100, driver 580, allocations freed and made again under
// a cached mapping pulled the right bytes: tests/gpu/cuda_ipc_transport_test.)
#include "common/transfer/cuda_ipc_transport.h"

#include <cuda_runtime_api.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/transfer/cuda_ipc_descriptor.h"
#include "common/transfer/cuda_ipc_liveness.h"
#include "common/transfer/cuda_ipc_memory.h"
#include "common/transfer/range_check.h"

namespace dllm::transfer {
namespace {

using Clock = std::chrono::steady_clock;

// Faster than any device-to-device copy of today (H100 ≈ 1.5 TB/s, H200 ≈ 2.1): a waiter sleeps
// until the copy could at best be done, less this window, then polls.
constexpr double kOptimisticBytesPerSecond = 3e12;
constexpr auto kPollWindow = std::chrono::microseconds(100);
// Polling longer than this (a copy into pageable host memory, a busy GPU) backs off to sleeps.
constexpr auto kSpinLimit = std::chrono::milliseconds(1);
constexpr auto kBackoffSleep = std::chrono::microseconds(20);
// How long the completion thread polls for the next pull before it sleeps.
constexpr auto kLinger = std::chrono::microseconds(200);
constexpr int kStreamsPerDevice = 4;

absl::Status cuda_status(cudaError_t e, const char* what) {
  return absl::InternalError(absl::StrCat("cuda_ipc: ", what, ": ", cudaGetErrorString(e)));
}

Clock::time_point deadline_after(absl::Duration timeout) {
  if (timeout > absl::Hours(24 * 365)) return Clock::time_point::max();  // no overflow
  return Clock::now() + absl::ToChronoNanoseconds(std::max(timeout, absl::ZeroDuration()));
}

struct PullInFlight {
  std::shared_ptr<PeerTokenTable> peer;
  std::shared_ptr<IpcMapping> mapping;  // null for a region of this process
  uint32_t slot = 0;
  uint64_t token = 0;
  int device = 0;
  cudaEvent_t event = nullptr;
  Clock::time_point deadline, earliest_done;
  bool late = false;
  std::promise<absl::Status> done;

  // One look: true once the copy has finished (its result in *result).
  bool poll(cudaError_t* result) {
    const cudaError_t q = cudaEventQuery(event);
    if (q != cudaErrorNotReady) {
      *result = q;
      return true;
    }
    late |= Clock::now() > deadline;
    return false;
  }
};

class CudaIpcRegistration final : public Registration {
 public:
  CudaIpcRegistration(std::shared_ptr<ExporterTokenTable> table, uint32_t slot, size_t size,
                      std::string descriptor, absl::Duration grace)
      : table_(std::move(table)),
        slot_(slot),
        size_(size),
        descriptor_(std::move(descriptor)),
        grace_(grace) {}
  ~CudaIpcRegistration() override { table_->remove(slot_, grace_); }
  const std::string& descriptor() const override { return descriptor_; }
  size_t size() const override { return size_; }

 private:
  std::shared_ptr<ExporterTokenTable> table_;
  uint32_t slot_;
  size_t size_;
  std::string descriptor_;
  absl::Duration grace_;
};

class CudaIpcTransport final : public Transport {
 public:
  CudaIpcTransport(std::unique_ptr<ExporterTokenTable> table, absl::Duration grace)
      : table_(std::move(table)), grace_(grace), completer_([this] { complete_pulls(); }) {}

  ~CudaIpcTransport() override {
    {
      std::lock_guard<std::mutex> lock(queue_mu_);
      stopping_ = true;
    }
    queue_cv_.notify_one();
    completer_.join();  // after every copy in flight has finished
    std::lock_guard<std::mutex> lock(mu_);
    mappings_.clear();
    peers_.clear();
    for (auto& [device, res] : devices_) {
      DeviceScope scope(device);
      for (cudaStream_t s : res.streams) cudaStreamDestroy(s);
      for (cudaEvent_t e : res.spare_events) cudaEventDestroy(e);
    }
  }

  std::string_view name() const override { return "cuda_ipc"; }
  TransportCapabilities capabilities() const override {
    return {.cross_process = true, .device_memory = true};
  }

  absl::StatusOr<std::unique_ptr<Registration>> expose(const void* data, size_t bytes) override {
    if (data == nullptr || bytes == 0)
      return absl::InvalidArgumentError("expose needs a non-empty region");
    cudaPointerAttributes attr{};
    if (cudaPointerGetAttributes(&attr, data) != cudaSuccess) {
      cudaGetLastError();  // not sticky; clear it for the caller
      return absl::InvalidArgumentError("cuda_ipc exposes device memory only");
    }
    if (attr.type != cudaMemoryTypeDevice)
      return absl::InvalidArgumentError(
          "cuda_ipc exposes device memory only (cudaMalloc), not host or managed memory");
    DeviceScope scope(attr.device);
    absl::StatusOr<DeviceAllocation> alloc = device_allocation_of(data);
    if (!alloc.ok()) return alloc.status();
    const uint64_t offset = reinterpret_cast<uintptr_t>(data) - alloc->base;
    if (bytes > alloc->size - offset)
      return absl::InvalidArgumentError("cuda_ipc: the region spans more than one allocation");
    cudaIpcMemHandle_t handle;
    if (cudaError_t e = cudaIpcGetMemHandle(&handle, reinterpret_cast<void*>(alloc->base));
        e != cudaSuccess) {
      cudaGetLastError();
      return absl::InvalidArgumentError(
          absl::StrCat("cuda_ipc: this allocation cannot be shared over CUDA IPC (",
                       cudaGetErrorString(e), "); expose memory from cudaMalloc"));
    }
    absl::StatusOr<std::pair<uint32_t, uint64_t>> slot = table_->add();
    if (!slot.ok()) return slot.status();
    CudaIpcDescriptor d;
    d.pid = static_cast<uint64_t>(getpid());
    d.nonce = cuda_ipc_process_nonce();
    d.table = table_->name();
    d.slot = slot->first;
    d.token = slot->second;
    d.handle.assign(reinterpret_cast<const char*>(&handle), sizeof(handle));
    d.base = alloc->base;
    d.buffer_id = alloc->buffer_id;
    d.offset = offset;
    d.size = bytes;
    return std::make_unique<CudaIpcRegistration>(table_, d.slot, bytes,
                                                 encode_cuda_ipc_descriptor(d), grace_);
  }

  std::future<absl::Status> pull_async(std::string_view descriptor, size_t offset, void* dst,
                                       size_t bytes, absl::Duration timeout) override {
    absl::StatusOr<std::unique_ptr<PullInFlight>> p =
        start_pull(descriptor, offset, dst, bytes, timeout);
    if (!p.ok()) return ready_future(p.status());
    if (*p == nullptr) return ready_future(absl::OkStatus());  // nothing to copy
    std::future<absl::Status> done = (*p)->done.get_future();
    {
      std::lock_guard<std::mutex> lock(queue_mu_);
      queued_.push_back(*std::move(p));
    }
    queue_cv_.notify_one();
    return done;
  }

  absl::Status pull(std::string_view descriptor, size_t offset, void* dst, size_t bytes,
                    absl::Duration timeout) override {
    absl::StatusOr<std::unique_ptr<PullInFlight>> p =
        start_pull(descriptor, offset, dst, bytes, timeout);
    if (!p.ok()) return p.status();
    if (*p == nullptr) return absl::OkStatus();
    PullInFlight& pull = **p;
    if (Clock::now() + kPollWindow < pull.earliest_done)
      std::this_thread::sleep_until(std::min(pull.earliest_done - kPollWindow, pull.deadline));
    cudaError_t result = cudaSuccess;
    const Clock::time_point spin_start = Clock::now();
    while (!pull.poll(&result)) {
      if (Clock::now() - spin_start < kSpinLimit)
        std::this_thread::yield();
      else
        std::this_thread::sleep_for(kBackoffSleep);
    }
    return finish_pull(pull, result);
  }

 private:
  struct DeviceResources {
    std::vector<cudaStream_t> streams;
    size_t next_stream = 0;
    std::vector<cudaEvent_t> spare_events;
  };

  // Checks, maps and starts the copy; nullptr for an empty pull.
  absl::StatusOr<std::unique_ptr<PullInFlight>> start_pull(std::string_view descriptor,
                                                           size_t offset, void* dst, size_t bytes,
                                                           absl::Duration timeout) {
    absl::StatusOr<CudaIpcDescriptor> d = decode_cuda_ipc_descriptor(descriptor);
    if (!d.ok()) return d.status();
    if (absl::Status s = check_pull_range(d->size, offset, bytes, dst); !s.ok()) return s;
    if (bytes == 0) return nullptr;
    auto p = std::make_unique<PullInFlight>();
    p->deadline = deadline_after(timeout);
    absl::StatusOr<std::shared_ptr<PeerTokenTable>> peer = peer_table(d->table);
    if (!peer.ok()) return peer.status();
    p->peer = *std::move(peer);
    if (!p->peer->exporter_alive()) {
      forget_peer(*p->peer);
      return absl::UnavailableError("cuda_ipc: the exporting process is gone");
    }
    if (!p->peer->begin_read(d->slot, d->token))
      return absl::UnavailableError("cuda_ipc: the region is no longer exposed");
    p->slot = d->slot;
    p->token = d->token;
    // From here on the copy is counted in the exporter's table: every way out counts it out.
    absl::Status started = start_copy(*d, offset, dst, bytes, *p);
    if (!started.ok()) {
      p->peer->end_read(p->slot, p->token);
      return started;
    }
    p->earliest_done =
        Clock::now() + std::chrono::nanoseconds(static_cast<int64_t>(
                           static_cast<double>(bytes) / kOptimisticBytesPerSecond * 1e9));
    return p;
  }

  absl::Status start_copy(const CudaIpcDescriptor& d, size_t offset, void* dst, size_t bytes,
                          PullInFlight& p) {
    if (cudaError_t e = cudaGetDevice(&p.device); e != cudaSuccess)
      return cuda_status(e, "cudaGetDevice");
    const uint8_t* src = nullptr;
    if (exposed_by_this_process(d)) {
      absl::StatusOr<DeviceAllocation> alloc =
          device_allocation_of(reinterpret_cast<const void*>(d.base));
      if (!alloc.ok() || alloc->base != d.base || d.offset + d.size > alloc->size)
        return absl::InvalidArgumentError("cuda_ipc: the descriptor does not match its allocation");
      src = reinterpret_cast<const uint8_t*>(d.base);
    } else {
      absl::StatusOr<std::shared_ptr<IpcMapping>> m = mapping(d, p.device, p.peer);
      if (!m.ok()) return m.status();
      p.mapping = *std::move(m);
      if (p.mapping->size() != 0 && d.offset + d.size > p.mapping->size())
        return absl::InvalidArgumentError(
            "cuda_ipc: the descriptor claims more than its allocation holds");
      src = p.mapping->base();
    }
    cudaStream_t stream = nullptr;
    if (absl::Status s = stream_and_event(p.device, &stream, &p.event); !s.ok()) return s;
    cudaError_t e = cudaMemcpyAsync(dst, src + d.offset + offset, bytes, cudaMemcpyDefault, stream);
    if (e == cudaSuccess) e = cudaEventRecord(p.event, stream);
    if (e != cudaSuccess) {
      cudaStreamSynchronize(stream);  // whatever was enqueued must not outlive this pull
      release_event(p.device, p.event);
      return cuda_status(e, "cudaMemcpyAsync");
    }
    return absl::OkStatus();
  }

  absl::Status finish_pull(PullInFlight& p, cudaError_t copy) {
    release_event(p.device, p.event);
    const bool still_exposed = p.peer->end_read(p.slot, p.token);
    if (copy != cudaSuccess) return cuda_status(copy, "copy");
    if (p.late) return absl::DeadlineExceededError("cuda_ipc: pull finished past its deadline");
    if (!p.peer->exporter_alive()) {
      forget_peer(*p.peer);
      return absl::UnavailableError("cuda_ipc: the exporting process exited during the pull");
    }
    // Unexposed during the copy: the bytes may belong to the region's next owner.
    if (!still_exposed)
      return absl::UnavailableError("cuda_ipc: the region was unexposed during the pull");
    return absl::OkStatus();
  }

  // The completion thread of pull_async(): polls every copy in flight, sleeping while the
  // earliest could not yet be done; idle on a condition variable.
  void complete_pulls() {
    std::vector<std::unique_ptr<PullInFlight>> active;
    Clock::time_point spin_start{};
    for (;;) {
      {
        std::unique_lock<std::mutex> lock(queue_mu_);
        if (active.empty()) {
          // Pulls come in bursts (a layer after a layer): linger before sleeping, since waking
          // this thread costs more than a short copy.
          const Clock::time_point linger_end = Clock::now() + kLinger;
          while (queued_.empty() && !stopping_ && Clock::now() < linger_end) {
            lock.unlock();
            std::this_thread::yield();
            lock.lock();
          }
          queue_cv_.wait(lock, [&] { return stopping_ || !queued_.empty(); });
          if (queued_.empty()) return;  // stopping, nothing in flight
          spin_start = Clock::now();
        }
        for (auto& q : queued_) active.push_back(std::move(q));
        queued_.clear();
      }
      Clock::time_point earliest = Clock::time_point::max();
      for (size_t i = 0; i < active.size();) {
        cudaError_t result = cudaSuccess;
        if (active[i]->poll(&result)) {
          active[i]->done.set_value(finish_pull(*active[i], result));
          active[i] = std::move(active.back());
          active.pop_back();
        } else {
          earliest = std::min(earliest, active[i]->earliest_done);
          ++i;
        }
      }
      if (active.empty()) continue;
      const Clock::time_point now = Clock::now();
      if (now + kPollWindow < earliest) {
        std::unique_lock<std::mutex> lock(queue_mu_);  // a new pull wakes us
        queue_cv_.wait_until(lock, earliest - kPollWindow, [&] { return !queued_.empty(); });
        spin_start = Clock::now();
      } else if (now - spin_start < kSpinLimit) {
        std::this_thread::yield();
      } else {
        std::this_thread::sleep_for(kBackoffSleep);
      }
    }
  }

  absl::StatusOr<std::shared_ptr<PeerTokenTable>> peer_table(const std::string& name) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = peers_.find(name);
    if (it != peers_.end()) return it->second;
    absl::StatusOr<std::shared_ptr<PeerTokenTable>> t = PeerTokenTable::open(name);
    if (t.ok()) peers_[name] = *t;
    return t;
  }

  // The exporter is gone: drop its table and mappings (pulls in flight keep theirs until done)
  // and remove the table's name, which a killed exporter leaves behind.
  void forget_peer(const PeerTokenTable& peer) {
    peer.unlink_dead();
    std::lock_guard<std::mutex> lock(mu_);
    peers_.erase(peer.name());
    std::erase_if(mappings_, [&](const auto& kv) { return &kv.second->peer() == &peer; });
  }

  absl::StatusOr<std::shared_ptr<IpcMapping>> mapping(const CudaIpcDescriptor& d, int device,
                                                      const std::shared_ptr<PeerTokenTable>& peer) {
    std::lock_guard<std::mutex> lock(mu_);
    // CUDA documents a new handle for memory allocated again at a freed address; the buffer id
    // keeps a reused handle from ever reaching an old mapping all the same.
    const auto key = std::make_tuple(device, d.handle, d.buffer_id);
    auto it = mappings_.find(key);
    if (it != mappings_.end()) {
      it->second->note_region(d.slot, d.token);
      return it->second;
    }
    // A new allocation: close the mappings whose regions are all gone first.
    std::erase_if(mappings_, [](const auto& kv) { return kv.second->stale(); });
    absl::StatusOr<std::shared_ptr<IpcMapping>> m = IpcMapping::open(d.handle, peer);
    if (!m.ok()) return m.status();
    // CUDA hands out an existing mapping again for a handle it takes for one already open, e.g.
    // of another small allocation that cudaMalloc carved from the same block: never read
    // through it as if it were this allocation. (Dropping *m drops only the reference it took.)
    for (const auto& kv : mappings_) {
      if (kv.second->base() == (*m)->base())
        return absl::FailedPreconditionError(
            "cuda_ipc: CUDA mapped this allocation onto another one already open (allocations "
            "that share one CUDA IPC block); expose regions of cudaMalloc allocations whose "
            "size is a multiple of 2 MiB");
    }
    (*m)->note_region(d.slot, d.token);  // before mu_ is released: an empty mapping is not stale
    mappings_[key] = *m;
    return *m;
  }

  absl::Status stream_and_event(int device, cudaStream_t* stream, cudaEvent_t* event) {
    std::lock_guard<std::mutex> lock(mu_);
    DeviceResources& res = devices_[device];
    if (res.streams.empty()) {
      for (int i = 0; i < kStreamsPerDevice; ++i) {
        cudaStream_t s = nullptr;
        if (cudaError_t e = cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking); e != cudaSuccess)
          return cuda_status(e, "cudaStreamCreate");
        res.streams.push_back(s);
      }
    }
    *stream = res.streams[res.next_stream++ % res.streams.size()];
    if (!res.spare_events.empty()) {
      *event = res.spare_events.back();
      res.spare_events.pop_back();
      return absl::OkStatus();
    }
    if (cudaError_t e = cudaEventCreateWithFlags(event, cudaEventDisableTiming); e != cudaSuccess)
      return cuda_status(e, "cudaEventCreate");
    return absl::OkStatus();
  }

  void release_event(int device, cudaEvent_t event) {
    std::lock_guard<std::mutex> lock(mu_);
    devices_[device].spare_events.push_back(event);
  }

  const std::shared_ptr<ExporterTokenTable> table_;
  const absl::Duration grace_;

  std::mutex mu_;  // guards the three maps
  std::map<std::string, std::shared_ptr<PeerTokenTable>> peers_;
  // By (device, handle, exporter's buffer id).
  std::map<std::tuple<int, std::string, uint64_t>, std::shared_ptr<IpcMapping>> mappings_;
  std::map<int, DeviceResources> devices_;

  std::mutex queue_mu_;
  std::condition_variable queue_cv_;
  std::vector<std::unique_ptr<PullInFlight>> queued_;
  bool stopping_ = false;
  std::thread completer_;  // last: starts once everything above exists
};

}  // namespace

absl::StatusOr<std::unique_ptr<Transport>> make_cuda_ipc_transport(
    const TransportOptions& options) {
  int devices = 0;
  if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
    cudaGetLastError();
    return absl::UnavailableError("cuda_ipc: no CUDA device");
  }
  if (options.ucx_max_regions <= 0)
    return absl::InvalidArgumentError("cuda_ipc: ucx_max_regions must be > 0");
  absl::StatusOr<std::unique_ptr<ExporterTokenTable>> table =
      ExporterTokenTable::create(static_cast<uint32_t>(options.ucx_max_regions));
  if (!table.ok()) return table.status();
  return std::make_unique<CudaIpcTransport>(*std::move(table), options.ucx_unexpose_grace);
}

}  // namespace dllm::transfer

// CUDA IPC has no revocation: an importer keeps its mapping whatever the exporter does. So, as
// for UCX RMA, each exposing transport publishes liveness tokens, here in a POSIX shared-memory
// table; a pull checks its region's token before and after the copy and fails Unavailable if the
// region was unexposed. The exporter's pid is checked too (its memory dies with it).
//
// A pull is one cudaMemcpyAsync on a stream of its own, run on a std::async thread (the caller's
// device is carried over). A device-to-device copy cannot be cancelled, so a pull past its
// deadline still waits for its copy before reporting DeadlineExceeded: dst is never written
// after the future is ready, and a local DMA does not hang.
#include "common/transfer/cuda_ipc_transport.h"

#include <cuda.h>
#include <cuda_runtime_api.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <map>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/transfer/descriptor.h"
#include "common/transfer/range_check.h"

namespace dllm::transfer {
namespace {

absl::Status cuda_error(cudaError_t e, const char* what) {
  return absl::InternalError(absl::StrCat("cuda_ipc: ", what, ": ", cudaGetErrorString(e)));
}

// The exporter's token table: slot i holds the token of the region in slot i, 0 when free.
class TokenTable {
 public:
  static absl::StatusOr<std::unique_ptr<TokenTable>> create(int slots) {
    std::unique_ptr<TokenTable> t(new TokenTable());
    std::random_device rd;
    t->name_ = absl::StrCat("/dllm-cuda-ipc-", getpid(), "-", rd());
    t->slots_ = static_cast<size_t>(slots);
    const int fd = shm_open(t->name_.c_str(), O_CREAT | O_EXCL | O_RDWR, 0600);
    if (fd < 0) return absl::InternalError(absl::StrCat("cuda_ipc: shm_open: errno ", errno));
    const size_t bytes = t->slots_ * sizeof(uint64_t);
    void* p = ftruncate(fd, static_cast<off_t>(bytes)) == 0
                  ? mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)
                  : MAP_FAILED;
    close(fd);
    if (p == MAP_FAILED) {
      shm_unlink(t->name_.c_str());
      return absl::InternalError(absl::StrCat("cuda_ipc: mapping the token table: errno ", errno));
    }
    t->tokens_ = static_cast<uint64_t*>(p);
    for (size_t i = t->slots_; i > 0; --i) t->free_.push_back(static_cast<uint32_t>(i - 1));
    return t;
  }
  ~TokenTable() {
    munmap(tokens_, slots_ * sizeof(uint64_t));
    shm_unlink(name_.c_str());
  }
  const std::string& name() const { return name_; }
  size_t slots() const { return slots_; }

  absl::StatusOr<std::pair<uint32_t, uint64_t>> add() {
    std::lock_guard<std::mutex> lock(mu_);
    if (free_.empty()) return absl::ResourceExhaustedError("cuda_ipc: all region slots are in use");
    const uint32_t slot = free_.back();
    free_.pop_back();
    const uint64_t token = next_token_++;
    std::atomic_ref<uint64_t>(tokens_[slot]).store(token, std::memory_order_release);
    return std::make_pair(slot, token);
  }
  void remove(uint32_t slot) {
    std::lock_guard<std::mutex> lock(mu_);
    std::atomic_ref<uint64_t>(tokens_[slot]).store(0, std::memory_order_release);
    free_.push_back(slot);
  }

 private:
  TokenTable() = default;
  std::string name_;
  size_t slots_ = 0;
  uint64_t* tokens_ = nullptr;
  std::mutex mu_;
  std::vector<uint32_t> free_;
  uint64_t next_token_ = 1;
};

struct CudaIpcDescriptor {
  uint64_t pid = 0;
  std::string table;  // shm name of the exporter's token table
  uint32_t table_slots = 0;
  uint32_t slot = 0;
  uint64_t token = 0;
  std::string handle;   // cudaIpcMemHandle_t of the allocation
  uint64_t offset = 0;  // of the region within the allocation
  uint64_t size = 0;
};

std::string encode(const CudaIpcDescriptor& d) {
  return DescriptorWriter(DescriptorKind::kCudaIpc)
      .u64(d.pid)
      .bytes(d.table)
      .u32(d.table_slots)
      .u32(d.slot)
      .u64(d.token)
      .bytes(d.handle)
      .u64(d.offset)
      .u64(d.size)
      .finish();
}

absl::StatusOr<CudaIpcDescriptor> decode(std::string_view bytes) {
  absl::StatusOr<DescriptorReader> r = DescriptorReader::open(bytes, DescriptorKind::kCudaIpc);
  if (!r.ok()) return r.status();
  CudaIpcDescriptor d;
  r->u64(&d.pid);
  r->bytes(&d.table, 255);
  r->u32(&d.table_slots);
  r->u32(&d.slot);
  r->u64(&d.token);
  r->bytes(&d.handle, sizeof(cudaIpcMemHandle_t));
  r->u64(&d.offset);
  r->u64(&d.size);
  if (absl::Status s = r->finish(); !s.ok()) return s;
  if (d.handle.size() != sizeof(cudaIpcMemHandle_t) || d.slot >= d.table_slots || d.token == 0 ||
      d.size == 0 || d.table.empty() || d.table[0] != '/')
    return absl::InvalidArgumentError("malformed cuda_ipc transfer descriptor");
  return d;
}

class CudaIpcRegistration final : public Registration {
 public:
  CudaIpcRegistration(std::shared_ptr<TokenTable> table, uint32_t slot, size_t size,
                      std::string descriptor)
      : table_(std::move(table)), slot_(slot), size_(size), descriptor_(std::move(descriptor)) {}
  ~CudaIpcRegistration() override { table_->remove(slot_); }
  const std::string& descriptor() const override { return descriptor_; }
  size_t size() const override { return size_; }

 private:
  std::shared_ptr<TokenTable> table_;
  uint32_t slot_;
  size_t size_;
  std::string descriptor_;
};

class CudaIpcTransport final : public Transport {
 public:
  explicit CudaIpcTransport(std::shared_ptr<TokenTable> table) : table_(std::move(table)) {}
  ~CudaIpcTransport() override {
    for (auto& [key, ptr] : opened_) cudaIpcCloseMemHandle(ptr);
    for (auto& [name, mapping] : peer_tables_) munmap(mapping.first, mapping.second);
  }
  std::string_view name() const override { return "cuda_ipc"; }
  TransportCapabilities capabilities() const override {
    return {.cross_process = true, .device_memory = true};
  }

  absl::StatusOr<std::unique_ptr<Registration>> expose(const void* data, size_t bytes) override {
    if (data == nullptr || bytes == 0)
      return absl::InvalidArgumentError("expose needs a non-empty region");
    cudaPointerAttributes attr{};
    if (cudaPointerGetAttributes(&attr, data) != cudaSuccess || attr.type != cudaMemoryTypeDevice) {
      cudaGetLastError();  // clear the sticky-free error of a host pointer
      return absl::InvalidArgumentError("cuda_ipc exposes device memory only");
    }
    // IPC handles name whole allocations: find the one holding `data`.
    CUdeviceptr base = 0;
    size_t alloc_size = 0;
    if (cuMemGetAddressRange(&base, &alloc_size, reinterpret_cast<CUdeviceptr>(data)) !=
        CUDA_SUCCESS)
      return absl::InternalError("cuda_ipc: cuMemGetAddressRange failed");
    const uint64_t offset = reinterpret_cast<CUdeviceptr>(data) - base;
    if (offset + bytes > alloc_size)
      return absl::InvalidArgumentError("cuda_ipc: region spans more than one allocation");
    cudaIpcMemHandle_t handle;
    if (cudaError_t e = cudaIpcGetMemHandle(&handle, reinterpret_cast<void*>(base));
        e != cudaSuccess)
      return cuda_error(e, "cudaIpcGetMemHandle");
    absl::StatusOr<std::pair<uint32_t, uint64_t>> slot = table_->add();
    if (!slot.ok()) return slot.status();
    CudaIpcDescriptor d;
    d.pid = static_cast<uint64_t>(getpid());
    d.table = table_->name();
    d.table_slots = static_cast<uint32_t>(table_->slots());
    d.slot = slot->first;
    d.token = slot->second;
    d.handle.assign(reinterpret_cast<const char*>(&handle), sizeof(handle));
    d.offset = offset;
    d.size = bytes;
    return std::make_unique<CudaIpcRegistration>(table_, d.slot, bytes, encode(d));
  }

  std::future<absl::Status> pull_async(std::string_view descriptor, size_t offset, void* dst,
                                       size_t bytes, absl::Duration timeout) override {
    absl::StatusOr<CudaIpcDescriptor> d = decode(descriptor);
    if (!d.ok()) return ready_future(d.status());
    if (absl::Status s = check_pull_range(d->size, offset, bytes, dst); !s.ok())
      return ready_future(s);
    if (bytes == 0) return ready_future(absl::OkStatus());
    int device = 0;
    cudaGetDevice(&device);  // the copy runs on another thread: keep the caller's device
    const auto deadline = std::chrono::steady_clock::now() + absl::ToChronoNanoseconds(timeout);
    return std::async(std::launch::async,
                      [this, d = *std::move(d), offset, dst, bytes, device, deadline] {
                        return pull_now(d, offset, dst, bytes, device, deadline);
                      });
  }

 private:
  absl::Status pull_now(const CudaIpcDescriptor& d, size_t offset, void* dst, size_t bytes,
                        int device, std::chrono::steady_clock::time_point deadline) {
    if (kill(static_cast<pid_t>(d.pid), 0) != 0 && errno == ESRCH)
      return absl::UnavailableError("cuda_ipc: the exporting process is gone");
    absl::StatusOr<const uint64_t*> tokens = peer_tokens(d);
    if (!tokens.ok()) return tokens.status();
    auto live = [&] {
      return std::atomic_ref<const uint64_t>((*tokens)[d.slot]).load(std::memory_order_acquire) ==
             d.token;
    };
    if (!live()) return absl::UnavailableError("cuda_ipc: the region is no longer exposed");
    cudaSetDevice(device);
    absl::StatusOr<void*> base = open_handle(d.handle, device);
    if (!base.ok()) return base.status();
    cudaStream_t stream = nullptr;
    if (cudaError_t e = cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking); e != cudaSuccess)
      return cuda_error(e, "cudaStreamCreate");
    const auto* src = static_cast<const uint8_t*>(*base) + d.offset + offset;
    cudaError_t e = cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDefault, stream);
    bool late = false;
    while (e == cudaSuccess) {
      const cudaError_t q = cudaStreamQuery(stream);
      if (q == cudaSuccess) break;
      if (q != cudaErrorNotReady) {
        e = q;
        break;
      }
      late |= std::chrono::steady_clock::now() > deadline;
      std::this_thread::sleep_for(std::chrono::microseconds(50));
    }
    cudaStreamDestroy(stream);
    if (e != cudaSuccess) return cuda_error(e, "cudaMemcpyAsync");
    if (late) return absl::DeadlineExceededError("cuda_ipc: pull finished past its deadline");
    if (!live())  // unexposed during the copy: the bytes may belong to the next owner
      return absl::UnavailableError("cuda_ipc: the region was unexposed during the pull");
    return absl::OkStatus();
  }

  // The exporter's token table, mapped read-only once per exporter.
  absl::StatusOr<const uint64_t*> peer_tokens(const CudaIpcDescriptor& d) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = peer_tables_.find(d.table);
    if (it != peer_tables_.end()) return static_cast<const uint64_t*>(it->second.first);
    const int fd = shm_open(d.table.c_str(), O_RDONLY, 0);
    if (fd < 0) return absl::UnavailableError("cuda_ipc: the exporter's token table is gone");
    const size_t bytes = size_t{d.table_slots} * sizeof(uint64_t);
    void* p = mmap(nullptr, bytes, PROT_READ, MAP_SHARED, fd, 0);
    close(fd);
    if (p == MAP_FAILED) return absl::UnavailableError("cuda_ipc: mapping the token table failed");
    peer_tables_[d.table] = {p, bytes};
    return static_cast<const uint64_t*>(p);
  }

  absl::StatusOr<void*> open_handle(const std::string& handle_bytes, int device) {
    std::lock_guard<std::mutex> lock(mu_);
    const std::string key = absl::StrCat(device, ":", handle_bytes);
    auto it = opened_.find(key);
    if (it != opened_.end()) return it->second;
    cudaIpcMemHandle_t handle;
    std::memcpy(&handle, handle_bytes.data(), sizeof(handle));
    void* ptr = nullptr;
    if (cudaError_t e = cudaIpcOpenMemHandle(&ptr, handle, cudaIpcMemLazyEnablePeerAccess);
        e != cudaSuccess)
      return absl::UnavailableError(
          absl::StrCat("cuda_ipc: cudaIpcOpenMemHandle: ", cudaGetErrorString(e)));
    opened_[key] = ptr;
    return ptr;
  }

  std::shared_ptr<TokenTable> table_;
  std::mutex mu_;
  std::map<std::string, void*> opened_;                          // IPC mappings
  std::map<std::string, std::pair<void*, size_t>> peer_tables_;  // token tables by name
};

}  // namespace

absl::StatusOr<std::unique_ptr<Transport>> make_cuda_ipc_transport(
    const TransportOptions& options) {
  int devices = 0;
  if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0)
    return absl::UnavailableError("cuda_ipc: no CUDA device");
  absl::StatusOr<std::unique_ptr<TokenTable>> table = TokenTable::create(options.ucx_max_regions);
  if (!table.ok()) return table.status();
  return std::make_unique<CudaIpcTransport>(std::shared_ptr<TokenTable>(std::move(*table)));
}

}  // namespace dllm::transfer

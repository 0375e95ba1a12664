// The CUDA side of the cuda_ipc back end: which allocation holds a pointer, and one allocation of
// another process mapped into this one. No CUDA header here: callers see plain pointers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "common/transfer/cuda_ipc_liveness.h"

namespace dllm::transfer {

// Sets the calling thread's CUDA device for a scope.
class DeviceScope {
 public:
  explicit DeviceScope(int device);
  ~DeviceScope();
  DeviceScope(const DeviceScope&) = delete;
  DeviceScope& operator=(const DeviceScope&) = delete;

 private:
  int device_;
  int saved_ = 0;
};

struct DeviceAllocation {
  uintptr_t base = 0;
  size_t size = 0;
  // Process-wide and never reused, unlike base addresses.
  uint64_t buffer_id = 0;
};

// The device allocation holding `p`, in the current context. The driver API is reached through
// the runtime's entry points: linking libcuda would stop every binary with this library from
// starting where no driver is installed.
absl::StatusOr<DeviceAllocation> device_allocation_of(const void* p);

// An allocation of another process, opened from its IPC handle in one device's context, and the
// regions pulled through it. Closed when the last pull using it lets go.
class IpcMapping {
 public:
  // Opens the handle (cudaIpcMemHandle_t bytes) on the current device.
  static absl::StatusOr<std::shared_ptr<IpcMapping>> open(const std::string& handle,
                                                          std::shared_ptr<PeerTokenTable> peer);
  ~IpcMapping();
  IpcMapping(const IpcMapping&) = delete;
  IpcMapping& operator=(const IpcMapping&) = delete;

  const uint8_t* base() const { return static_cast<const uint8_t*>(base_); }
  size_t size() const { return size_; }  // 0 when the driver would not say
  const PeerTokenTable& peer() const { return *peer_; }

  void note_region(uint32_t slot, uint64_t token);
  // Every region pulled through this mapping is unexposed: the exporter may free the allocation,
  // and CUDA wants importers to close their mappings before that.
  bool stale() const;

 private:
  IpcMapping(void* base, size_t size, int device, std::shared_ptr<PeerTokenTable> peer)
      : base_(base), size_(size), device_(device), peer_(std::move(peer)) {}
  void* base_;
  size_t size_;
  int device_;
  std::shared_ptr<PeerTokenTable> peer_;
  mutable std::mutex mu_;
  std::vector<std::pair<uint32_t, uint64_t>> regions_;  // the last few (slot, token) pulled
};

}  // namespace dllm::transfer

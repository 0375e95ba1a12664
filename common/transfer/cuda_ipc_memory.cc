// Allocations and IPC mappings for the cuda_ipc back end.
#include "common/transfer/cuda_ipc_memory.h"

#include <cuda.h>  // driver types only: the functions come through the runtime
#include <cuda_runtime_api.h>

#include <cstring>

#include "absl/strings/str_cat.h"

namespace dllm::transfer {
namespace {

// Regions remembered per mapping, to tell when all of them are gone.
constexpr size_t kRegionsPerMapping = 32;

// A driver API function through the runtime (nullptr where the driver lacks it).
template <typename Fn>
Fn driver_function(const char* name) {
  void* fn = nullptr;
  cudaDriverEntryPointQueryResult found{};
  if (cudaGetDriverEntryPointByVersion(name, &fn, 12000, cudaEnableDefault, &found) !=
          cudaSuccess ||
      found != cudaDriverEntryPointSuccess)
    return nullptr;
  return reinterpret_cast<Fn>(fn);
}

}  // namespace

DeviceScope::DeviceScope(int device) : device_(device) {
  if (cudaGetDevice(&saved_) != cudaSuccess) saved_ = device;
  if (saved_ != device_) cudaSetDevice(device_);
}

DeviceScope::~DeviceScope() {
  if (saved_ != device_) cudaSetDevice(saved_);
}

absl::StatusOr<DeviceAllocation> device_allocation_of(const void* p) {
  using AddressRange = CUresult (*)(CUdeviceptr*, size_t*, CUdeviceptr);
  using PointerAttribute = CUresult (*)(void*, CUpointer_attribute, CUdeviceptr);
  static const auto address_range = driver_function<AddressRange>("cuMemGetAddressRange");
  static const auto attribute = driver_function<PointerAttribute>("cuPointerGetAttribute");
  if (address_range == nullptr || attribute == nullptr)
    return absl::InternalError("cuda_ipc: the CUDA driver lacks cuMemGetAddressRange");
  CUdeviceptr base = 0;
  size_t size = 0;
  unsigned long long id = 0;  // NOLINT(runtime/int): the driver's type
  if (address_range(&base, &size, reinterpret_cast<CUdeviceptr>(p)) != CUDA_SUCCESS ||
      attribute(&id, CU_POINTER_ATTRIBUTE_BUFFER_ID, base) != CUDA_SUCCESS)
    return absl::InvalidArgumentError("cuda_ipc: the address is in no device allocation");
  return DeviceAllocation{static_cast<uintptr_t>(base), size, id};
}

absl::StatusOr<std::shared_ptr<IpcMapping>> IpcMapping::open(const std::string& handle_bytes,
                                                             std::shared_ptr<PeerTokenTable> peer) {
  int device = 0;
  if (cudaError_t e = cudaGetDevice(&device); e != cudaSuccess)
    return absl::InternalError(absl::StrCat("cuda_ipc: cudaGetDevice: ", cudaGetErrorString(e)));
  cudaIpcMemHandle_t handle;
  if (handle_bytes.size() != sizeof(handle))
    return absl::InvalidArgumentError("malformed cuda_ipc transfer descriptor (handle)");
  std::memcpy(&handle, handle_bytes.data(), sizeof(handle));
  void* base = nullptr;
  if (cudaError_t e = cudaIpcOpenMemHandle(&base, handle, cudaIpcMemLazyEnablePeerAccess);
      e != cudaSuccess) {
    cudaGetLastError();
    return absl::UnavailableError(
        absl::StrCat("cuda_ipc: cudaIpcOpenMemHandle: ", cudaGetErrorString(e)));
  }
  absl::StatusOr<DeviceAllocation> alloc = device_allocation_of(base);
  return std::shared_ptr<IpcMapping>(
      new IpcMapping(base, alloc.ok() ? alloc->size : 0, device, std::move(peer)));
}

IpcMapping::~IpcMapping() {
  DeviceScope scope(device_);
  cudaIpcCloseMemHandle(base_);
}

void IpcMapping::note_region(uint32_t slot, uint64_t token) {
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& r : regions_)
    if (r.first == slot && r.second == token) return;
  if (regions_.size() == kRegionsPerMapping) regions_.erase(regions_.begin());
  regions_.emplace_back(slot, token);
}

bool IpcMapping::stale() const {
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [slot, token] : regions_)
    if (peer_->live(slot, token)) return false;
  return true;
}

}  // namespace dllm::transfer

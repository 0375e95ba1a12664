// Local regions live in one process-wide registry so that two local Transports (the prefill and
// decode roles of one process) can pull from each other.
#include "common/transfer/local_transport.h"

#include <unistd.h>

#include <chrono>
#include <cstring>
#include <map>
#include <mutex>
#include <random>
#include <shared_mutex>

#include "common/transfer/descriptor.h"
#include "common/transfer/range_check.h"

namespace dllm::transfer {
namespace {

struct LocalRegion {
  const uint8_t* data = nullptr;
  size_t size = 0;
  std::shared_mutex mu;  // pulls hold it shared while copying; unexposing takes it exclusively
  bool exposed = true;
};

class LocalRegistry {
 public:
  static LocalRegistry& instance() {
    static LocalRegistry* registry = new LocalRegistry();  // never destroyed: used at exit
    return *registry;
  }

  // Distinguishes this process's descriptors from another's (ids alone would collide).
  uint64_t process_token() const { return process_token_; }

  uint64_t add(std::shared_ptr<LocalRegion> region) {
    std::lock_guard<std::mutex> lock(mu_);
    const uint64_t id = next_id_++;
    regions_[id] = std::move(region);
    return id;
  }
  std::shared_ptr<LocalRegion> find(uint64_t id) const {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = regions_.find(id);
    return it == regions_.end() ? nullptr : it->second;
  }
  void remove(uint64_t id) {
    std::lock_guard<std::mutex> lock(mu_);
    regions_.erase(id);
  }

 private:
  LocalRegistry() {
    std::random_device rd;
    const uint64_t now = std::chrono::steady_clock::now().time_since_epoch().count();
    process_token_ = (uint64_t{rd()} << 32 | rd()) ^ now ^ (uint64_t(getpid()) << 17);
  }

  uint64_t process_token_ = 0;
  mutable std::mutex mu_;
  uint64_t next_id_ = 1;
  std::map<uint64_t, std::shared_ptr<LocalRegion>> regions_;
};

struct LocalDescriptor {
  uint64_t process_token = 0;
  uint64_t region_id = 0;
  uint64_t size = 0;
};

std::string encode(const LocalDescriptor& d) {
  return DescriptorWriter(DescriptorKind::kLocal)
      .u64(d.process_token)
      .u64(d.region_id)
      .u64(d.size)
      .finish();
}

absl::StatusOr<LocalDescriptor> decode(std::string_view bytes) {
  absl::StatusOr<DescriptorReader> r = DescriptorReader::open(bytes, DescriptorKind::kLocal);
  if (!r.ok()) return r.status();
  LocalDescriptor d;
  r->u64(&d.process_token);
  r->u64(&d.region_id);
  r->u64(&d.size);
  if (absl::Status s = r->finish(); !s.ok()) return s;
  if (d.process_token != LocalRegistry::instance().process_token())
    return absl::InvalidArgumentError(
        "local transfer descriptor comes from another process (use the ucx transport between "
        "processes)");
  return d;
}

class LocalRegistration final : public Registration {
 public:
  LocalRegistration(uint64_t id, std::shared_ptr<LocalRegion> region, std::string descriptor)
      : id_(id), region_(std::move(region)), descriptor_(std::move(descriptor)) {}
  ~LocalRegistration() override {
    LocalRegistry::instance().remove(id_);
    std::unique_lock<std::shared_mutex> lock(region_->mu);  // waits for copies in progress
    region_->exposed = false;
  }
  const std::string& descriptor() const override { return descriptor_; }
  size_t size() const override { return region_->size; }

 private:
  uint64_t id_;
  std::shared_ptr<LocalRegion> region_;
  std::string descriptor_;
};

class LocalTransport final : public Transport {
 public:
  std::string_view name() const override { return "local"; }
  TransportCapabilities capabilities() const override { return {}; }

  absl::StatusOr<std::unique_ptr<Registration>> expose(const void* data, size_t bytes) override {
    if (data == nullptr || bytes == 0)
      return absl::InvalidArgumentError("expose needs a non-empty region");
    auto region = std::make_shared<LocalRegion>();
    region->data = static_cast<const uint8_t*>(data);
    region->size = bytes;
    LocalRegistry& registry = LocalRegistry::instance();
    const uint64_t id = registry.add(region);
    std::string descriptor = encode({registry.process_token(), id, bytes});
    return std::make_unique<LocalRegistration>(id, std::move(region), std::move(descriptor));
  }

  // The copy runs here, on the caller's thread: a memcpy never waits on a peer, so the timeout
  // cannot be reached.
  std::future<absl::Status> pull_async(std::string_view descriptor, size_t offset, void* dst,
                                       size_t bytes, absl::Duration) override {
    return ready_future(pull_now(descriptor, offset, dst, bytes));
  }

 private:
  static absl::Status pull_now(std::string_view descriptor, size_t offset, void* dst,
                               size_t bytes) {
    absl::StatusOr<LocalDescriptor> d = decode(descriptor);
    if (!d.ok()) return d.status();
    if (absl::Status s = check_pull_range(d->size, offset, bytes, dst); !s.ok()) return s;
    std::shared_ptr<LocalRegion> region = LocalRegistry::instance().find(d->region_id);
    if (region == nullptr) return absl::UnavailableError("local region is no longer exposed");
    std::shared_lock<std::shared_mutex> lock(region->mu);
    if (!region->exposed) return absl::UnavailableError("local region is no longer exposed");
    if (bytes > 0) std::memcpy(dst, region->data + offset, bytes);
    return absl::OkStatus();
  }
};

}  // namespace

std::unique_ptr<Transport> make_local_transport() { return std::make_unique<LocalTransport>(); }

}  // namespace dllm::transfer

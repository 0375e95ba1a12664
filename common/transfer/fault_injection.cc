// FaultInjectingTransport: forwards everything, draws a Bernoulli per pull.
#include "common/transfer/fault_injection.h"

#include <mutex>
#include <random>

namespace dllm::transfer {
namespace {

class FaultInjectingTransport final : public Transport {
 public:
  FaultInjectingTransport(std::unique_ptr<Transport> inner, double p, uint64_t seed)
      : inner_(std::move(inner)), drop_(p), rng_(seed) {}

  std::string_view name() const override { return inner_->name(); }
  TransportCapabilities capabilities() const override { return inner_->capabilities(); }
  absl::StatusOr<std::unique_ptr<Registration>> expose(const void* data, size_t bytes) override {
    return inner_->expose(data, bytes);
  }
  std::future<absl::Status> pull_async(std::string_view descriptor, size_t offset, void* dst,
                                       size_t bytes, absl::Duration timeout) override {
    if (should_drop()) return ready_future(absl::UnavailableError("injected transfer fault"));
    return inner_->pull_async(descriptor, offset, dst, bytes, timeout);
  }
  absl::Status pull(std::string_view descriptor, size_t offset, void* dst, size_t bytes,
                    absl::Duration timeout) override {
    if (should_drop()) return absl::UnavailableError("injected transfer fault");
    return inner_->pull(descriptor, offset, dst, bytes, timeout);
  }

 private:
  bool should_drop() {
    std::lock_guard<std::mutex> lock(mu_);  // pulls come from many threads; the engine is not
    return drop_(rng_);                     // thread-safe
  }

  std::unique_ptr<Transport> inner_;
  std::mutex mu_;
  std::bernoulli_distribution drop_;
  std::mt19937_64 rng_;
};

}  // namespace

std::unique_ptr<Transport> wrap_with_fault_injection(std::unique_ptr<Transport> inner,
                                                     double drop_probability, uint64_t seed) {
  return std::make_unique<FaultInjectingTransport>(std::move(inner), drop_probability, seed);
}

}  // namespace dllm::transfer

#include "router/cancel_propagator.h"

#include <chrono>

namespace dllm::router {

CancelPropagator::CancelPropagator() : thread_([this] { loop(); }) {}

CancelPropagator::~CancelPropagator() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

CancelPropagator::Link::Link(CancelPropagator* owner, grpc::ServerContext* inbound,
                             grpc::ClientContext* outbound)
    : owner_(owner), outbound_(outbound) {
  std::lock_guard<std::mutex> lock(owner_->mu_);
  owner_->links_[outbound] = inbound;
}

CancelPropagator::Link::~Link() {
  std::lock_guard<std::mutex> lock(owner_->mu_);
  owner_->links_.erase(outbound_);
}

void CancelPropagator::loop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    wake_.wait_for(lock, std::chrono::milliseconds(20), [this] { return stopping_; });
    for (auto& [outbound, inbound] : links_)
      if (inbound->IsCancelled()) outbound->TryCancel();
  }
}

}  // namespace dllm::router

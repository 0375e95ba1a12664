#include "proto/wire/node_registration.h"

#include <chrono>

namespace dllm::wire {

NodeRegistration::NodeRegistration(const std::string& router_address, v1::RegisterRequest self,
                                   std::function<v1::NodeLoad()> load,
                                   const ChannelSecurity& dialer)
    : stub_(v1::NodeRegistry::NewStub(dialer.dial(router_address))),
      self_(std::move(self)),
      load_(std::move(load)),
      thread_([this] { loop(); }) {}

NodeRegistration::~NodeRegistration() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

void NodeRegistration::loop() {
  std::chrono::milliseconds period(200);  // until the router says otherwise
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    lock.unlock();
    const auto deadline = std::chrono::system_clock::now() + std::chrono::seconds(2);
    if (!registered_) {
      grpc::ClientContext ctx;
      ctx.set_deadline(deadline);
      v1::RegisterRequest request = self_;
      *request.mutable_load() = load_();
      v1::RegisterResponse response;
      if (stub_->Register(&ctx, request, &response).ok()) {
        registered_ = true;
        if (response.heartbeat_seconds() > 0)
          period = std::chrono::milliseconds(
              static_cast<int64_t>(response.heartbeat_seconds() * 1000.0));
      }
    } else {
      grpc::ClientContext ctx;
      ctx.set_deadline(deadline);
      v1::HeartbeatRequest request;
      request.set_node_id(self_.node_id());
      *request.mutable_load() = load_();
      v1::HeartbeatResponse response;
      const grpc::Status st = stub_->Heartbeat(&ctx, request, &response);
      if (st.ok() && !response.known()) registered_ = false;  // the router restarted
    }
    lock.lock();
    wake_.wait_for(lock, registered_ ? period : std::chrono::milliseconds(200),
                   [this] { return stopping_; });
  }
}

}  // namespace dllm::wire

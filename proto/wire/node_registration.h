// A node's side of the router's NodeRegistry: register, then heartbeat with the node's load until
// stopped. Keeps trying while the router is down (it may start after the node, or restart), and
// registers again when the router has forgotten the node.
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "dllm/v1/node.grpc.pb.h"
#include "proto/wire/tls_config.h"

namespace dllm::wire {

class NodeRegistration {
 public:
  // `self` names the node (id, role, address, model); `load` is sampled for every heartbeat;
  // `dialer` says how to reach the router (TLS, client certificate).
  NodeRegistration(const std::string& router_address, v1::RegisterRequest self,
                   std::function<v1::NodeLoad()> load,
                   const ChannelSecurity& dialer = ChannelSecurity());
  ~NodeRegistration();  // stops heartbeating (the router then drops the node after its timeout)
  NodeRegistration(const NodeRegistration&) = delete;
  NodeRegistration& operator=(const NodeRegistration&) = delete;

  bool registered() const { return registered_.load(); }

 private:
  void loop();

  std::unique_ptr<v1::NodeRegistry::Stub> stub_;
  v1::RegisterRequest self_;
  std::function<v1::NodeLoad()> load_;
  std::atomic<bool> registered_{false};
  std::mutex mu_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace dllm::wire

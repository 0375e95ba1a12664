// The router's view of its nodes: who is registered, who is alive (heartbeat within the timeout
// and no failed call since), their load, and placement — prefill by chunk affinity tempered by
// load, decode by outstanding work and free K/V.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <unordered_set>
#include <vector>

#include "dllm/v1/node.pb.h"
#include "grpcpp/channel.h"
#include "proto/wire/tls_config.h"

namespace dllm::router {

struct NodeRef {
  std::string id;
  std::string address;
  std::shared_ptr<grpc::Channel> channel;
};

struct NodeSnapshot {
  std::string id;
  v1::NodeRole role = v1::NODE_ROLE_UNSPECIFIED;
  std::string address;
  bool alive = false;
  int outstanding = 0;  // requests the router has placed there and not finished
  v1::NodeLoad load;
};

class NodeRegistry {
 public:
  // `dialer`: how the router reaches nodes (TLS, client certificate); insecure by default.
  explicit NodeRegistry(std::chrono::milliseconds node_timeout,
                        wire::ChannelSecurity dialer = wire::ChannelSecurity())
      : timeout_(node_timeout), dialer_(std::move(dialer)) {}

  void upsert(const v1::RegisterRequest& node);
  // false: unknown node (it must register again).
  bool heartbeat(const std::string& node_id, const v1::NodeLoad& load);
  // A call to the node failed as if it were dead: out of placement until its next heartbeat.
  void mark_failed(const std::string& node_id);

  // The best live node of the role, not in `exclude`; its outstanding count is raised until
  // finish(). `chunk_keys` (prefill) favours the node holding most of them; `held` (optional)
  // gets how many the chosen node holds.
  std::optional<NodeRef> place_prefill(std::span<const uint64_t> chunk_keys,
                                       const std::set<std::string>& exclude, int* held = nullptr);
  std::optional<NodeRef> place_decode(const std::set<std::string>& exclude);
  void finish(const std::string& node_id);

  std::vector<NodeSnapshot> snapshot() const;
  int live_nodes(v1::NodeRole role) const;

 private:
  struct Node {
    NodeSnapshot info;
    std::shared_ptr<grpc::Channel> channel;
    std::unordered_set<uint64_t> chunk_keys;
    std::chrono::steady_clock::time_point last_seen;
    bool failed = false;
  };
  bool alive_locked(const Node& n, std::chrono::steady_clock::time_point now) const;
  void take_load_locked(Node* n, const v1::NodeLoad& load);

  const std::chrono::milliseconds timeout_;
  const wire::ChannelSecurity dialer_;
  mutable std::mutex mu_;
  std::map<std::string, Node> nodes_;  // ordered: placement ties break the same way every time
  uint64_t round_robin_ = 0;
};

}  // namespace dllm::router

// A cluster for soak and overload runs: a router and named prefill/decode nodes as `dllm serve`
// children on loopback. Any node can be killed with SIGKILL and started again under the same
// node id on a fresh port (it registers again); each process's RSS and /metrics can be read.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "tests/integration/serving_process.h"

namespace dllm::soak {

using testing_serve::ServingProcess;

struct NodeSpec {
  std::string role;  // "prefill" | "decode"
  std::string id;
  std::vector<std::string> flags;  // beyond the model, listen, router and node id
};

class SoakCluster {
 public:
  // Starts the router, then every node; ok() says whether all came up and registered.
  SoakCluster(std::vector<std::string> router_flags, std::vector<NodeSpec> nodes);

  bool ok() const { return ok_; }
  const std::string& router_address() const { return router_->address(); }
  ServingProcess& router() { return *router_; }
  std::unique_ptr<v1::Generation::Stub> stub() const;

  int size() const { return static_cast<int>(specs_.size()); }
  const NodeSpec& spec(int i) const { return specs_[i]; }
  // The node's gRPC and /metrics addresses and pid now ("" / -1 while it is down).
  std::string address(int i) const;
  std::string metrics_address(int i) const;
  pid_t pid(int i) const;
  // Every live process: the router first, then the nodes in order.
  std::vector<pid_t> pids() const;

  // SIGKILL, reaped; the node's log is kept (its tail) for logs().
  void kill(int i);
  // Starts node `i` if it is down (same id, port 0) and waits until it has registered; false if it
  // did not come up within `timeout`.
  bool restart(int i, std::chrono::seconds timeout = std::chrono::seconds(20));

  std::string logs() const;

 private:
  struct Slot {
    std::unique_ptr<ServingProcess> process;
    std::string metrics_address;
    std::string past_logs;  // tails of earlier incarnations
  };
  struct Incarnation {
    std::unique_ptr<ServingProcess> process;
    std::string metrics_address;
    bool registered = false;
  };
  Incarnation start(int i, std::chrono::seconds timeout) const;

  std::unique_ptr<ServingProcess> router_;
  std::shared_ptr<grpc::Channel> channel_;
  std::vector<NodeSpec> specs_;
  mutable std::mutex mu_;
  std::vector<Slot> slots_;
  bool ok_ = true;
};

// VmRSS of a process in KiB, from /proc/PID/status (0 when it is gone).
int64_t rss_kib(pid_t pid);

// The sum of every sample named `name` whose labels include `labels` on the /metrics page at
// HOST:PORT (nullopt if the page could not be read).
std::optional<double> scrape_sum(const std::string& metrics_address, const std::string& name,
                                 const std::map<std::string, std::string>& labels = {});

}  // namespace dllm::soak

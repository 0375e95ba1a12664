// The soak's fault injector: every few seconds (jittered) it SIGKILLs a random node of a
// SoakCluster and, after a pause, starts it again under the same node id on a fresh port. Before
// killing a decode node it reads that node's failed-K/V-pull counter, so the pulls that dropped
// (the transport's fault hook) are counted across incarnations.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <random>
#include <thread>

#include "tests/soak/soak_cluster.h"

namespace dllm::soak {

struct FaultInjectorOptions {
  std::chrono::milliseconds kill_every{3000};    // mean gap between kills (±30 %); 0: none
  std::chrono::milliseconds restart_after{500};  // a killed node stays down this long
  uint64_t seed = 1;
};

struct FaultCounts {
  int prefill_kills = 0, decode_kills = 0;
  int restart_failures = 0;            // starts that did not register in time (retried)
  int64_t failed_kv_pulls = 0;         // on every decode incarnation (dropped or peer gone)
  int64_t failed_kv_pulls_unread = 0;  // incarnations whose counter could not be read
};

class FaultInjector {
 public:
  FaultInjector(SoakCluster* cluster, FaultInjectorOptions options);
  ~FaultInjector();  // stop()s
  // Stops killing, brings every node back up and adds the live decode nodes' counters.
  FaultCounts stop();

 private:
  void loop();
  void count_failed_pulls(int node);            // before node `node` goes away
  bool sleep_for(std::chrono::milliseconds d);  // false once stopping

  SoakCluster* cluster_;
  FaultInjectorOptions options_;
  std::mt19937_64 rng_;
  std::mutex mu_;
  std::condition_variable wake_;
  bool stopping_ = false;
  FaultCounts counts_;
  std::thread thread_;
};

}  // namespace dllm::soak

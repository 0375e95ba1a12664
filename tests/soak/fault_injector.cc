// FaultInjector: kill -9 a random node, restart it, repeat.
#include "tests/soak/fault_injector.h"

#include <cstdio>

namespace dllm::soak {
namespace {

constexpr const char* kFailedPulls = "dllm_kv_transfer_failures_total";

}  // namespace

FaultInjector::FaultInjector(SoakCluster* cluster, FaultInjectorOptions options)
    : cluster_(cluster), options_(options), rng_(options.seed), thread_([this] { loop(); }) {}

FaultInjector::~FaultInjector() { stop(); }

bool FaultInjector::sleep_for(std::chrono::milliseconds d) {
  std::unique_lock<std::mutex> lock(mu_);
  return !wake_.wait_for(lock, d, [this] { return stopping_; });
}

void FaultInjector::count_failed_pulls(int node) {
  if (cluster_->spec(node).role != "decode") return;
  const std::string metrics = cluster_->metrics_address(node);
  std::optional<double> failed = metrics.empty() ? std::nullopt : scrape_sum(metrics, kFailedPulls);
  std::lock_guard<std::mutex> lock(mu_);
  if (failed)
    counts_.failed_kv_pulls += static_cast<int64_t>(*failed);
  else
    ++counts_.failed_kv_pulls_unread;
}

void FaultInjector::loop() {
  if (options_.kill_every.count() <= 0) return;  // K/V drops only
  const double mean = static_cast<double>(options_.kill_every.count());
  std::uniform_real_distribution<double> jitter(0.7 * mean, 1.3 * mean);
  std::uniform_int_distribution<int> pick(0, cluster_->size() - 1);
  while (sleep_for(std::chrono::milliseconds(static_cast<int64_t>(jitter(rng_))))) {
    const int victim = pick(rng_);
    count_failed_pulls(victim);
    cluster_->kill(victim);
    std::fprintf(stderr, "soak: killed %s\n", cluster_->spec(victim).id.c_str());
    {
      std::lock_guard<std::mutex> lock(mu_);
      ++(cluster_->spec(victim).role == "prefill" ? counts_.prefill_kills : counts_.decode_kills);
    }
    sleep_for(options_.restart_after);  // restarted even when stopping: stop() wants all up
    while (!cluster_->restart(victim)) {
      std::fprintf(stderr, "soak: %s did not come back; starting it again\n",
                   cluster_->spec(victim).id.c_str());
      std::lock_guard<std::mutex> lock(mu_);
      ++counts_.restart_failures;
      if (counts_.restart_failures > 20) return;  // the summary shows it; stop() finds it down
    }
  }
}

FaultCounts FaultInjector::stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_ && !thread_.joinable()) return counts_;
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
  for (int i = 0; i < cluster_->size(); ++i) {
    if (cluster_->pid(i) < 0) cluster_->restart(i);
    count_failed_pulls(i);
  }
  return counts_;
}

}  // namespace dllm::soak

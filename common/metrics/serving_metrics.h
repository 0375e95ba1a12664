// ServingMetrics: the one catalogue of Prometheus series a dllm process exports, with typed
// accessors so services record values without building label maps themselves.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/kv/kv_pool.h"
#include "common/sparse/chunk_kv_cache.h"
#include "common/sparse/focus_pcgi.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"

namespace dllm::metrics {

enum class MetricType { kCounter, kGauge, kHistogram };

struct MetricFamilyInfo {
  std::string name;  // exposition name; a histogram also exports _bucket, _sum and _count
  MetricType type;
  std::string help;                 // also the meaning documented in docs/OPERATIONS.md
  std::vector<std::string> labels;  // besides the constant labels role and node
};

// Every family ServingMetrics exports, in catalogue order, and just their names.
const std::vector<MetricFamilyInfo>& serving_metric_families();
std::vector<std::string> serving_metric_names();
const char* metric_type_name(MetricType type);  // "counter", "gauge", "histogram"

// Values of the `outcome` label of dllm_requests_total.
namespace request_outcome {
inline constexpr std::string_view kOk = "ok";
inline constexpr std::string_view kCancelled = "cancelled";      // the client went away
inline constexpr std::string_view kInvalid = "invalid";          // bad request
inline constexpr std::string_view kRejected = "rejected";        // no capacity (queue, K/V pool)
inline constexpr std::string_view kTimeout = "timeout";          // deadline exceeded
inline constexpr std::string_view kUnavailable = "unavailable";  // a node could not be reached
inline constexpr std::string_view kError = "error";              // anything else
}  // namespace request_outcome
// The outcome label for how a request ended.
std::string_view outcome_of(const absl::Status& status);

// Values of the `outcome` label of the router's placement and retry counters.
namespace placement_outcome {
inline constexpr std::string_view kPlaced = "placed";           // on the least loaded node
inline constexpr std::string_view kCacheHit = "cache_hit";      // on a node holding the chunks
inline constexpr std::string_view kNoCapacity = "no_capacity";  // nodes exist, all full
inline constexpr std::string_view kNoNode = "no_node";          // no healthy node of that stage
inline constexpr std::string_view kRecovered = "recovered";     // retry: the next try worked
inline constexpr std::string_view kExhausted = "exhausted";     // retry: gave up
}  // namespace placement_outcome

class ServingMetrics {
 public:
  // One per process. `role` is router, prefill, decode or all; `node` names this process
  // (e.g. the pod name). Both become constant labels of every series.
  static absl::StatusOr<std::unique_ptr<ServingMetrics>> create(std::string_view role,
                                                                std::string_view node);

  // What a MetricsExposer serves.
  std::shared_ptr<prometheus::Registry> registry() const { return registry_; }
  const std::string& role() const { return role_; }
  const std::string& node() const { return node_; }

  // The accessors return series that live as long as this object: hot paths may keep the
  // reference instead of looking it up again.

  // Requests: each role counts what it served; the router's are what clients saw.
  prometheus::Counter& requests(std::string_view model, std::string_view policy,
                                std::string_view outcome);
  prometheus::Counter& prompt_tokens(std::string_view model, std::string_view policy);
  prometheus::Counter& generated_tokens(std::string_view model, std::string_view policy);
  prometheus::Histogram& time_to_first_block(std::string_view model, std::string_view policy);
  prometheus::Histogram& time_per_block(std::string_view model, std::string_view policy);
  prometheus::Histogram& denoising_steps_per_block(std::string_view model, std::string_view policy);
  prometheus::Histogram& request_duration(std::string_view model, std::string_view policy);
  prometheus::Histogram& queue_time(std::string_view model);
  prometheus::Gauge& running_requests(std::string_view model);
  prometheus::Gauge& waiting_requests(std::string_view model);

  // Engine: one observation per denoising step (selected chunks, kept tokens) or per sample.
  prometheus::Histogram& denoising_step_duration(std::string_view model, std::string_view policy);
  prometheus::Histogram& selected_chunks(std::string_view model, std::string_view policy);
  prometheus::Histogram& kept_token_ratio(std::string_view model, std::string_view policy);
  prometheus::Histogram& pcgi_recall(std::string_view model, std::string_view policy);
  prometheus::Histogram& sink_overlap(std::string_view model, std::string_view policy);
  prometheus::Histogram& kept_attention_mass(std::string_view model, std::string_view policy);
  // A finished focus request: its PCGI recall, sink overlap between consecutive steps and sampled
  // attention-mass recall, when measured.
  void record_focus(std::string_view model, std::string_view policy, const FocusCounters& focus);

  // K/V pool (one per process): pages and bytes by state (used, free), the used ratio, and
  // refused allocations (taken as the growth of the pool's cumulative count).
  void set_kv_pool(const KvPoolStats& stats);

  // Chunk cache: counters, and the cumulative ChunkKvCacheStats of a cache turned into counter
  // increments (by difference from the last sync) plus entries/pages gauges.
  prometheus::Counter& chunk_cache_hits(std::string_view model);
  prometheus::Counter& chunk_cache_misses(std::string_view model);
  prometheus::Counter& chunk_cache_evictions(std::string_view model);
  void sync_chunk_cache(std::string_view model, const ChunkKvCacheStats& stats);

  // K/V transfer, by transport (local, ucx, nccl, cuda_ipc).
  prometheus::Counter& kv_transfer_bytes(std::string_view transport);
  prometheus::Histogram& kv_transfer_duration(std::string_view transport);
  prometheus::Counter& kv_transfer_failures(std::string_view transport);
  // One finished transfer: its bytes and its duration.
  void record_kv_transfer(std::string_view transport, int64_t bytes, double seconds);

  // Router: placements and retries per stage (prefill, decode) and outcome, and whether each
  // node it routes to answers its health checks (1) or not (0).
  prometheus::Counter& placements(std::string_view stage, std::string_view outcome);
  prometheus::Counter& retries(std::string_view stage, std::string_view outcome);
  prometheus::Gauge& node_up(std::string_view peer_role, std::string_view peer);

 private:
  ServingMetrics(std::string role, std::string node);

  std::string role_;
  std::string node_;
  std::shared_ptr<prometheus::Registry> registry_;
  std::vector<prometheus::Family<prometheus::Counter>*> counters_;      // by catalogue index
  std::vector<prometheus::Family<prometheus::Gauge>*> gauges_;          // by catalogue index
  std::vector<prometheus::Family<prometheus::Histogram>*> histograms_;  // by catalogue index

  std::mutex sync_mutex_;  // guards the last-seen cumulative stats below
  int64_t last_refused_allocations_ = 0;
  std::map<std::string, ChunkKvCacheStats, std::less<>> last_chunk_cache_;
};

}  // namespace dllm::metrics

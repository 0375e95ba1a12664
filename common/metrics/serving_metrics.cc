// The catalogue table (names, types, help, labels, buckets) and ServingMetrics built from it.
#include "common/metrics/serving_metrics.h"

#include <algorithm>
#include <chrono>
#include <initializer_list>
#include <type_traits>
#include <utility>

namespace dllm::metrics {
namespace {

// Catalogue indices; kFamilies below is in this order.
enum Id : size_t {
  kRequests,
  kPromptTokens,
  kGeneratedTokens,
  kTimeToFirstBlock,
  kTimePerBlock,
  kStepsPerBlock,
  kRequestDuration,
  kQueueTime,
  kRunning,
  kWaiting,
  kStepDuration,
  kSelectedChunks,
  kKeptTokenRatio,
  kPcgiRecall,
  kSinkOverlap,
  kKeptAttentionMass,
  kPoolPages,
  kPoolBytes,
  kPoolUsage,
  kPoolRefused,
  kCacheHits,
  kCacheMisses,
  kCacheEvictions,
  kCacheEntries,
  kCachePages,
  kTransferBytes,
  kTransferDuration,
  kTransferFailures,
  kPlacements,
  kRetries,
  kNodeUp,
  kStartTime,
  kFamilyCount,
};

enum class Buckets { kNone, kLatency, kSteps, kChunks, kRatio };

struct Entry {
  MetricFamilyInfo info;
  Buckets buckets = Buckets::kNone;
};

constexpr MetricType kC = MetricType::kCounter;
constexpr MetricType kG = MetricType::kGauge;
constexpr MetricType kH = MetricType::kHistogram;

const std::vector<Entry>& entries() {
  static const std::vector<Entry>* table = new std::vector<Entry>{
      {{"dllm_requests_total",
        kC,
        "Generation requests finished, by outcome.",
        {"model", "policy", "outcome"}}},
      {{"dllm_prompt_tokens_total",
        kC,
        "Prompt tokens of finished requests.",
        {"model", "policy"}}},
      {{"dllm_generated_tokens_total",
        kC,
        "Tokens generated (committed by denoising).",
        {"model", "policy"}}},
      {{"dllm_time_to_first_block_seconds",
        kH,
        "From request arrival to its first finished block.",
        {"model", "policy"}},
       Buckets::kLatency},
      {{"dllm_time_per_block_seconds",
        kH,
        "Time to finish one block after the previous one.",
        {"model", "policy"}},
       Buckets::kLatency},
      {{"dllm_denoising_steps_per_block",
        kH,
        "Denoising steps one block took.",
        {"model", "policy"}},
       Buckets::kSteps},
      {{"dllm_request_duration_seconds",
        kH,
        "End-to-end latency of a request, any outcome.",
        {"model", "policy"}},
       Buckets::kLatency},
      {{"dllm_queue_time_seconds", kH, "Time a request waited before its first step.", {"model"}},
       Buckets::kLatency},
      {{"dllm_requests_running", kG, "Requests being generated now.", {"model"}}},
      {{"dllm_requests_waiting", kG, "Requests queued, not started yet.", {"model"}}},
      {{"dllm_denoising_step_duration_seconds",
        kH,
        "Duration of one denoising step (forward).",
        {"model", "policy"}},
       Buckets::kLatency},
      {{"dllm_selected_chunks",
        kH,
        "Prompt chunks a sparse step attended to (top-K).",
        {"model", "policy"}},
       Buckets::kChunks},
      {{"dllm_kept_token_ratio",
        kH,
        "Share of prompt tokens a sparse step kept.",
        {"model", "policy"}},
       Buckets::kRatio},
      {{"dllm_pcgi_recall_ratio",
        kH,
        "Focus: share of committed positions the PCGI focus set predicted, per request.",
        {"model", "policy"}},
       Buckets::kRatio},
      {{"dllm_sink_overlap_ratio",
        kH,
        "Focus: share of a step's attention sinks that the previous step also chose, per request.",
        {"model", "policy"}},
       Buckets::kRatio},
      {{"dllm_kept_attention_mass_ratio",
        kH,
        "Sampled share of dense attention mass the sparse selection kept.",
        {"model", "policy"}},
       Buckets::kRatio},
      {{"dllm_kv_pool_pages", kG, "K/V pool pages by state (used, free).", {"state"}}},
      {{"dllm_kv_pool_bytes", kG, "K/V pool bytes by state (used, free).", {"state"}}},
      {{"dllm_kv_pool_usage_ratio", kG, "Used share of the K/V pool's pages.", {}}},
      {{"dllm_kv_pool_allocation_failures_total",
        kC,
        "K/V page allocations refused because the pool was full.",
        {}}},
      {{"dllm_chunk_cache_hits_total",
        kC,
        "Chunk K/V cache lookups that found the chunk.",
        {"model"}}},
      {{"dllm_chunk_cache_misses_total",
        kC,
        "Chunk K/V cache lookups that had to encode.",
        {"model"}}},
      {{"dllm_chunk_cache_evictions_total", kC, "Chunks evicted from the cache (LRU).", {"model"}}},
      {{"dllm_chunk_cache_entries", kG, "Chunks held by the cache.", {"model"}}},
      {{"dllm_chunk_cache_pages", kG, "K/V pool pages held by cached chunks.", {"model"}}},
      {{"dllm_kv_transfer_bytes_total", kC, "K/V bytes moved between nodes.", {"transport"}}},
      {{"dllm_kv_transfer_duration_seconds", kH, "Duration of one K/V transfer.", {"transport"}},
       Buckets::kLatency},
      {{"dllm_kv_transfer_failures_total", kC, "K/V transfers that failed.", {"transport"}}},
      {{"dllm_router_placements_total",
        kC,
        "Router placement decisions by stage and outcome.",
        {"stage", "outcome"}}},
      {{"dllm_router_retries_total",
        kC,
        "Router retries on another node, by stage and outcome.",
        {"stage", "outcome"}}},
      {{"dllm_node_up",
        kG,
        "1 when a node the router uses passes its health check, else 0.",
        {"peer_role", "peer"}}},
      {{"dllm_process_start_time_seconds", kG, "Start time of the process, Unix seconds.", {}}},
  };
  return *table;
}

prometheus::Histogram::BucketBoundaries bucket_boundaries(Buckets kind) {
  switch (kind) {
    case Buckets::kLatency:  // 1 ms .. 5 min
      return {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
              1,     2.5,    5,     10,   30,    60,   120, 300};
    case Buckets::kSteps:
      return {1, 2, 4, 8, 16, 32, 64, 128, 256, 512};
    case Buckets::kChunks:
      return {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024};
    case Buckets::kRatio:
      return {0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 1};
    case Buckets::kNone:
      break;
  }
  return {};
}

// The label map of series `id` with `values` for the catalogue's label names, in order.
prometheus::Labels labels_of(Id id, std::initializer_list<std::string_view> values) {
  const std::vector<std::string>& names = entries()[id].info.labels;
  prometheus::Labels labels;
  size_t i = 0;
  for (std::string_view v : values) labels.emplace(names[i++], std::string(v));
  return labels;
}

// Series `id` of `family` with `values` for its labels (created on first use).
template <typename T>
T& series(prometheus::Family<T>* family, Id id, std::initializer_list<std::string_view> values) {
  if constexpr (std::is_same_v<T, prometheus::Histogram>) {
    return family->Add(labels_of(id, values), bucket_boundaries(entries()[id].buckets));
  } else {
    return family->Add(labels_of(id, values));
  }
}

}  // namespace

const std::vector<MetricFamilyInfo>& serving_metric_families() {
  static const std::vector<MetricFamilyInfo>* infos = [] {
    auto* out = new std::vector<MetricFamilyInfo>;
    for (const Entry& e : entries()) out->push_back(e.info);
    return out;
  }();
  return *infos;
}

std::vector<std::string> serving_metric_names() {
  std::vector<std::string> names;
  for (const MetricFamilyInfo& f : serving_metric_families()) names.push_back(f.name);
  return names;
}

const char* metric_type_name(MetricType type) {
  switch (type) {
    case MetricType::kCounter:
      return "counter";
    case MetricType::kGauge:
      return "gauge";
    case MetricType::kHistogram:
      return "histogram";
  }
  return "unknown";
}

std::string_view outcome_of(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kOk:
      return request_outcome::kOk;
    case absl::StatusCode::kCancelled:
      return request_outcome::kCancelled;
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kNotFound:
    case absl::StatusCode::kOutOfRange:
    case absl::StatusCode::kFailedPrecondition:
      return request_outcome::kInvalid;
    case absl::StatusCode::kResourceExhausted:
      return request_outcome::kRejected;
    case absl::StatusCode::kDeadlineExceeded:
      return request_outcome::kTimeout;
    case absl::StatusCode::kUnavailable:
      return request_outcome::kUnavailable;
    default:
      return request_outcome::kError;
  }
}

absl::StatusOr<std::unique_ptr<ServingMetrics>> ServingMetrics::create(std::string_view role,
                                                                       std::string_view node) {
  constexpr std::string_view kRoles[] = {"router", "prefill", "decode", "all"};
  if (std::find(std::begin(kRoles), std::end(kRoles), role) == std::end(kRoles)) {
    return absl::InvalidArgumentError("metrics: role \"" + std::string(role) +
                                      "\" is not one of router, prefill, decode, all");
  }
  if (node.empty()) return absl::InvalidArgumentError("metrics: the node id is empty");
  return std::unique_ptr<ServingMetrics>(new ServingMetrics(std::string(role), std::string(node)));
}

ServingMetrics::ServingMetrics(std::string role, std::string node)
    : role_(std::move(role)),
      node_(std::move(node)),
      registry_(std::make_shared<prometheus::Registry>()),
      counters_(kFamilyCount, nullptr),
      gauges_(kFamilyCount, nullptr),
      histograms_(kFamilyCount, nullptr) {
  const prometheus::Labels constant = {{"role", role_}, {"node", node_}};
  for (size_t id = 0; id < kFamilyCount; ++id) {
    const MetricFamilyInfo& info = entries()[id].info;
    switch (info.type) {
      case MetricType::kCounter:
        counters_[id] =
            &prometheus::BuildCounter().Name(info.name).Help(info.help).Labels(constant).Register(
                *registry_);
        break;
      case MetricType::kGauge:
        gauges_[id] =
            &prometheus::BuildGauge().Name(info.name).Help(info.help).Labels(constant).Register(
                *registry_);
        break;
      case MetricType::kHistogram:
        histograms_[id] =
            &prometheus::BuildHistogram().Name(info.name).Help(info.help).Labels(constant).Register(
                *registry_);
        break;
    }
  }
  // Series without variable labels exist from the start, so a scrape shows them at 0.
  gauges_[kStartTime]->Add({}).Set(
      static_cast<double>(std::chrono::duration_cast<std::chrono::seconds>(
                              std::chrono::system_clock::now().time_since_epoch())
                              .count()));
  gauges_[kPoolUsage]->Add({});
  counters_[kPoolRefused]->Add({});
}

prometheus::Counter& ServingMetrics::requests(std::string_view model, std::string_view policy,
                                              std::string_view outcome) {
  return series(counters_[kRequests], kRequests, {model, policy, outcome});
}
prometheus::Counter& ServingMetrics::prompt_tokens(std::string_view model,
                                                   std::string_view policy) {
  return series(counters_[kPromptTokens], kPromptTokens, {model, policy});
}
prometheus::Counter& ServingMetrics::generated_tokens(std::string_view model,
                                                      std::string_view policy) {
  return series(counters_[kGeneratedTokens], kGeneratedTokens, {model, policy});
}
prometheus::Histogram& ServingMetrics::time_to_first_block(std::string_view model,
                                                           std::string_view policy) {
  return series(histograms_[kTimeToFirstBlock], kTimeToFirstBlock, {model, policy});
}
prometheus::Histogram& ServingMetrics::time_per_block(std::string_view model,
                                                      std::string_view policy) {
  return series(histograms_[kTimePerBlock], kTimePerBlock, {model, policy});
}
prometheus::Histogram& ServingMetrics::denoising_steps_per_block(std::string_view model,
                                                                 std::string_view policy) {
  return series(histograms_[kStepsPerBlock], kStepsPerBlock, {model, policy});
}
prometheus::Histogram& ServingMetrics::request_duration(std::string_view model,
                                                        std::string_view policy) {
  return series(histograms_[kRequestDuration], kRequestDuration, {model, policy});
}
prometheus::Histogram& ServingMetrics::queue_time(std::string_view model) {
  return series(histograms_[kQueueTime], kQueueTime, {model});
}
prometheus::Gauge& ServingMetrics::running_requests(std::string_view model) {
  return series(gauges_[kRunning], kRunning, {model});
}
prometheus::Gauge& ServingMetrics::waiting_requests(std::string_view model) {
  return series(gauges_[kWaiting], kWaiting, {model});
}

prometheus::Histogram& ServingMetrics::denoising_step_duration(std::string_view model,
                                                               std::string_view policy) {
  return series(histograms_[kStepDuration], kStepDuration, {model, policy});
}
prometheus::Histogram& ServingMetrics::selected_chunks(std::string_view model,
                                                       std::string_view policy) {
  return series(histograms_[kSelectedChunks], kSelectedChunks, {model, policy});
}
prometheus::Histogram& ServingMetrics::kept_token_ratio(std::string_view model,
                                                        std::string_view policy) {
  return series(histograms_[kKeptTokenRatio], kKeptTokenRatio, {model, policy});
}
prometheus::Histogram& ServingMetrics::pcgi_recall(std::string_view model,
                                                   std::string_view policy) {
  return series(histograms_[kPcgiRecall], kPcgiRecall, {model, policy});
}
prometheus::Histogram& ServingMetrics::sink_overlap(std::string_view model,
                                                    std::string_view policy) {
  return series(histograms_[kSinkOverlap], kSinkOverlap, {model, policy});
}
prometheus::Histogram& ServingMetrics::kept_attention_mass(std::string_view model,
                                                           std::string_view policy) {
  return series(histograms_[kKeptAttentionMass], kKeptAttentionMass, {model, policy});
}

void ServingMetrics::record_focus(std::string_view model, std::string_view policy,
                                  const FocusCounters& focus) {
  if (focus.committed_focused > 0) pcgi_recall(model, policy).Observe(focus.pcgi_recall());
  if (focus.sink_steps > 0) sink_overlap(model, policy).Observe(focus.sink_overlap());
  if (focus.mass_samples > 0) kept_attention_mass(model, policy).Observe(focus.mass_recall());
}

void ServingMetrics::set_kv_pool(const KvPoolStats& stats) {
  const int64_t free_pages = stats.total_pages - stats.used_pages;
  series(gauges_[kPoolPages], kPoolPages, {"used"}).Set(static_cast<double>(stats.used_pages));
  series(gauges_[kPoolPages], kPoolPages, {"free"}).Set(static_cast<double>(free_pages));
  series(gauges_[kPoolBytes], kPoolBytes, {"used"})
      .Set(static_cast<double>(stats.used_pages * stats.page_bytes));
  series(gauges_[kPoolBytes], kPoolBytes, {"free"})
      .Set(static_cast<double>(free_pages * stats.page_bytes));
  gauges_[kPoolUsage]->Add({}).Set(
      stats.total_pages > 0 ? static_cast<double>(stats.used_pages) / stats.total_pages : 0.0);
  std::lock_guard<std::mutex> lock(sync_mutex_);
  if (stats.allocations_refused > last_refused_allocations_) {
    counters_[kPoolRefused]->Add({}).Increment(
        static_cast<double>(stats.allocations_refused - last_refused_allocations_));
  }
  last_refused_allocations_ = stats.allocations_refused;
}

prometheus::Counter& ServingMetrics::chunk_cache_hits(std::string_view model) {
  return series(counters_[kCacheHits], kCacheHits, {model});
}
prometheus::Counter& ServingMetrics::chunk_cache_misses(std::string_view model) {
  return series(counters_[kCacheMisses], kCacheMisses, {model});
}
prometheus::Counter& ServingMetrics::chunk_cache_evictions(std::string_view model) {
  return series(counters_[kCacheEvictions], kCacheEvictions, {model});
}

void ServingMetrics::sync_chunk_cache(std::string_view model, const ChunkKvCacheStats& stats) {
  series(gauges_[kCacheEntries], kCacheEntries, {model}).Set(static_cast<double>(stats.entries));
  series(gauges_[kCachePages], kCachePages, {model}).Set(static_cast<double>(stats.pages));
  std::lock_guard<std::mutex> lock(sync_mutex_);
  auto it = last_chunk_cache_.find(model);
  if (it == last_chunk_cache_.end()) {
    it = last_chunk_cache_.emplace(std::string(model), ChunkKvCacheStats{}).first;
  }
  // A cache that was replaced starts again from 0: count what it did since then.
  const auto grow = [](prometheus::Counter& c, int64_t now, int64_t last) {
    c.Increment(static_cast<double>(now >= last ? now - last : now));
  };
  grow(chunk_cache_hits(model), stats.hits, it->second.hits);
  grow(chunk_cache_misses(model), stats.misses, it->second.misses);
  grow(chunk_cache_evictions(model), stats.evictions, it->second.evictions);
  it->second = stats;
}

prometheus::Counter& ServingMetrics::kv_transfer_bytes(std::string_view transport) {
  return series(counters_[kTransferBytes], kTransferBytes, {transport});
}
prometheus::Histogram& ServingMetrics::kv_transfer_duration(std::string_view transport) {
  return series(histograms_[kTransferDuration], kTransferDuration, {transport});
}
prometheus::Counter& ServingMetrics::kv_transfer_failures(std::string_view transport) {
  return series(counters_[kTransferFailures], kTransferFailures, {transport});
}
void ServingMetrics::record_kv_transfer(std::string_view transport, int64_t bytes, double seconds) {
  kv_transfer_bytes(transport).Increment(static_cast<double>(bytes));
  kv_transfer_duration(transport).Observe(seconds);
}

prometheus::Counter& ServingMetrics::placements(std::string_view stage, std::string_view outcome) {
  return series(counters_[kPlacements], kPlacements, {stage, outcome});
}
prometheus::Counter& ServingMetrics::retries(std::string_view stage, std::string_view outcome) {
  return series(counters_[kRetries], kRetries, {stage, outcome});
}
prometheus::Gauge& ServingMetrics::node_up(std::string_view peer_role, std::string_view peer) {
  return series(gauges_[kNodeUp], kNodeUp, {peer_role, peer});
}

}  // namespace dllm::metrics

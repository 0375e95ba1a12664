// The PrefillNode service: everything of a request before the denoising loop (chunk selection,
// the compressed prompt, reuse-mode K/V), K/V held under leases for decode nodes to pull.
#pragma once

#include <memory>
#include <mutex>
#include <set>
#include <string>

#include "common/metrics/serving_metrics.h"
#include "common/pipeline/load_counters.h"
#include "common/pipeline/served_model.h"
#include "common/sparse/chunk_kv_cache.h"
#include "common/transfer/transport.h"
#include "dllm/v1/node.grpc.pb.h"
#include "prefill_node/kv_lease_table.h"

namespace dllm::prefill {

struct PrefillServiceOptions {
  std::string node_id = "prefill-0";
  int max_waiting = 64;                 // queued Prepare calls beyond this: RESOURCE_EXHAUSTED
  int64_t chunk_cache_pages = 4096;     // chunk K/V kept across requests (pages of the K/V pool)
  std::chrono::milliseconds lease{30000};
  int max_affinity_keys = 4096;         // chunk keys reported to the router
};

class PrefillService final : public v1::PrefillNode::Service {
 public:
  PrefillService(ServedModel* model, transfer::Transport* transport,
                 PrefillServiceOptions options);

  grpc::Status Prepare(grpc::ServerContext* context, const v1::PrepareRequest* request,
                       v1::PrepareResponse* response) override;
  grpc::Status Release(grpc::ServerContext* context, const v1::ReleaseRequest* request,
                       v1::ReleaseResponse* response) override;
  grpc::Status Abort(grpc::ServerContext* context, const v1::AbortRequest* request,
                     v1::AbortResponse* response) override;
  grpc::Status GetLoad(grpc::ServerContext* context, const v1::GetLoadRequest* request,
                       v1::NodeLoad* response) override;

  v1::NodeLoad load() const;
  // Optional: where requests, chunk selection and the chunk cache are recorded.
  void set_metrics(metrics::ServingMetrics* metrics) { metrics_ = metrics; }

 private:
  grpc::Status prepare(grpc::ServerContext* context, const v1::PrepareRequest& request,
                       v1::PrepareResponse* response);

  ServedModel* model_;
  transfer::Transport* transport_;
  PrefillServiceOptions options_;
  ChunkKvCache chunk_cache_;
  KvLeaseTable leases_;
  mutable LoadCounters counters_;
  std::mutex aborted_mu_;
  std::set<std::string> aborted_;  // request ids whose Prepare should give up
  metrics::ServingMetrics* metrics_ = nullptr;
};

}  // namespace dllm::prefill

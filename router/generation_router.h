// The public Generation service of the router: validate and tokenize, place the request on a
// prefill node and a decode node, relay the decode stream to the client. A node that dies
// mid-request (UNAVAILABLE, a broken stream) is taken out of placement and the request is placed
// again; blocks the client already has are not sent twice (generation is deterministic per
// seed, so the retried run produces the same blocks).
#pragma once

#include <atomic>
#include <memory>
#include <string>

#include "common/metrics/serving_metrics.h"
#include "common/pipeline/served_model.h"
#include "dllm/v1/generation.grpc.pb.h"
#include "dllm/v1/node.grpc.pb.h"
#include "router/cancel_propagator.h"
#include "router/node_registry.h"
#include "router/public_request.h"
#include "router/serving_limits.h"

namespace dllm::router {

struct RouterCounters {
  std::atomic<int64_t> requests{0}, completed{0}, failed{0}, rejected{0}, retries{0};
  std::atomic<int> inflight{0};
};

class GenerationRouter final : public v1::Generation::Service {
 public:
  // `model`: config + tokenizer of the one model this router serves.
  GenerationRouter(std::unique_ptr<ServedModel> model, NodeRegistry* registry,
                   ServingLimits limits);

  grpc::Status Generate(grpc::ServerContext* context, const v1::GenerateRequest* request,
                        grpc::ServerWriter<v1::GenerateResponse>* writer) override;
  grpc::Status Tokenize(grpc::ServerContext* context, const v1::TokenizeRequest* request,
                        v1::TokenizeResponse* response) override;
  grpc::Status ListModels(grpc::ServerContext* context, const v1::ListModelsRequest* request,
                          v1::ListModelsResponse* response) override;

  // Optional: where requests, latencies, placements and retries are recorded.
  void set_metrics(metrics::ServingMetrics* metrics) { metrics_ = metrics; }
  // The policy of requests that name none (default "dense").
  void set_default_policy(std::string policy) { default_policy_ = std::move(policy); }
  // Every call must then carry `authorization: Bearer <token>` (else UNAUTHENTICATED).
  void set_api_token(std::string token) { api_token_ = std::move(token); }
  const RouterCounters& counters() const { return counters_; }
  const ServedModel& model() const { return *model_; }

 private:
  // One placement: Prepare on a prefill node, Decode on a decode node, relayed. OK, or the status
  // that ended it; `node_failed` names a node that failed as if dead (worth another placement).
  struct Attempt {
    grpc::Status status;
    std::string failed_node;
    const char* failed_stage = "";  // "prefill" | "decode"
    bool retry = false;             // worth another attempt even with no node to blame
  };
  // What the client saw of one request, for the metrics.
  struct Progress {
    int blocks_sent = 0;
    std::chrono::steady_clock::time_point last_block;
    bool first_block_seen = false;
    int generated_tokens = 0;
    std::vector<int32_t> committed;  // ids of the blocks sent (a retried decode resumes there)
  };
  Attempt attempt(grpc::ServerContext* context, const RoutedRequest& routed,
                  grpc::ServerWriter<v1::GenerateResponse>* writer, Progress* progress,
                  std::set<std::string>* excluded, std::chrono::steady_clock::time_point arrived);
  void release_lease(const NodeRef& prefill, const v1::KvHandle& kv);
  std::string request_id_or_new(const std::string& given);
  grpc::Status authorize(const grpc::ServerContext& context) const;

  std::unique_ptr<ServedModel> model_;
  NodeRegistry* registry_;
  ServingLimits limits_;
  void record(const RoutedRequest* routed, const grpc::Status& status,
              std::chrono::steady_clock::time_point arrived, const Progress& progress);

  CancelPropagator cancels_;
  metrics::ServingMetrics* metrics_ = nullptr;
  std::atomic<uint64_t> next_id_{0};
  std::string default_policy_ = "dense";
  std::string api_token_;  // empty: the API is open
  RouterCounters counters_;
};

}  // namespace dllm::router

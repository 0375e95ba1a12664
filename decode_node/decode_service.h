// The DecodeNode service: pulls a prepared prompt's K/V, runs the denoising loop, streams each
// finished block. All running requests step together (continuous batching); the rest wait
// (bounded).
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "common/generate/continuous_batcher.h"
#include "common/metrics/serving_metrics.h"
#include "common/pipeline/load_counters.h"
#include "common/pipeline/served_model.h"
#include "decode_node/transport_set.h"
#include "dllm/v1/node.grpc.pb.h"

namespace dllm::decode {

struct DecodeServiceOptions {
  std::string node_id = "decode-0";
  int max_waiting = 64;  // requests queued for the model beyond this: RESOURCE_EXHAUSTED
  absl::Duration pull_timeout = absl::Seconds(10);
  transfer::TransportOptions transport;
  ContinuousBatcherOptions batching;  // requests stepped together
};

class DecodeService final : public v1::DecodeNode::Service {
 public:
  DecodeService(ServedModel* model, DecodeServiceOptions options);

  grpc::Status Decode(grpc::ServerContext* context, const v1::DecodeRequest* request,
                      grpc::ServerWriter<v1::DecodeEvent>* writer) override;
  grpc::Status Abort(grpc::ServerContext* context, const v1::AbortRequest* request,
                     v1::AbortResponse* response) override;
  grpc::Status GetLoad(grpc::ServerContext* context, const v1::GetLoadRequest* request,
                       v1::NodeLoad* response) override;

  v1::NodeLoad load() const;
  // Optional: where requests, latencies and K/V transfers are recorded.
  void set_metrics(metrics::ServingMetrics* metrics) { metrics_ = metrics; }

 private:
  // What one Decode measured, for the metrics.
  struct Observed {
    double queue_seconds = -1, first_block_seconds = -1, pull_seconds = -1;
    std::vector<double> block_gaps;
    int64_t pulled_bytes = 0, steps = 0, blocks = 0, generated = 0;
    double total_seconds = 0;
    bool resumed = false;
    bool pull_failed = false;
  };
  grpc::Status decode(grpc::ServerContext* context, const v1::DecodeRequest& request,
                      grpc::ServerWriter<v1::DecodeEvent>* writer, Observed* observed);

  // The cancel flag of an in-flight request (Abort sets it), registered for its lifetime.
  std::shared_ptr<std::atomic<bool>> track(const std::string& request_id);
  void untrack(const std::string& request_id);

  ServedModel* model_;
  DecodeServiceOptions options_;
  TransportSet transports_;
  mutable LoadCounters counters_;
  std::mutex inflight_mu_;
  std::multimap<std::string, std::shared_ptr<std::atomic<bool>>> inflight_;
  metrics::ServingMetrics* metrics_ = nullptr;
  ContinuousBatcher batcher_;  // last: its thread stops before the rest goes
};

}  // namespace dllm::decode

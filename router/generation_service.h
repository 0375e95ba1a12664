// The public Generation service: each handler translates proto ↔ common/ calls and nothing more.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "dllm/v1/generation.grpc.pb.h"
#include "router/served_model.h"
#include "router/serving_limits.h"

namespace dllm::router {

class GenerationService final : public v1::Generation::Service {
 public:
  // The first model is the default one (a request with an empty model name).
  GenerationService(std::vector<std::unique_ptr<ServedModel>> models, ServingLimits limits);

  grpc::Status Generate(grpc::ServerContext* context, const v1::GenerateRequest* request,
                        grpc::ServerWriter<v1::GenerateResponse>* writer) override;
  grpc::Status Tokenize(grpc::ServerContext* context, const v1::TokenizeRequest* request,
                        v1::TokenizeResponse* response) override;
  grpc::Status ListModels(grpc::ServerContext* context, const v1::ListModelsRequest* request,
                          v1::ListModelsResponse* response) override;

 private:
  absl::StatusOr<ServedModel*> find_model(const std::string& name);
  // The caller's id, or a fresh "req-N".
  std::string request_id_or_new(const std::string& given);

  std::vector<std::unique_ptr<ServedModel>> models_;
  ServingLimits limits_;
  std::atomic<uint64_t> next_request_ = 0;
};

}  // namespace dllm::router

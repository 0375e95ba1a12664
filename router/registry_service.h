// The NodeRegistry service nodes call: Register and Heartbeat into the router's NodeRegistry.
#pragma once

#include "dllm/v1/node.grpc.pb.h"
#include "router/node_registry.h"

namespace dllm::router {

class RegistryService final : public v1::NodeRegistry::Service {
 public:
  RegistryService(NodeRegistry* registry, std::string model_name, double heartbeat_seconds)
      : registry_(registry), model_(std::move(model_name)), heartbeat_seconds_(heartbeat_seconds) {}

  grpc::Status Register(grpc::ServerContext* context, const v1::RegisterRequest* request,
                        v1::RegisterResponse* response) override {
    if (request->node_id().empty() || request->address().empty())
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "node_id and address are required");
    if (request->role() != v1::NODE_ROLE_PREFILL && request->role() != v1::NODE_ROLE_DECODE)
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "role must be prefill or decode");
    if (request->model() != model_)
      return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                          "node serves model '" + request->model() + "', this router routes '" +
                              model_ + "'");
    registry_->upsert(*request);
    response->set_heartbeat_seconds(heartbeat_seconds_);
    return grpc::Status::OK;
  }

  grpc::Status Heartbeat(grpc::ServerContext* context, const v1::HeartbeatRequest* request,
                         v1::HeartbeatResponse* response) override {
    response->set_known(registry_->heartbeat(request->node_id(), request->load()));
    return grpc::Status::OK;
  }

 private:
  NodeRegistry* registry_;
  std::string model_;
  double heartbeat_seconds_;
};

}  // namespace dllm::router

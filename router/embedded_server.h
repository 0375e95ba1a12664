// `--role all`: the Generation service and gRPC health on one listening address.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "grpcpp/server.h"
#include "router/generation_service.h"

namespace dllm::router {

struct EmbeddedServer {
  std::unique_ptr<GenerationService> service;  // outlives server (declared first)
  std::unique_ptr<grpc::Server> server;
  std::string address;  // host:port actually bound (port 0 resolved)
};

// Binds `listen` ("host:port"; port 0 picks a free one) and starts serving.
absl::StatusOr<EmbeddedServer> start_embedded_server(const std::string& listen,
                                                     std::unique_ptr<GenerationService> service);

}  // namespace dllm::router

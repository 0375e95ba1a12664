// The OpenAI-compatible HTTP front door of the router: /v1/models, /v1/completions and
// /v1/chat/completions (streamed as Server-Sent Events on request), served over HTTP/1.1 and
// answered by calling the router's own dllm.v1.Generation service as a gRPC client.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "grpcpp/channel.h"

namespace dllm::router {

struct OpenAiGatewayOptions {
  size_t max_body_bytes = 4 << 20;  // larger request bodies get 413
  int max_connections = 64;         // more concurrent connections get 503
  // A keep-alive connection idle this long is closed.
  std::chrono::milliseconds idle_timeout{30000};
  // Deadline of each Generate call (504 when it passes); 0 = none.
  std::chrono::milliseconds request_timeout{0};
};

class OpenAiGateway {
 public:
  virtual ~OpenAiGateway() = default;
  // HOST:PORT the gateway listens on (the real port when 0 was asked).
  virtual const std::string& address() const = 0;
  // Stops accepting, cancels the gRPC calls of open connections and waits for them.
  virtual void stop() = 0;
};

// Serves HTTP on `listen` (HOST:PORT; port 0 picks a free one) for the Generation service at
// `grpc_target` (HOST:PORT of the router, dialed without TLS). Fails when `listen` cannot be
// bound; the router need not be up yet (requests then get 503). An HTTP `Authorization` header
// is passed on as gRPC metadata, so the router's bearer-token check (401 when it fails) covers
// HTTP clients too.
absl::StatusOr<std::unique_ptr<OpenAiGateway>> start_openai_gateway(
    const std::string& listen, const std::string& grpc_target, OpenAiGatewayOptions options = {});
// The same over a channel the caller made (the router's in-process channel, whatever its port's
// transport security).
absl::StatusOr<std::unique_ptr<OpenAiGateway>> start_openai_gateway(
    const std::string& listen, std::shared_ptr<grpc::Channel> channel,
    OpenAiGatewayOptions options = {});

}  // namespace dllm::router

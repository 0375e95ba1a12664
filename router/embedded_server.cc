// Building and starting the one-process server.
#include "router/embedded_server.h"

#include "absl/strings/str_cat.h"
#include "grpcpp/health_check_service_interface.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server_builder.h"

namespace dllm::router {

absl::StatusOr<EmbeddedServer> start_embedded_server(const std::string& listen,
                                                     std::unique_ptr<GenerationService> service) {
  const size_t colon = listen.rfind(':');
  if (colon == std::string::npos || colon == 0)
    return absl::InvalidArgumentError(
        absl::StrCat("--listen must be HOST:PORT, got '", listen, "'"));
  grpc::EnableDefaultHealthCheckService(true);
  EmbeddedServer out;
  out.service = std::move(service);
  int port = 0;
  grpc::ServerBuilder builder;
  builder.AddListeningPort(listen, grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(out.service.get());
  out.server = builder.BuildAndStart();
  if (out.server == nullptr || port == 0)
    return absl::UnavailableError(absl::StrCat("cannot listen on ", listen));
  out.address = absl::StrCat(listen.substr(0, colon), ":", port);
  return out;
}

}  // namespace dllm::router

// Transport security of the serving processes: TLS credentials for the gRPC port a process serves
// and for the channels it dials, read from PEM files; insecure when nothing is configured.
//
// One port serves everything. With a CA, the server asks every peer for a client certificate and
// verifies the one presented (a certificate from another CA fails the handshake); with
// require_client_cert, a call to an internal service (PrefillNode, DecodeNode, NodeRegistry) from
// a peer that presented none is refused UNAUTHENTICATED before it reaches the service. The public
// Generation API and the health service stay open to plain TLS clients (the API is guarded by its
// bearer token, health must answer probes).
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "grpcpp/channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/security/server_credentials.h"

namespace dllm::wire {

// How a process serves (`dllm serve --tls-cert --tls-key --tls-ca --tls-require-client-cert`).
struct ServerTlsOptions {
  std::string cert_file;  // PEM certificate chain; with key_file: the port serves TLS
  std::string key_file;   // PEM private key of the chain's first certificate (not encrypted)
  std::string ca_file;    // PEM roots a presented client certificate must chain to
  bool require_client_cert = false;  // internal services only for peers with a client certificate
};

// Server credentials for `options`; insecure when no certificate is set. A missing file is
// NotFound; an unreadable or empty file, a file without the PEM block it should hold, a key that
// does not match the certificate, or options that do not go together are InvalidArgument.
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> make_server_credentials(
    const ServerTlsOptions& options);

// What a process trusts and presents when it dials others (`--tls-ca`, `--tls-client-cert`,
// `--tls-client-key`, `--tls-server-name`).
struct ChannelTlsOptions {
  std::string ca_file;    // PEM roots the server's certificate must chain to (default: system's)
  std::string cert_file;  // PEM client certificate chain, for mutual TLS
  std::string key_file;   // its private key
  // The name the server's certificate must carry, instead of the host dialed (tests, or nodes
  // registered by IP address with certificates naming hosts).
  std::string server_name;
  bool tls = false;  // TLS even with neither a CA nor a client certificate (the system's roots)
};

// How this process dials: TLS when asked or when a CA or a client certificate is configured,
// else insecure.
class ChannelSecurity {
 public:
  ChannelSecurity();  // insecure
  // Same errors as make_server_credentials.
  static absl::StatusOr<ChannelSecurity> create(const ChannelTlsOptions& options);

  std::shared_ptr<grpc::Channel> dial(const std::string& target) const;
  bool tls() const { return tls_; }

 private:
  std::shared_ptr<grpc::ChannelCredentials> credentials_;
  std::string server_name_;
  bool tls_ = false;
};

// The whole content of a credential file. `flag` names where the path came from, for messages
// ("--tls-cert"). Missing → NotFound; unreadable or empty → InvalidArgument. Messages name the
// path, never the content.
absl::StatusOr<std::string> read_credential_file(absl::string_view flag, const std::string& path);

}  // namespace dllm::wire

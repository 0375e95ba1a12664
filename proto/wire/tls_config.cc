// PEM files → gRPC credentials, checked with OpenSSL first so that a bad file is a clear error at
// start (gRPC itself would only fail the port or the handshake later, without naming the file).
#include "proto/wire/tls_config.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <filesystem>
#include <fstream>
#include <iterator>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "dllm/v1/node.grpc.pb.h"
#include "grpc/grpc_security_constants.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/auth_metadata_processor.h"
#include "grpcpp/support/channel_arguments.h"

namespace dllm::wire {
namespace {

constexpr size_t kMaxCredentialBytes = 1 << 20;

struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
struct PkeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using X509Ptr = std::unique_ptr<X509, X509Free>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;

// OpenSSL would otherwise ask the terminal for the passphrase of an encrypted key.
int no_passphrase(char*, int, int, void*) { return -1; }

std::unique_ptr<BIO, BioFree> memory_bio(const std::string& pem) {
  return std::unique_ptr<BIO, BioFree>(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
}

// The first certificate of a PEM chain (the others are left to gRPC).
absl::StatusOr<X509Ptr> first_certificate(absl::string_view flag, const std::string& path,
                                          const std::string& pem) {
  X509Ptr cert(PEM_read_bio_X509(memory_bio(pem).get(), nullptr, no_passphrase, nullptr));
  ERR_clear_error();
  if (cert == nullptr)
    return absl::InvalidArgumentError(
        absl::StrCat(flag, ": '", path, "' holds no readable PEM certificate"));
  return cert;
}

struct KeyPair {
  std::string cert_pem, key_pem;
};

// A certificate chain and its private key, checked to belong together.
absl::StatusOr<KeyPair> read_key_pair(absl::string_view cert_flag, const std::string& cert_path,
                                      absl::string_view key_flag, const std::string& key_path) {
  absl::StatusOr<std::string> cert_pem = read_credential_file(cert_flag, cert_path);
  if (!cert_pem.ok()) return cert_pem.status();
  absl::StatusOr<std::string> key_pem = read_credential_file(key_flag, key_path);
  if (!key_pem.ok()) return key_pem.status();
  absl::StatusOr<X509Ptr> cert = first_certificate(cert_flag, cert_path, *cert_pem);
  if (!cert.ok()) return cert.status();
  PkeyPtr key(PEM_read_bio_PrivateKey(memory_bio(*key_pem).get(), nullptr, no_passphrase, nullptr));
  ERR_clear_error();
  if (key == nullptr)
    return absl::InvalidArgumentError(
        absl::StrCat(key_flag, ": '", key_path,
                     "' holds no readable PEM private key (encrypted keys are not "
                     "supported)"));
  const int match = X509_check_private_key(cert->get(), key.get());
  ERR_clear_error();
  if (match != 1)
    return absl::InvalidArgumentError(absl::StrCat(key_flag, ": the key in '", key_path,
                                                   "' does not match the certificate in '",
                                                   cert_path, "'"));
  return KeyPair{std::move(*cert_pem), std::move(*key_pem)};
}

absl::StatusOr<std::string> read_ca(absl::string_view flag, const std::string& path) {
  absl::StatusOr<std::string> pem = read_credential_file(flag, path);
  if (!pem.ok()) return pem.status();
  if (absl::StatusOr<X509Ptr> cert = first_certificate(flag, path, *pem); !cert.ok())
    return cert.status();
  return pem;
}

bool is_internal_method(absl::string_view path) {
  for (const char* service :
       {v1::PrefillNode::service_full_name(), v1::DecodeNode::service_full_name(),
        v1::NodeRegistry::service_full_name()})
    if (absl::StartsWith(path, absl::StrCat("/", service, "/"))) return true;
  return false;
}

// Runs before every call on a TLS port: an internal method needs a peer that presented a client
// certificate (the handshake has already verified it against the CA). In-process calls do not
// pass here; they come from this process.
class InternalServiceGuard final : public grpc::AuthMetadataProcessor {
 public:
  bool IsBlocking() const override { return false; }

  grpc::Status Process(const InputMetadata& metadata, grpc::AuthContext* context, OutputMetadata*,
                       OutputMetadata*) override {
    const auto path = metadata.find(":path");
    if (path == metadata.end())
      return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "a call without a method");
    const absl::string_view method(path->second.data(), path->second.size());
    if (!is_internal_method(method) ||
        !context->FindPropertyValues(GRPC_X509_PEM_CERT_PROPERTY_NAME).empty())
      return grpc::Status::OK;
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                        absl::StrCat(method,
                                     " is internal to the cluster: it needs a client "
                                     "certificate signed by the cluster's CA (mutual TLS)"));
  }
};

}  // namespace

absl::StatusOr<std::string> read_credential_file(absl::string_view flag, const std::string& path) {
  std::error_code error;
  const std::filesystem::file_status status = std::filesystem::status(path, error);
  if (!std::filesystem::exists(status))
    return absl::NotFoundError(absl::StrCat(flag, ": no such file '", path, "'"));
  if (std::filesystem::is_directory(status))
    return absl::InvalidArgumentError(absl::StrCat(flag, ": '", path, "' is a directory"));
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::InvalidArgumentError(absl::StrCat(flag, ": cannot read '", path, "'"));
  std::string content;
  char buf[4096];
  while (in.read(buf, sizeof buf) || in.gcount() > 0) {
    content.append(buf, static_cast<size_t>(in.gcount()));
    if (content.size() > kMaxCredentialBytes)
      return absl::InvalidArgumentError(
          absl::StrCat(flag, ": '", path, "' is larger than ", kMaxCredentialBytes, " bytes"));
  }
  if (in.bad()) return absl::InvalidArgumentError(absl::StrCat(flag, ": cannot read '", path, "'"));
  if (content.empty())
    return absl::InvalidArgumentError(absl::StrCat(flag, ": '", path, "' is empty"));
  return content;
}

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> make_server_credentials(
    const ServerTlsOptions& options) {
  if (options.cert_file.empty() != options.key_file.empty())
    return absl::InvalidArgumentError("--tls-cert and --tls-key go together");
  if (options.cert_file.empty()) {
    if (options.require_client_cert)
      return absl::InvalidArgumentError(
          "--tls-require-client-cert needs --tls-cert, --tls-key and --tls-ca");
    return grpc::InsecureServerCredentials();
  }
  if (options.require_client_cert && options.ca_file.empty())
    return absl::InvalidArgumentError(
        "--tls-require-client-cert needs --tls-ca (the CA client certificates must chain to)");
  absl::StatusOr<KeyPair> pair =
      read_key_pair("--tls-cert", options.cert_file, "--tls-key", options.key_file);
  if (!pair.ok()) return pair.status();
  grpc::SslServerCredentialsOptions ssl(options.ca_file.empty()
                                            ? GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE
                                            : GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_AND_VERIFY);
  if (!options.ca_file.empty()) {
    absl::StatusOr<std::string> ca = read_ca("--tls-ca", options.ca_file);
    if (!ca.ok()) return ca.status();
    ssl.pem_root_certs = std::move(*ca);
  }
  ssl.pem_key_cert_pairs.push_back({std::move(pair->key_pem), std::move(pair->cert_pem)});
  std::shared_ptr<grpc::ServerCredentials> credentials = grpc::SslServerCredentials(ssl);
  if (options.require_client_cert)
    credentials->SetAuthMetadataProcessor(std::make_shared<InternalServiceGuard>());
  return credentials;
}

ChannelSecurity::ChannelSecurity() : credentials_(grpc::InsecureChannelCredentials()) {}

absl::StatusOr<ChannelSecurity> ChannelSecurity::create(const ChannelTlsOptions& options) {
  if (options.cert_file.empty() != options.key_file.empty())
    return absl::InvalidArgumentError("--tls-client-cert and --tls-client-key go together");
  ChannelSecurity out;
  if (!options.tls && options.ca_file.empty() && options.cert_file.empty()) {
    if (!options.server_name.empty())
      return absl::InvalidArgumentError("--tls-server-name needs TLS (--tls-ca)");
    return out;
  }
  grpc::SslCredentialsOptions ssl;  // empty roots: the system's
  if (!options.ca_file.empty()) {
    absl::StatusOr<std::string> ca = read_ca("--tls-ca", options.ca_file);
    if (!ca.ok()) return ca.status();
    ssl.pem_root_certs = std::move(*ca);
  }
  if (!options.cert_file.empty()) {
    absl::StatusOr<KeyPair> pair =
        read_key_pair("--tls-client-cert", options.cert_file, "--tls-client-key", options.key_file);
    if (!pair.ok()) return pair.status();
    ssl.pem_cert_chain = std::move(pair->cert_pem);
    ssl.pem_private_key = std::move(pair->key_pem);
  }
  out.credentials_ = grpc::SslCredentials(ssl);
  out.server_name_ = options.server_name;
  out.tls_ = true;
  return out;
}

std::shared_ptr<grpc::Channel> ChannelSecurity::dial(const std::string& target) const {
  if (server_name_.empty()) return grpc::CreateChannel(target, credentials_);
  grpc::ChannelArguments args;
  args.SetSslTargetNameOverride(server_name_);
  return grpc::CreateCustomChannel(target, credentials_, args);
}

}  // namespace dllm::wire

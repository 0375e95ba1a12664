// The credentials module: every bad PEM or token file is a clear NotFound / InvalidArgument that
// names the flag and the path (never the content), and the internal-service guard of a real TLS
// port lets through exactly the peers with a client certificate from the cluster's CA.
#include "proto/wire/tls_config.h"

#include <sys/stat.h>

#include <chrono>
#include <fstream>

#include "dllm/v1/node.grpc.pb.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/health_check_service_interface.h"
#include "grpcpp/server_builder.h"
#include "gtest/gtest.h"
#include "proto/wire/bearer_token.h"
#include "tests/tls_certificates.h"

namespace dllm::wire {
namespace {

using testing::TestPki;

class TlsConfigTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { pki_ = TestPki::make().release(); }
  static void TearDownTestSuite() {
    delete pki_;
    pki_ = nullptr;
  }
  void SetUp() override {
    if (pki_ == nullptr) GTEST_SKIP() << "no working openssl binary";
  }
  static std::string f(const std::string& name) { return pki_->file(name); }
  // A file of the folder with `content`.
  static std::string write(const std::string& name, const std::string& content) {
    std::ofstream(f(name)) << content;
    return f(name);
  }
  ServerTlsOptions server_options() const {
    return {.cert_file = f("server.pem"), .key_file = f("server.key"), .ca_file = f("ca.pem")};
  }

  static TestPki* pki_;
};
TestPki* TlsConfigTest::pki_ = nullptr;

TEST_F(TlsConfigTest, NothingConfiguredIsInsecure) {
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> server =
      make_server_credentials(ServerTlsOptions{});
  ASSERT_TRUE(server.ok()) << server.status();
  EXPECT_NE(*server, nullptr);
  absl::StatusOr<ChannelSecurity> channel = ChannelSecurity::create(ChannelTlsOptions{});
  ASSERT_TRUE(channel.ok()) << channel.status();
  EXPECT_FALSE(channel->tls());
  EXPECT_FALSE(ChannelSecurity().tls());
}

TEST_F(TlsConfigTest, GoodFilesMakeTlsCredentials) {
  ServerTlsOptions mtls = server_options();
  mtls.require_client_cert = true;
  EXPECT_TRUE(make_server_credentials(mtls).ok());
  absl::StatusOr<ChannelSecurity> channel = ChannelSecurity::create(
      {.ca_file = f("ca.pem"), .cert_file = f("client.pem"), .key_file = f("client.key")});
  ASSERT_TRUE(channel.ok()) << channel.status();
  EXPECT_TRUE(channel->tls());
  absl::StatusOr<ChannelSecurity> system_roots = ChannelSecurity::create({.tls = true});
  ASSERT_TRUE(system_roots.ok());
  EXPECT_TRUE(system_roots->tls());
}

TEST_F(TlsConfigTest, MissingFileIsNotFoundNamingFlagAndPath) {
  ServerTlsOptions o = server_options();
  o.cert_file = f("absent.pem");
  const absl::Status st = make_server_credentials(o).status();
  EXPECT_EQ(st.code(), absl::StatusCode::kNotFound) << st;
  EXPECT_NE(st.message().find("--tls-cert"), absl::string_view::npos) << st;
  EXPECT_NE(st.message().find("absent.pem"), absl::string_view::npos) << st;
  const absl::Status ca = ChannelSecurity::create({.ca_file = f("absent-ca.pem")}).status();
  EXPECT_EQ(ca.code(), absl::StatusCode::kNotFound) << ca;
  EXPECT_NE(ca.message().find("--tls-ca"), absl::string_view::npos) << ca;
}

TEST_F(TlsConfigTest, UnreadableOrEmptyFileIsInvalidArgument) {
  ServerTlsOptions o = server_options();
  o.key_file = pki_->dir();  // a directory
  EXPECT_EQ(make_server_credentials(o).status().code(), absl::StatusCode::kInvalidArgument);
  o.key_file = write("empty.key", "");
  const absl::Status empty = make_server_credentials(o).status();
  EXPECT_EQ(empty.code(), absl::StatusCode::kInvalidArgument) << empty;
  EXPECT_NE(empty.message().find("empty"), absl::string_view::npos) << empty;
  if (geteuid() != 0) {  // root reads anything
    o.key_file = write("locked.key", TestPki::read(f("server.key")));
    chmod(o.key_file.c_str(), 0);
    EXPECT_EQ(make_server_credentials(o).status().code(), absl::StatusCode::kInvalidArgument);
  }
}

TEST_F(TlsConfigTest, MalformedPemIsInvalidArgument) {
  ServerTlsOptions o = server_options();
  o.cert_file = write("garbage.pem",
                      "-----BEGIN CERTIFICATE-----\nnot base64 !!\n"
                      "-----END CERTIFICATE-----\n");
  absl::Status st = make_server_credentials(o).status();
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << st;
  EXPECT_NE(st.message().find("no readable PEM certificate"), absl::string_view::npos) << st;

  o = server_options();
  o.key_file = f("server.pem");  // a certificate where the key should be
  st = make_server_credentials(o).status();
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << st;
  EXPECT_NE(st.message().find("no readable PEM private key"), absl::string_view::npos) << st;

  o = server_options();
  o.ca_file = f("server.key");  // a key where the CA should be
  EXPECT_EQ(make_server_credentials(o).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(TlsConfigTest, KeyOfAnotherCertificateIsInvalidArgument) {
  ServerTlsOptions o = server_options();
  o.key_file = f("client.key");
  const absl::Status st = make_server_credentials(o).status();
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << st;
  EXPECT_NE(st.message().find("does not match"), absl::string_view::npos) << st;
  const absl::Status client =
      ChannelSecurity::create({.cert_file = f("client.pem"), .key_file = f("server.key")}).status();
  EXPECT_EQ(client.code(), absl::StatusCode::kInvalidArgument) << client;
  EXPECT_NE(client.message().find("--tls-client-key"), absl::string_view::npos) << client;
}

TEST_F(TlsConfigTest, EncryptedKeyIsRefusedWithoutPrompting) {
  const absl::Status st =
      ChannelSecurity::create({.cert_file = f("client.pem"), .key_file = f("encrypted.key")})
          .status();
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << st;
  EXPECT_NE(st.message().find("encrypted"), absl::string_view::npos) << st;
}

TEST_F(TlsConfigTest, OptionsThatDoNotGoTogether) {
  EXPECT_EQ(make_server_credentials({.cert_file = f("server.pem")}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(make_server_credentials({.require_client_cert = true}).status().code(),
            absl::StatusCode::kInvalidArgument);
  ServerTlsOptions no_ca = server_options();
  no_ca.ca_file.clear();
  no_ca.require_client_cert = true;
  EXPECT_EQ(make_server_credentials(no_ca).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ChannelSecurity::create({.key_file = f("client.key")}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ChannelSecurity::create({.server_name = "localhost"}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(TlsConfigTest, TokenFileIsTrimmedAndChecked) {
  absl::StatusOr<std::string> token = read_token_file("--auth-token-file", f("token.txt"));
  ASSERT_TRUE(token.ok()) << token.status();
  EXPECT_EQ(*token, pki_->token());
  EXPECT_EQ(read_token_file("--auth-token-file", f("absent.txt")).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(read_token_file("--auth-token-file", write("blank.txt", " \n\t\n")).status().code(),
            absl::StatusCode::kInvalidArgument);
  const absl::Status two_words =
      read_token_file("--auth-token-file", write("two.txt", "secret-one secret-two\n")).status();
  EXPECT_EQ(two_words.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(two_words.message().find("secret-one"), absl::string_view::npos) << two_words;
}

TEST(BearerTokenTest, OnlyTheRightTokenPasses) {
  const std::string token = "s3cret-T0ken";
  EXPECT_TRUE(check_bearer("Bearer s3cret-T0ken", token).ok());
  EXPECT_TRUE(check_bearer("bearer s3cret-T0ken", token).ok());  // the scheme ignores case
  EXPECT_EQ(bearer_header(token), "Bearer s3cret-T0ken");
  for (const char* wrong : {"", "Bearer", "Bearer ", "Basic s3cret-T0ken", "Bearer s3cret-t0ken",
                            "Bearer s3cret-T0ken2", "s3cret-T0ken"}) {
    const absl::Status st = check_bearer(wrong, token);
    EXPECT_EQ(st.code(), absl::StatusCode::kUnauthenticated) << wrong;
    EXPECT_EQ(st.message().find(token), absl::string_view::npos) << st;
  }
}

// A real TLS port with the internal-service guard (nothing but GetLoad's UNIMPLEMENTED behind it).
class GuardedPortTest : public TlsConfigTest {
 protected:
  void SetUp() override {
    TlsConfigTest::SetUp();
    if (IsSkipped()) return;
    ServerTlsOptions o = server_options();
    o.require_client_cert = true;
    absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> credentials =
        make_server_credentials(o);
    ASSERT_TRUE(credentials.ok()) << credentials.status();
    grpc::EnableDefaultHealthCheckService(true);
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", *credentials, &port);
    builder.RegisterService(&prefill_);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    address_ = "127.0.0.1:" + std::to_string(port);
  }
  void TearDown() override {
    if (server_) server_->Shutdown(std::chrono::system_clock::now());
  }
  grpc::Status get_load(const ChannelTlsOptions& options) {
    absl::StatusOr<ChannelSecurity> dialer = ChannelSecurity::create(options);
    EXPECT_TRUE(dialer.ok()) << dialer.status();
    return get_load(dialer->dial(address_));
  }
  static grpc::Status get_load(const std::shared_ptr<grpc::Channel>& channel) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    v1::NodeLoad load;
    return v1::PrefillNode::NewStub(channel)->GetLoad(&ctx, v1::GetLoadRequest(), &load);
  }

  v1::PrefillNode::Service prefill_;  // every method UNIMPLEMENTED
  std::unique_ptr<grpc::Server> server_;
  std::string address_;
};

TEST_F(GuardedPortTest, InternalCallNeedsAClientCertificateFromTheCa) {
  const grpc::Status anonymous = get_load({.ca_file = f("ca.pem")});
  EXPECT_EQ(anonymous.error_code(), grpc::StatusCode::UNAUTHENTICATED) << anonymous.error_message();
  EXPECT_NE(anonymous.error_message().find("client certificate"), std::string::npos);
  // Past the guard: the service itself answers.
  EXPECT_EQ(
      get_load({.ca_file = f("ca.pem"), .cert_file = f("client.pem"), .key_file = f("client.key")})
          .error_code(),
      grpc::StatusCode::UNIMPLEMENTED);
  // A certificate from another CA fails the handshake.
  EXPECT_EQ(
      get_load({.ca_file = f("ca.pem"), .cert_file = f("rogue.pem"), .key_file = f("rogue.key")})
          .error_code(),
      grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(get_load(ChannelSecurity().dial(address_)).error_code(), grpc::StatusCode::UNAVAILABLE);
}

TEST_F(GuardedPortTest, HealthAnswersAnyTlsClient) {
  absl::StatusOr<ChannelSecurity> dialer = ChannelSecurity::create({.ca_file = f("ca.pem")});
  ASSERT_TRUE(dialer.ok());
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  grpc::health::v1::HealthCheckResponse response;
  const grpc::Status st = grpc::health::v1::Health::NewStub(dialer->dial(address_))
                              ->Check(&ctx, grpc::health::v1::HealthCheckRequest(), &response);
  ASSERT_TRUE(st.ok()) << st.error_message();
  EXPECT_EQ(response.status(), grpc::health::v1::HealthCheckResponse::SERVING);
}

TEST_F(GuardedPortTest, ServerNameOverrideMatchesTheCertificate) {
  // "localhost" is in the certificate, "elsewhere" is not.
  absl::StatusOr<ChannelSecurity> good = ChannelSecurity::create({.ca_file = f("ca.pem"),
                                                                  .cert_file = f("client.pem"),
                                                                  .key_file = f("client.key"),
                                                                  .server_name = "localhost"});
  ASSERT_TRUE(good.ok());
  EXPECT_EQ(get_load(good->dial(address_)).error_code(), grpc::StatusCode::UNIMPLEMENTED);
  absl::StatusOr<ChannelSecurity> bad = ChannelSecurity::create({.ca_file = f("ca.pem"),
                                                                 .cert_file = f("client.pem"),
                                                                 .key_file = f("client.key"),
                                                                 .server_name = "elsewhere"});
  ASSERT_TRUE(bad.ok());
  EXPECT_EQ(get_load(bad->dial(address_)).error_code(), grpc::StatusCode::UNAVAILABLE);
}

}  // namespace
}  // namespace dllm::wire

// gRPC over TLS, mutual TLS between router and nodes, the public API's bearer token and the
// per-process stream limit, against real `dllm serve` processes and a PKI made at test time with
// the openssl binary: the right CA and token get `dllm generate`'s answer (gRPC, `dllm client`,
// the Python example, HTTP); no or a wrong token is UNAUTHENTICATED (HTTP 401); plaintext or
// untrusted peers fail the handshake; under mTLS an internal call without a client certificate is
// refused while the cluster itself serves; the token never reaches any process's stderr.
#include <algorithm>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "gtest/gtest.h"
#include "tests/integration/serving_process.h"
#include "tests/tls_certificates.h"

namespace dllm {
namespace {

using namespace testing_serve;
using testing::TestPki;

constexpr char kFlags[] = "--prompt 'hello there' --gen-length 16 --block-length 4 --steps 8";

v1::GenerateRequest hello_request() {
  v1::GenerateRequest r;
  r.set_text("hello there");
  r.mutable_params()->set_gen_length(16);
  r.mutable_params()->set_block_length(4);
  r.mutable_params()->set_steps(8);
  return r;
}

// Runs `cmd`, stdout and stderr together; the exit code.
int run(const std::string& cmd, std::string* output) {
  FILE* pipe = popen((cmd + " 2>&1").c_str(), "r");
  if (pipe == nullptr) return -1;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, pipe)) > 0) output->append(buf, n);
  const int status = pclose(pipe);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::string last_line(const std::string& text) {
  std::vector<std::string> lines = absl::StrSplit(text, '\n', absl::SkipEmpty());
  return lines.empty() ? "" : lines.back();
}

class TlsAuthTest : public ::testing::Test {
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

  // A TLS channel trusting `ca`, presenting `client` (its .pem and .key) unless empty.
  static std::shared_ptr<grpc::Channel> tls_channel(const std::string& address,
                                                    const std::string& client = "",
                                                    const std::string& ca = "ca.pem") {
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = TestPki::read(f(ca));
    if (!client.empty()) {
      ssl.pem_cert_chain = TestPki::read(f(client + ".pem"));
      ssl.pem_private_key = TestPki::read(f(client + ".key"));
    }
    return grpc::CreateChannel(address, grpc::SslCredentials(ssl));
  }
  static std::unique_ptr<grpc::ClientContext> context(const std::string& token) {
    auto ctx = std::make_unique<grpc::ClientContext>();
    ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
    if (!token.empty()) ctx->AddMetadata("authorization", "Bearer " + token);
    return ctx;
  }
  // Generate to its end; the ids of the answer in `ids` ("a,b,c").
  static grpc::Status generate(const std::shared_ptr<grpc::Channel>& channel,
                               const std::string& token, const v1::GenerateRequest& request,
                               std::string* ids = nullptr) {
    auto ctx = context(token);
    auto reader = v1::Generation::NewStub(channel)->Generate(ctx.get(), request);
    v1::GenerateResponse response;
    while (reader->Read(&response))
      if (response.has_done() && ids != nullptr) *ids = absl::StrJoin(response.done().ids(), ",");
    return reader->Finish();
  }
  static grpc::Status health(const std::shared_ptr<grpc::Channel>& channel) {
    auto ctx = context("");
    grpc::health::v1::HealthCheckResponse response;
    grpc::Status st = grpc::health::v1::Health::NewStub(channel)->Check(
        ctx.get(), grpc::health::v1::HealthCheckRequest(), &response);
    if (st.ok() && response.status() != grpc::health::v1::HealthCheckResponse::SERVING)
      return grpc::Status(grpc::StatusCode::UNAVAILABLE, "not serving");
    return st;
  }
  static std::vector<std::string> tls_flags(bool mtls) {
    std::vector<std::string> flags = {"--tls-cert",    f("server.pem"), "--tls-key",
                                      f("server.key"), "--tls-ca",      f("ca.pem")};
    if (mtls)
      flags.insert(flags.end(), {"--tls-require-client-cert", "--tls-client-cert", f("client.pem"),
                                 "--tls-client-key", f("client.key")});
    return flags;
  }

  static TestPki* pki_;
};
TestPki* TlsAuthTest::pki_ = nullptr;

// One `--role all` process serving TLS with a token, and the OpenAI HTTP gateway.
class TlsServerTest : public TlsAuthTest {
 protected:
  void SetUp() override {
    TlsAuthTest::SetUp();
    if (IsSkipped()) return;
    std::vector<std::string> args = {kDllm, "serve", "--role", "all", "--model", kModel};
    for (const char* flag :
         {"--listen", "127.0.0.1:0", "--threads", "1", "--http-listen", "127.0.0.1:0"})
      args.push_back(flag);
    args.insert(args.end(), {"--auth-token-file", f("token.txt")});
    const std::vector<std::string> tls = tls_flags(false);
    args.insert(args.end(), tls.begin(), tls.end());
    server_ = std::make_unique<ServingProcess>(args);
    ASSERT_FALSE(server_->address().empty()) << server_->log();
    http_ = server_->wait_for_line_after("OpenAI HTTP on ", std::chrono::seconds(5));
  }
  void TearDown() override {
    if (server_) {
      EXPECT_EQ(server_->log().find(pki_->token()), std::string::npos) << "the token was logged";
    }
  }
  // curl's HTTP status for GET /v1/models with `headers`; the body in `body`.
  int http_models(const std::string& headers, std::string* body) {
    std::string out;
    run("curl -sS " + headers + " -w '\\n%{http_code}' http://" + http_ + "/v1/models", &out);
    const size_t nl = out.rfind('\n');
    *body = out.substr(0, nl == std::string::npos ? 0 : nl);
    return std::atoi(out.c_str() + (nl == std::string::npos ? 0 : nl + 1));
  }

  std::unique_ptr<ServingProcess> server_;
  std::string http_;
};

TEST_F(TlsServerTest, RightCaAndTokenGetTheCliAnswer) {
  std::string ids;
  const grpc::Status st =
      generate(tls_channel(server_->address()), pki_->token(), hello_request(), &ids);
  ASSERT_TRUE(st.ok()) << st.error_message() << "\n" << server_->log();
  // `dllm generate` is what a plaintext server answers too (serve_test, clients_test).
  const std::string reference = reference_ids(kFlags);
  EXPECT_EQ(ids, reference);

  std::string client;
  ASSERT_EQ(run(kDllm + " client --router " + server_->address() + " --tls-ca " + f("ca.pem") +
                    " --auth-token-file " + f("token.txt") + " " + kFlags + " --print-ids",
                &client),
            0)
      << client;
  EXPECT_EQ(last_line(client), reference);

  std::string python;
  ASSERT_EQ(run("/usr/bin/python3 " + std::string(DLLM_SOURCE_DIR) +
                    "/examples/python/client.py --router " + server_->address() + " --tls-ca " +
                    f("ca.pem") + " --auth-token-file " + f("token.txt") +
                    " --prompt 'hello there' --gen-length 16 --block-length 4 --steps 8 "
                    "--print-ids",
                &python),
            0)
      << python;
  EXPECT_EQ(last_line(python), reference);
}

TEST_F(TlsServerTest, MissingOrWrongTokenIsUnauthenticated) {
  const auto channel = tls_channel(server_->address());
  for (const std::string& token : {std::string(), std::string("tok-not-the-right-one")}) {
    const grpc::Status st = generate(channel, token, hello_request());
    EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAUTHENTICATED) << st.error_message();
    EXPECT_EQ(st.error_message().find(pki_->token()), std::string::npos);
    auto ctx = context(token);
    v1::ListModelsResponse models;
    EXPECT_EQ(v1::Generation::NewStub(channel)
                  ->ListModels(ctx.get(), v1::ListModelsRequest(), &models)
                  .error_code(),
              grpc::StatusCode::UNAUTHENTICATED);
    auto tokenize_ctx = context(token);
    v1::TokenizeRequest tokenize;
    tokenize.set_text("hello");
    v1::TokenizeResponse ids;
    EXPECT_EQ(
        v1::Generation::NewStub(channel)->Tokenize(tokenize_ctx.get(), tokenize, &ids).error_code(),
        grpc::StatusCode::UNAUTHENTICATED);
  }
  std::string client;
  EXPECT_EQ(run(kDllm + " client --router " + server_->address() + " --tls-ca " + f("ca.pem") +
                    " --auth-token-file " + f("wrong-token.txt") + " " + kFlags,
                &client),
            2);
  EXPECT_NE(client.find("bearer token is not valid"), std::string::npos) << client;
  std::string python;
  EXPECT_EQ(run("/usr/bin/python3 " + std::string(DLLM_SOURCE_DIR) +
                    "/examples/python/client.py --router " + server_->address() + " --tls-ca " +
                    f("ca.pem") + " --prompt hello",
                &python),
            2);
  EXPECT_NE(python.find("UNAUTHENTICATED"), std::string::npos) << python;
}

TEST_F(TlsServerTest, HttpGatewayAnswers401WithoutTheToken) {
  ASSERT_FALSE(http_.empty()) << server_->log();
  std::string body;
  EXPECT_EQ(http_models("", &body), 401);
  EXPECT_NE(body.find("bearer token"), std::string::npos) << body;
  EXPECT_EQ(http_models("-H 'Authorization: Bearer tok-not-the-right-one'", &body), 401);
  EXPECT_EQ(http_models("-H 'Authorization: Bearer " + pki_->token() + "'", &body), 200);
  EXPECT_NE(body.find("llada-tiny"), std::string::npos) << body;
  std::string completion;
  run("curl -sS -H 'Authorization: Bearer " + pki_->token() + "' http://" + http_ +
          "/v1/completions -d '{\"prompt\": \"hello there\", \"max_tokens\": 16, "
          "\"block_length\": 4, \"steps\": 8}'",
      &completion);
  EXPECT_NE(completion.find("\"completion_tokens\":16"), std::string::npos) << completion;
}

TEST_F(TlsServerTest, PlaintextAndUntrustedClientsFailTheHandshake) {
  const grpc::Status plain =
      generate(grpc::CreateChannel(server_->address(), grpc::InsecureChannelCredentials()),
               pki_->token(), hello_request());
  EXPECT_EQ(plain.error_code(), grpc::StatusCode::UNAVAILABLE) << plain.error_message();
  // A client that trusts another CA does not accept the server's certificate.
  const grpc::Status untrusted =
      generate(tls_channel(server_->address(), "", "rogue-ca.pem"), pki_->token(), hello_request());
  EXPECT_EQ(untrusted.error_code(), grpc::StatusCode::UNAVAILABLE) << untrusted.error_message();
  std::string client;
  EXPECT_EQ(run(kDllm + " client --router " + server_->address() + " --auth-token-file " +
                    f("token.txt") + " --deadline-ms 5000 " + kFlags,
                &client),
            2);
}

TEST_F(TlsServerTest, HealthNeedsNoToken) {
  EXPECT_TRUE(health(tls_channel(server_->address())).ok());
}

// Router + prefill + decode, mutual TLS on every internal RPC, the token on the public API.
TEST_F(TlsAuthTest, MutualTlsClusterServesAndRefusesPeersWithoutClientCertificates) {
  std::vector<std::string> router_flags = tls_flags(true);
  router_flags.insert(router_flags.end(), {"--auth-token-file", f("token.txt")});
  Cluster cluster(1, 1, router_flags, tls_flags(true));
  ASSERT_TRUE(cluster.ok()) << cluster.logs();  // nodes registered over mTLS
  const std::string& router = cluster.router().address();
  const std::string prefill = cluster.node("prefill-0").address();
  const std::string decode = cluster.node("decode-0").address();

  // The public API takes a plain TLS client with the token; router → nodes runs over mTLS.
  std::string ids;
  const grpc::Status st = generate(tls_channel(router), pki_->token(), hello_request(), &ids);
  ASSERT_TRUE(st.ok()) << st.error_message() << "\n" << cluster.logs();
  EXPECT_EQ(ids, reference_ids(kFlags));

  // Internal RPCs from a TLS peer without a client certificate.
  auto refused = [](const grpc::Status& s) {
    EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED) << s.error_message();
    EXPECT_NE(s.error_message().find("client certificate"), std::string::npos) << s.error_message();
  };
  v1::RegisterRequest impostor;
  impostor.set_node_id("impostor");
  impostor.set_role(v1::NODE_ROLE_PREFILL);
  impostor.set_address("127.0.0.1:1");
  impostor.set_model("llada-tiny");
  v1::RegisterResponse registered;
  refused(v1::NodeRegistry::NewStub(tls_channel(router))
              ->Register(context("").get(), impostor, &registered));
  v1::PrepareRequest prepare;
  prepare.mutable_request()->set_request_id("impostor-1");
  v1::PrepareResponse prepared;
  refused(v1::PrefillNode::NewStub(tls_channel(prefill))
              ->Prepare(context("").get(), prepare, &prepared));
  v1::NodeLoad load;
  refused(v1::DecodeNode::NewStub(tls_channel(decode))
              ->GetLoad(context("").get(), v1::GetLoadRequest(), &load));
  // A client certificate from another CA fails the handshake.
  EXPECT_EQ(v1::PrefillNode::NewStub(tls_channel(prefill, "rogue"))
                ->Prepare(context("").get(), prepare, &prepared)
                .error_code(),
            grpc::StatusCode::UNAVAILABLE);
  // The cluster's own certificate passes (GetLoad is harmless).
  EXPECT_TRUE(v1::PrefillNode::NewStub(tls_channel(prefill, "client"))
                  ->GetLoad(context("").get(), v1::GetLoadRequest(), &load)
                  .ok());
  // Probes need neither a client certificate nor the token.
  for (const std::string& address : {router, prefill, decode})
    EXPECT_TRUE(health(tls_channel(address)).ok()) << address;

  // The impostor never made it into placement: the cluster still serves.
  ids.clear();
  ASSERT_TRUE(generate(tls_channel(router), pki_->token(), hello_request(), &ids).ok());
  EXPECT_EQ(ids, reference_ids(kFlags));
  EXPECT_EQ(cluster.logs().find(pki_->token()), std::string::npos) << "the token was logged";
}

// A bad credential stops `dllm serve` at start: one line naming the flag, exit 2.
TEST_F(TlsAuthTest, BadCredentialFilesStopServeWithOneLine) {
  const std::string serve =
      kDllm + " serve --role router --model " + kModel + " --listen 127.0.0.1:0 ";
  struct Case {
    std::string flags, expected;
  } cases[] = {
      {"--tls-cert " + f("absent.pem") + " --tls-key " + f("server.key"), "--tls-cert: no such"},
      {"--tls-cert " + f("server.pem") + " --tls-key " + f("client.key"), "does not match"},
      {"--tls-cert " + f("server.pem"), "--tls-cert and --tls-key go together"},
      {"--tls-cert " + f("server.pem") + " --tls-key " + f("server.key") +
           " --tls-require-client-cert",
       "--tls-require-client-cert needs --tls-ca"},
      {"--auth-token-file " + f("absent-token.txt"), "--auth-token-file: no such"},
  };
  for (const Case& c : cases) {
    std::string out;
    EXPECT_EQ(run(serve + c.flags, &out), 2) << c.flags << "\n" << out;
    EXPECT_NE(out.find(c.expected), std::string::npos) << out;
    EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 1) << out;
  }
  std::string out;
  EXPECT_EQ(run(kDllm + " serve --role prefill --model " + kModel +
                    " --router 127.0.0.1:1 --auth-token-file " + f("token.txt"),
                &out),
            2);
  EXPECT_NE(out.find("--auth-token-file is for --role router or all"), std::string::npos) << out;
}

// --max-concurrent-streams: a call beyond the limit is RESOURCE_EXHAUSTED at once.
TEST(ConcurrentStreamLimit, CallsBeyondTheLimitAreResourceExhausted) {
  Cluster cluster(1, 1, {"--max-concurrent-streams", "1"});
  ASSERT_TRUE(cluster.ok()) << cluster.logs();
  auto channel =
      grpc::CreateChannel(cluster.router().address(), grpc::InsecureChannelCredentials());
  v1::GenerateRequest slow;
  slow.set_text("hello there");
  slow.mutable_params()->set_gen_length(256);
  slow.mutable_params()->set_block_length(32);
  slow.mutable_params()->set_steps(256);
  grpc::ClientContext slow_ctx;
  slow_ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(120));
  auto reader = v1::Generation::NewStub(channel)->Generate(&slow_ctx, slow);
  v1::GenerateResponse first;
  ASSERT_TRUE(reader->Read(&first)) << reader->Finish().error_message() << cluster.logs();
  ASSERT_TRUE(first.has_block());  // the stream is open: it holds the one slot

  auto tokenize = [&] {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    v1::TokenizeRequest request;
    request.set_text("hello");
    v1::TokenizeResponse response;
    return v1::Generation::NewStub(channel)->Tokenize(&ctx, request, &response);
  };
  const grpc::Status over = tokenize();
  EXPECT_EQ(over.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << over.error_message();
  {  // probes still get an answer
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    grpc::health::v1::HealthCheckResponse health;
    EXPECT_TRUE(grpc::health::v1::Health::NewStub(channel)
                    ->Check(&ctx, grpc::health::v1::HealthCheckRequest(), &health)
                    .ok());
  }
  v1::GenerateResponse rest;
  while (reader->Read(&rest)) {
  }
  ASSERT_TRUE(reader->Finish().ok());
  // The slot is free again (once the server thread is back; a node's heartbeat may hold the
  // slot for a moment).
  grpc::Status after = tokenize();
  for (int i = 0; i < 50 && after.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    after = tokenize();
  }
  EXPECT_TRUE(after.ok()) << after.error_message();
}

}  // namespace
}  // namespace dllm

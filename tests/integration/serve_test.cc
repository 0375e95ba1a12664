// `dllm serve --role all` as a child process, driven over loopback gRPC: streaming Generate
// equals `dllm generate`, Tokenize, ListModels, health, and errors with codes and messages.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/tokenizer/tokenizer.h"
#include "dllm/v1/generation.grpc.pb.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "tests/integration/serving_process.h"

namespace dllm {
namespace {

using testing_serve::kDllm;
using testing_serve::kModel;
using testing_serve::reference_ids;
using testing_serve::ServingProcess;

class ServeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = std::make_unique<ServingProcess>(
        std::vector<std::string>{kDllm, "serve", "--role", "all", "--model", kModel, "--listen",
                                 "127.0.0.1:0", "--threads", "1", "--max-gen-length", "64"});
    ASSERT_FALSE(server_->address().empty()) << "server did not start:\n" << server_->log();
    channel_ = grpc::CreateChannel(server_->address(), grpc::InsecureChannelCredentials());
    ASSERT_TRUE(
        channel_->WaitForConnected(std::chrono::system_clock::now() + std::chrono::seconds(10)));
    stub_ = v1::Generation::NewStub(channel_);
  }

  grpc::Status generate(const v1::GenerateRequest& request,
                        std::vector<v1::GenerateResponse>* responses) {
    return testing_serve::generate(*stub_, request, responses, std::chrono::seconds(20));
  }

  std::unique_ptr<ServingProcess> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::Generation::Stub> stub_;
};

TEST_F(ServeTest, GenerateStreamsBlocksThatEqualTheCli) {
  v1::GenerateRequest request;
  request.set_request_id("r-1");
  for (int id : {1, 5, 9, 20}) request.mutable_ids()->add_ids(id);
  request.mutable_params()->set_gen_length(16);
  request.mutable_params()->set_block_length(4);
  request.mutable_params()->set_steps(8);
  std::vector<v1::GenerateResponse> responses;
  const grpc::Status status = generate(request, &responses);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_EQ(responses.size(), 16u / 4u + 1u);
  std::vector<int32_t> streamed;
  for (int b = 0; b < 4; ++b) {
    EXPECT_EQ(responses[b].request_id(), "r-1");
    ASSERT_TRUE(responses[b].has_block());
    EXPECT_EQ(responses[b].block().index(), b);
    ASSERT_EQ(responses[b].block().ids_size(), 4);
    streamed.insert(streamed.end(), responses[b].block().ids().begin(),
                    responses[b].block().ids().end());
  }
  const v1::GenerateResponse& last = responses.back();
  EXPECT_EQ(last.request_id(), "r-1");
  ASSERT_TRUE(last.has_done());
  EXPECT_EQ(last.done().usage().prompt_tokens(), 4);
  EXPECT_EQ(last.done().usage().generated_tokens(), 16);
  EXPECT_GT(last.done().timings().total_seconds(), 0.0);
  const std::vector<int32_t> done_ids(last.done().ids().begin(), last.done().ids().end());
  EXPECT_EQ(done_ids, streamed);
  EXPECT_EQ(absl::StrJoin(done_ids, ","),
            reference_ids("--prompt-ids 1,5,9,20 --gen-length 16 --block-length 4 --steps 8"));
}

TEST_F(ServeTest, TextPromptWithCacheAndThresholdEqualsTheCli) {
  v1::GenerateRequest request;
  request.set_text("hello world");
  request.mutable_params()->set_gen_length(8);
  request.mutable_params()->set_block_length(4);
  request.mutable_params()->set_threshold(0.9);
  request.mutable_params()->set_cache(v1::CACHE_MODE_PREFIX);
  std::vector<v1::GenerateResponse> responses;
  const grpc::Status status = generate(request, &responses);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_EQ(responses.size(), 3u);
  EXPECT_FALSE(responses.back().request_id().empty());
  const auto& ids = responses.back().done().ids();
  EXPECT_EQ(absl::StrJoin(ids, ","),
            reference_ids("--prompt 'hello world' --gen-length 8 --block-length 4 "
                          "--threshold 0.9 --cache prefix"));
}

TEST_F(ServeTest, TokenizeEqualsTheTokenizer) {
  v1::TokenizeRequest request;
  request.set_request_id("t-1");
  request.set_text("hello world, again");
  v1::TokenizeResponse response;
  grpc::ClientContext context;
  const grpc::Status status = stub_->Tokenize(&context, request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.request_id(), "t-1");
  absl::StatusOr<std::unique_ptr<Tokenizer>> tok = Tokenizer::load_from_dir(kModel);
  ASSERT_TRUE(tok.ok()) << tok.status();
  absl::StatusOr<std::vector<int32_t>> expected = (*tok)->encode("hello world, again");
  ASSERT_TRUE(expected.ok());
  EXPECT_EQ(std::vector<int32_t>(response.ids().begin(), response.ids().end()), *expected);
}

TEST_F(ServeTest, ListModelsAndHealth) {
  v1::ListModelsResponse models;
  grpc::ClientContext context;
  ASSERT_TRUE(stub_->ListModels(&context, v1::ListModelsRequest(), &models).ok());
  ASSERT_EQ(models.models_size(), 1);
  EXPECT_EQ(models.models(0).name(), "llada-tiny");
  EXPECT_EQ(models.models(0).family(), "llada");
  EXPECT_TRUE(models.models(0).has_tokenizer());

  auto health = grpc::health::v1::Health::NewStub(channel_);
  grpc::health::v1::HealthCheckResponse reply;
  grpc::ClientContext health_context;
  const grpc::Status status =
      health->Check(&health_context, grpc::health::v1::HealthCheckRequest(), &reply);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(reply.status(), grpc::health::v1::HealthCheckResponse::SERVING);
}

TEST_F(ServeTest, BadRequestsGetCodesAndMessagesAndTheServerKeepsServing) {
  struct Case {
    const char* what;
    v1::GenerateRequest request;
    grpc::StatusCode code;
  };
  std::vector<Case> cases;
  {
    Case c{"empty prompt", {}, grpc::StatusCode::INVALID_ARGUMENT};
    c.request.set_text("");
    cases.push_back(c);
  }
  {
    Case c{"gen_length not a multiple of block_length", {}, grpc::StatusCode::INVALID_ARGUMENT};
    c.request.mutable_ids()->add_ids(1);
    c.request.mutable_params()->set_gen_length(10);
    c.request.mutable_params()->set_block_length(4);
    cases.push_back(c);
  }
  {
    Case c{"id out of range", {}, grpc::StatusCode::INVALID_ARGUMENT};
    c.request.mutable_ids()->add_ids(1000000);
    cases.push_back(c);
  }
  {
    Case c{"gen_length over the limit", {}, grpc::StatusCode::INVALID_ARGUMENT};
    c.request.mutable_ids()->add_ids(1);
    c.request.mutable_params()->set_gen_length(1000000000);
    cases.push_back(c);
  }
  {
    Case c{"unknown model", {}, grpc::StatusCode::NOT_FOUND};
    c.request.set_model("no-such-model");
    c.request.mutable_ids()->add_ids(1);
    cases.push_back(c);
  }
  for (const Case& c : cases) {
    std::vector<v1::GenerateResponse> responses;
    const grpc::Status status = generate(c.request, &responses);
    EXPECT_EQ(status.error_code(), c.code) << c.what << ": " << status.error_message();
    EXPECT_FALSE(status.error_message().empty()) << c.what;
    EXPECT_TRUE(responses.empty()) << c.what;
  }
  v1::GenerateRequest good;
  good.mutable_ids()->add_ids(1);
  good.mutable_params()->set_gen_length(4);
  good.mutable_params()->set_block_length(4);
  std::vector<v1::GenerateResponse> responses;
  EXPECT_TRUE(generate(good, &responses).ok());
  EXPECT_EQ(responses.size(), 2u);
}

}  // namespace
}  // namespace dllm

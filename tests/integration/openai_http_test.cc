// The OpenAI-compatible HTTP gateway, run in this process against a real `dllm serve --role all`
// child and driven with the real curl binary: models, completions equal to the gRPC answer of
// the same request (whole and streamed as SSE), error statuses, and a hang-up cancelling work.
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "router/openai_http_gateway.h"
#include "tests/integration/serving_process.h"

namespace dllm {
namespace {

using Json = nlohmann::json;
using testing_serve::kDllm;
using testing_serve::kModel;
using testing_serve::ServingProcess;

struct CurlReply {
  int status = 0;  // 0: curl failed to get an answer
  std::string headers;
  std::string body;
  Json json() const { return Json::parse(body, nullptr, false); }
};

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Runs `curl ARGS URL` and collects status, headers and body.
class Curl {
 public:
  Curl() {
    char pattern[] = "/tmp/dllm-openai-http-XXXXXX";
    dir_ = mkdtemp(pattern) != nullptr ? pattern : "/tmp";
  }
  ~Curl() { std::system(("rm -rf '" + dir_ + "'").c_str()); }

  // A file holding `content`, for --data-binary @FILE.
  std::string file(const std::string& name, const std::string& content) {
    const std::string path = dir_ + "/" + name;
    std::ofstream(path, std::ios::binary) << content;
    return path;
  }
  CurlReply run(const std::string& args, const std::string& url) {
    const std::string headers = dir_ + "/headers", body = dir_ + "/body";
    const std::string cmd = "curl -sS -N -D '" + headers + "' -o '" + body +
                            "' -w '%{http_code}' " + args + " '" + url + "' 2>/dev/null";
    CurlReply reply;
    FILE* pipe = popen(cmd.c_str(), "r");
    if (pipe == nullptr) return reply;
    char code[16] = {0};
    if (std::fgets(code, sizeof code, pipe) != nullptr) reply.status = std::atoi(code);
    pclose(pipe);
    reply.headers = read_file(headers);
    reply.body = read_file(body);
    return reply;
  }
  CurlReply post_json(const std::string& url, const std::string& json,
                      const std::string& extra = "") {
    return run("-H 'Content-Type: application/json' --data-binary @'" + file("request.json", json) +
                   "' " + extra,
               url);
  }

 private:
  std::string dir_;
};

// The JSON of every `data: ` line of an SSE body, "[DONE]" kept as a string.
std::vector<Json> sse_events(const std::string& body, bool* ends_with_done) {
  std::vector<Json> events;
  std::string last;
  for (absl::string_view line : absl::StrSplit(body, '\n')) {
    if (!absl::StartsWith(line, "data: ")) continue;
    last = std::string(line.substr(6));
    if (last != "[DONE]") events.push_back(Json::parse(last, nullptr, false));
  }
  *ends_with_done = last == "[DONE]";
  return events;
}

class OpenAiHttpTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    server_ = new ServingProcess({kDllm, "serve", "--role", "all", "--model", kModel, "--listen",
                                  "127.0.0.1:0", "--threads", "1", "--max-gen-length", "512"});
    if (server_->address().empty()) return;
    absl::StatusOr<std::unique_ptr<router::OpenAiGateway>> g =
        router::start_openai_gateway("127.0.0.1:0", server_->address());
    if (g.ok()) gateway_ = g->release();
  }
  static void TearDownTestSuite() {
    delete gateway_;
    gateway_ = nullptr;
    delete server_;
    server_ = nullptr;
  }
  void SetUp() override {
    if (std::system("curl --version > /dev/null 2>&1") != 0) GTEST_SKIP() << "no curl binary";
    ASSERT_FALSE(server_->address().empty()) << "server did not start:\n" << server_->log();
    ASSERT_NE(gateway_, nullptr);
    channel_ = grpc::CreateChannel(server_->address(), grpc::InsecureChannelCredentials());
    stub_ = v1::Generation::NewStub(channel_);
  }

  static std::string url(const std::string& path) { return "http://" + gateway_->address() + path; }

  // The gRPC answer of the same request.
  v1::GenerationDone grpc_done(const v1::GenerateRequest& request) {
    std::vector<v1::GenerateResponse> responses;
    const grpc::Status st = testing_serve::generate(*stub_, request, &responses);
    EXPECT_TRUE(st.ok()) << st.error_message();
    return responses.empty() ? v1::GenerationDone() : responses.back().done();
  }

  static ServingProcess* server_;
  static router::OpenAiGateway* gateway_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::Generation::Stub> stub_;
  Curl curl_;
};

ServingProcess* OpenAiHttpTest::server_ = nullptr;
router::OpenAiGateway* OpenAiHttpTest::gateway_ = nullptr;

TEST_F(OpenAiHttpTest, ListsTheServedModel) {
  const CurlReply list = curl_.run("", url("/v1/models"));
  ASSERT_EQ(list.status, 200) << list.body;
  const Json j = list.json();
  EXPECT_EQ(j["object"], "list");
  ASSERT_EQ(j["data"].size(), 1u) << list.body;
  EXPECT_EQ(j["data"][0]["id"], "llada-tiny");
  EXPECT_EQ(j["data"][0]["object"], "model");
  EXPECT_NE(list.headers.find("Content-Type: application/json"), std::string::npos);
  EXPECT_EQ(curl_.run("", url("/v1/models/llada-tiny")).json()["id"], "llada-tiny");
  const CurlReply unknown = curl_.run("", url("/v1/models/gpt-17"));
  EXPECT_EQ(unknown.status, 404);
  EXPECT_EQ(unknown.json()["error"]["code"], "model_not_found");
}

TEST_F(OpenAiHttpTest, CompletionEqualsTheGrpcAnswer) {
  const CurlReply reply = curl_.post_json(
      url("/v1/completions"),
      R"({"model": "llada-tiny", "prompt": "hello world", "max_tokens": 16, "block_length": 4,
          "steps": 8})",
      "-H 'X-Request-Id: http-1'");
  ASSERT_EQ(reply.status, 200) << reply.body;
  v1::GenerateRequest request;
  request.set_text("hello world");
  request.mutable_params()->set_gen_length(16);
  request.mutable_params()->set_block_length(4);
  request.mutable_params()->set_steps(8);
  const v1::GenerationDone done = grpc_done(request);
  const Json j = reply.json();
  EXPECT_EQ(j["id"], "cmpl-http-1");
  EXPECT_NE(reply.headers.find("X-Request-Id: http-1"), std::string::npos) << reply.headers;
  EXPECT_EQ(j["object"], "text_completion");
  EXPECT_EQ(j["model"], "llada-tiny");
  ASSERT_EQ(j["choices"].size(), 1u);
  EXPECT_EQ(j["choices"][0]["text"], done.text());
  const std::string reason = j["choices"][0]["finish_reason"];
  EXPECT_TRUE(reason == "stop" || reason == "length") << reason;
  EXPECT_EQ(j["usage"]["prompt_tokens"], done.usage().prompt_tokens());
  EXPECT_EQ(j["usage"]["completion_tokens"], 16);
  EXPECT_EQ(j["usage"]["total_tokens"], done.usage().prompt_tokens() + 16);

  // Streamed, the same request sends the same text (this prompt's answer starts with bytes
  // that are not UTF-8, shown as U+FFFD).
  const CurlReply streamed_reply =
      curl_.post_json(url("/v1/completions"),
                      R"({"prompt": "hello world", "max_tokens": 16, "block_length": 4, "steps": 8,
          "stream": true})");
  ASSERT_EQ(streamed_reply.status, 200) << streamed_reply.body;
  bool ends_with_done = false;
  std::string streamed;
  for (const Json& e : sse_events(streamed_reply.body, &ends_with_done))
    streamed += e["choices"][0]["text"].get<std::string>();
  EXPECT_TRUE(ends_with_done);
  EXPECT_EQ(streamed, done.text());
  EXPECT_NE(streamed_reply.body.find("\"finish_reason\":\"" + reason + "\""), std::string::npos)
      << streamed_reply.body;
}

TEST_F(OpenAiHttpTest, StreamedChatEqualsTheGrpcAnswerAndEndsWithDone) {
  const CurlReply reply = curl_.post_json(url("/v1/chat/completions"), R"({
      "model": "llada-tiny", "stream": true, "stream_options": {"include_usage": true},
      "messages": [{"role": "system", "content": "You are terse."},
                   {"role": "user", "content": "What is two plus two?"}],
      "max_tokens": 32, "block_length": 8, "steps": 16})");
  ASSERT_EQ(reply.status, 200) << reply.body;
  EXPECT_NE(reply.headers.find("Content-Type: text/event-stream"), std::string::npos);
  EXPECT_NE(reply.headers.find("Transfer-Encoding: chunked"), std::string::npos);
  v1::GenerateRequest request;
  request.set_text("What is two plus two?");
  request.set_chat(true);
  request.set_system("You are terse.");
  request.mutable_params()->set_gen_length(32);
  request.mutable_params()->set_block_length(8);
  request.mutable_params()->set_steps(16);
  const v1::GenerationDone done = grpc_done(request);

  bool ends_with_done = false;
  const std::vector<Json> events = sse_events(reply.body, &ends_with_done);
  EXPECT_TRUE(ends_with_done) << reply.body;
  ASSERT_GE(events.size(), 3u) << reply.body;  // role, ..., finish, usage
  EXPECT_EQ(events.front()["choices"][0]["delta"]["role"], "assistant");
  std::string streamed;
  int finishes = 0;
  for (const Json& e : events) {
    ASSERT_FALSE(e.is_discarded()) << reply.body;
    EXPECT_EQ(e["object"], "chat.completion.chunk");
    EXPECT_EQ(e["id"], events.front()["id"]);
    if (e["choices"].empty()) continue;  // the usage chunk
    const Json& choice = e["choices"][0];
    if (choice["delta"].contains("content"))
      streamed += choice["delta"]["content"].get<std::string>();
    if (!choice["finish_reason"].is_null()) ++finishes;
  }
  EXPECT_EQ(streamed, done.text());
  EXPECT_EQ(finishes, 1);
  EXPECT_EQ(events.back()["usage"]["completion_tokens"], 32);
  EXPECT_EQ(events.back()["usage"]["prompt_tokens"], done.usage().prompt_tokens());
}

TEST_F(OpenAiHttpTest, StreamedCompletionWithSamplingEqualsTheGrpcAnswer) {
  const CurlReply reply = curl_.post_json(url("/v1/completions"), R"({
      "prompt": "Once upon a time", "stream": true, "max_tokens": 24, "block_length": 8,
      "steps": 12, "temperature": 0.8, "seed": 11})");
  ASSERT_EQ(reply.status, 200) << reply.body;
  v1::GenerateRequest request;
  request.set_text("Once upon a time");
  request.mutable_params()->set_gen_length(24);
  request.mutable_params()->set_block_length(8);
  request.mutable_params()->set_steps(12);
  request.mutable_params()->set_temperature(0.8);
  request.mutable_params()->set_seed(11);
  const v1::GenerationDone done = grpc_done(request);
  bool ends_with_done = false;
  std::string streamed;
  for (const Json& e : sse_events(reply.body, &ends_with_done)) {
    EXPECT_EQ(e["object"], "text_completion");
    EXPECT_EQ(e["model"], "llada-tiny");  // the server's default, asked for no model
    streamed += e["choices"][0]["text"].get<std::string>();
  }
  EXPECT_TRUE(ends_with_done);
  EXPECT_EQ(streamed, done.text());
}

TEST_F(OpenAiHttpTest, SparsePolicyKnobsReachTheServer) {
  const char* document =
      "The red fox lives in the old forest near the river. Every morning the fox walks to the "
      "water and drinks. The blue bird sings on the tall tree while the sun rises over the hills. "
      "In the village the baker opens his shop and the children run to school. The secret number "
      "of the day is seven hundred and twelve, written on the door of the mill.";
  const Json body = {{"prompt", "What is the secret number?"},
                     {"context", document},
                     {"policy", "prefilling+focus"},
                     {"prefilling", {{"chunk_size", 16}, {"top_k", 2}, {"chunk_mode", "reuse"}}},
                     {"focus", {{"kv_budget", 32}, {"kv_block", 8}, {"sinks", 4}}},
                     {"max_tokens", 16},
                     {"block_length", 8},
                     {"steps", 16}};
  const CurlReply reply = curl_.post_json(url("/v1/completions"), body.dump());
  ASSERT_EQ(reply.status, 200) << reply.body;
  v1::GenerateRequest request;
  request.set_text("What is the secret number?");
  request.set_context(document);
  request.set_policy("prefilling+focus");
  request.mutable_prefilling()->set_chunk_size(16);
  request.mutable_prefilling()->set_top_k(2);
  request.mutable_prefilling()->set_chunk_mode("reuse");
  request.mutable_focus()->set_kv_budget(32);
  request.mutable_focus()->set_kv_block(8);
  request.mutable_focus()->set_sinks(4);
  request.mutable_params()->set_gen_length(16);
  request.mutable_params()->set_block_length(8);
  request.mutable_params()->set_steps(16);
  const v1::GenerationDone done = grpc_done(request);
  EXPECT_EQ(reply.json()["choices"][0]["text"], done.text());
  EXPECT_EQ(reply.json()["usage"]["prompt_tokens"], done.usage().prompt_tokens());

  // A value only the server can judge comes back as its 400.
  Json bad = body;
  bad["prefilling"]["chunk_mode"] = "sideways";
  const CurlReply refused = curl_.post_json(url("/v1/completions"), bad.dump());
  EXPECT_EQ(refused.status, 400) << refused.body;
  EXPECT_NE(refused.json()["error"]["message"].get<std::string>().find("sideways"),
            std::string::npos)
      << refused.body;
}

TEST_F(OpenAiHttpTest, ErrorsGetOpenAiBodiesAndStatuses) {
  struct Case {
    const char* what;
    CurlReply reply;
    int status;
    const char* message_part;
  };
  const std::string big(5 << 20, 'x');
  std::vector<Case> cases = {
      {"malformed JSON", curl_.post_json(url("/v1/completions"), "{\"prompt\": "), 400,
       "not valid JSON"},
      {"wrong type",
       curl_.post_json(url("/v1/completions"), R"({"prompt": "p", "max_tokens": "8"})"), 400,
       "`max_tokens` must be an integer"},
      {"refused by the server",
       curl_.post_json(url("/v1/completions"), R"({"prompt": "p", "max_tokens": 100000})"), 400,
       "gen_length"},
      {"unknown model",
       curl_.post_json(url("/v1/chat/completions"),
                       R"({"model": "gpt-17", "messages": [{"role": "user", "content": "q"}]})"),
       404, "gpt-17"},
      {"unknown path", curl_.run("", url("/v2/engines")), 404, "/v2/engines"},
      {"GET on a POST endpoint", curl_.run("", url("/v1/chat/completions")), 405, "POST"},
      {"POST on a GET endpoint", curl_.post_json(url("/v1/models"), "{}"), 405, "GET"},
      {"body over 4 MiB",
       curl_.run("-H 'Content-Type: application/json' --data-binary @'" +
                     curl_.file("big.json", "{\"prompt\": \"" + big + "\"}") + "'",
                 url("/v1/completions")),
       413, "exceeds the limit"},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(c.reply.status, c.status) << c.what << ": " << c.reply.body;
    const Json j = c.reply.json();
    ASSERT_FALSE(j.is_discarded()) << c.what << ": " << c.reply.body;
    ASSERT_TRUE(j.contains("error")) << c.what << ": " << c.reply.body;
    EXPECT_NE(j["error"]["message"].get<std::string>().find(c.message_part), std::string::npos)
        << c.what << ": " << c.reply.body;
    EXPECT_TRUE(j["error"].contains("type")) << c.what;
  }
  EXPECT_NE(cases[5].reply.headers.find("Allow: POST"), std::string::npos);
  // And the gateway still serves.
  EXPECT_EQ(curl_.run("", url("/v1/models")).status, 200);
}

TEST_F(OpenAiHttpTest, UnreachableRouterIs503AndAPassedDeadlineIs504) {
  absl::StatusOr<std::unique_ptr<router::OpenAiGateway>> dead =
      router::start_openai_gateway("127.0.0.1:0", "127.0.0.1:1");
  ASSERT_TRUE(dead.ok()) << dead.status();
  const CurlReply unavailable = curl_.post_json("http://" + (*dead)->address() + "/v1/completions",
                                                R"({"prompt": "p", "max_tokens": 8})");
  EXPECT_EQ(unavailable.status, 503) << unavailable.body;
  EXPECT_EQ(unavailable.json()["error"]["type"], "server_error");

  router::OpenAiGatewayOptions hasty;
  hasty.request_timeout = std::chrono::milliseconds(1);
  absl::StatusOr<std::unique_ptr<router::OpenAiGateway>> slow =
      router::start_openai_gateway("127.0.0.1:0", server_->address(), hasty);
  ASSERT_TRUE(slow.ok()) << slow.status();
  const CurlReply late =
      curl_.post_json("http://" + (*slow)->address() + "/v1/completions",
                      R"({"prompt": "p", "max_tokens": 512, "block_length": 32, "steps": 512})");
  EXPECT_EQ(late.status, 504) << late.body;
  EXPECT_EQ(late.json()["error"]["code"], "deadline_exceeded");
}

TEST_F(OpenAiHttpTest, AClientThatHangsUpCancelsTheGeneration) {
  const std::string decode = server_->address();  // --role all: the decode node is here too
  const int64_t completed_before = testing_serve::node_load(decode, false).completed();
  // ~16 s of work on one thread; curl is killed once the first block has arrived.
  const std::string body =
      curl_.file("long.json", R"({"prompt": "a long one", "stream": true, "max_tokens": 512,
                       "block_length": 32, "steps": 512})");
  const std::string cmd =
      "sh -c 'echo $$; exec curl -sN -H \"Content-Type: application/json\" "
      "--data-binary @" +
      body + " " + url("/v1/completions") + "'";
  FILE* pipe = popen(cmd.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  char line[65536];
  pid_t curl_pid = 0;
  if (std::fgets(line, sizeof line, pipe) != nullptr) curl_pid = std::atoi(line);
  ASSERT_GT(curl_pid, 0);
  bool got_block = false;
  while (!got_block && std::fgets(line, sizeof line, pipe) != nullptr)
    got_block = absl::StartsWith(line, "data: {");
  EXPECT_TRUE(got_block) << "the stream ended before its first block";
  kill(curl_pid, SIGKILL);
  pclose(pipe);
  const auto hung_up = std::chrono::steady_clock::now();
  v1::NodeLoad load;
  do {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    load = testing_serve::node_load(decode, false);
  } while (load.running() + load.waiting() > 0 &&
           std::chrono::steady_clock::now() - hung_up < std::chrono::seconds(60));
  EXPECT_LT(std::chrono::steady_clock::now() - hung_up, std::chrono::seconds(5))
      << "the generation ran on after the client left";
  EXPECT_EQ(load.running(), 0);
  EXPECT_EQ(load.completed(), completed_before);  // stopped, not finished

  // Waiting for a whole answer, a client that gives up cancels it as well.
  const CurlReply gave_up = curl_.post_json(
      url("/v1/completions"), R"({"prompt": "a long one", "max_tokens": 512, "block_length": 32,
                                  "steps": 512})",
      "--max-time 2");
  EXPECT_EQ(gave_up.status, 0) << gave_up.body;  // no answer: curl timed out
  const auto left = std::chrono::steady_clock::now();
  do {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    load = testing_serve::node_load(decode, false);
  } while (load.running() + load.waiting() > 0 &&
           std::chrono::steady_clock::now() - left < std::chrono::seconds(60));
  EXPECT_LT(std::chrono::steady_clock::now() - left, std::chrono::seconds(5))
      << "the generation ran on after the client left";
  EXPECT_EQ(load.completed(), completed_before);
}

}  // namespace
}  // namespace dllm

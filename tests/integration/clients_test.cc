// The shipped clients against a real server: `dllm client` (streams the text, ids last with
// --print-ids) and the Python example on Debian's python3-grpcio both print the answer
// `dllm generate` prints; a bad request makes the client exit 2 with the server's message.
#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "tests/integration/serving_process.h"

namespace dllm {
namespace {

using namespace testing_serve;

struct Output {
  int exit_code = -1;
  std::vector<std::string> lines;
};

Output run(const std::string& cmd) {
  Output o;
  FILE* pipe = popen((cmd + " 2>/dev/null").c_str(), "r");
  if (pipe == nullptr) return o;
  std::string text;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, pipe)) > 0) text.append(buf, n);
  const int status = pclose(pipe);
  o.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  o.lines = absl::StrSplit(text, '\n', absl::SkipEmpty());
  return o;
}

class ClientsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = std::make_unique<ServingProcess>(std::vector<std::string>{
        kDllm, "serve", "--role", "all", "--model", kModel, "--listen", "127.0.0.1:0",
        "--threads", "1", "--http-listen", "127.0.0.1:0"});
    ASSERT_FALSE(server_->address().empty()) << server_->log();
  }
  std::unique_ptr<ServingProcess> server_;
};

TEST_F(ClientsTest, DllmClientPrintsTheCliAnswer) {
  const std::string flags = "--prompt 'hello there' --gen-length 16 --block-length 4 --steps 8";
  const Output o = run(kDllm + " client --router " + server_->address() + " " + flags +
                       " --print-ids");
  ASSERT_EQ(o.exit_code, 0);
  ASSERT_GE(o.lines.size(), 1u);
  EXPECT_EQ(o.lines.back(), reference_ids(flags));
}

TEST_F(ClientsTest, DllmClientSendsPolicyFlags) {
  const std::string flags =
      "--prompt 'Who sings?' --context 'The red fox lives in the old forest near the river. "
      "The blue bird sings on the tall tree while the sun rises over the hills.' --policy "
      "prefilling --chunk-size 16 --top-k 2 --chunk-mode reuse --gen-length 8 --block-length 8";
  const Output o = run(kDllm + " client --router " + server_->address() + " " + flags +
                       " --print-ids");
  ASSERT_EQ(o.exit_code, 0);
  ASSERT_GE(o.lines.size(), 1u);
  EXPECT_EQ(o.lines.back(), reference_ids(flags));
}

TEST_F(ClientsTest, DllmClientReportsABadRequestAndExits2) {
  const Output o = run(kDllm + " client --router " + server_->address() +
                       " --prompt-ids 1,2 --gen-length 10 --block-length 4");
  EXPECT_EQ(o.exit_code, 2);
}

TEST_F(ClientsTest, CurlThroughHttpListenGetsTheCliAnswer) {
  const std::string http = server_->wait_for_line_after("OpenAI HTTP on ", std::chrono::seconds(5));
  ASSERT_FALSE(http.empty()) << server_->log();
  const Output models = run("curl -sS http://" + http + "/v1/models");
  ASSERT_EQ(models.exit_code, 0);
  ASSERT_FALSE(models.lines.empty());
  EXPECT_NE(models.lines[0].find("\"llada-tiny\""), std::string::npos) << models.lines[0];
  // The gateway's answer and `dllm client`'s are the same generation.
  const Output completion =
      run("curl -sS http://" + http +
          "/v1/completions -d '{\"prompt\": \"hello there\", \"max_tokens\": 16, "
          "\"block_length\": 4, \"steps\": 8}'");
  ASSERT_EQ(completion.exit_code, 0);
  ASSERT_FALSE(completion.lines.empty());
  EXPECT_NE(completion.lines[0].find("\"completion_tokens\":16"), std::string::npos)
      << completion.lines[0];
}

TEST_F(ClientsTest, PythonExampleClientPrintsTheCliAnswer) {
  const std::string script = std::string(DLLM_SOURCE_DIR) + "/examples/python/client.py";
  const Output o = run("/usr/bin/python3 " + script + " --router " + server_->address() +
                       " --prompt-ids 3,1,4,1,5 --gen-length 16 --block-length 8 --steps 8 "
                       "--print-ids");
  ASSERT_EQ(o.exit_code, 0);
  ASSERT_GE(o.lines.size(), 1u);
  EXPECT_EQ(o.lines.back(),
            reference_ids("--prompt-ids 3,1,4,1,5 --gen-length 16 --block-length 8 --steps 8"));
}

}  // namespace
}  // namespace dllm

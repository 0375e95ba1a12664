// The `dllm` CLI contract for bad input: one line on stderr starting "dllm: error:", exit code 2.
// Runs the real build/bin/dllm as a child process.
#include <gtest/gtest.h>

#include "tests/unit/cli_process.h"
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

namespace {

using dllm::testing_cli::CliRun;
using dllm::testing_cli::kDllmBinary;

CliRun run(const std::string& args) { return dllm::testing_cli::run_dllm(args); }
const std::string kTiny = std::string(DLLM_SOURCE_DIR) + "/models/llada-tiny";
const std::string kGolden = DLLM_GOLDEN_DIR;

void expect_bad_input(const std::string& args, const std::string& needle) {
  SCOPED_TRACE(args);
  const CliRun r = run(args);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err.rfind("dllm: error: ", 0), 0u) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;  // exactly one line
  EXPECT_NE(r.err.find(needle), std::string::npos) << r.err;
}

class CliErrors : public testing::Test {
 protected:
  void SetUp() override {
    if (!std::filesystem::exists(kDllmBinary)) GTEST_SKIP() << kDllmBinary << " not built";
  }
};

TEST_F(CliErrors, GenerationArgumentsAreValidated) {
  const std::string gen = "generate --model " + kTiny + " --prompt hello ";
  expect_bad_input(gen + "--gen-length 30 --block-length 8", "not a multiple of block_length");
  expect_bad_input(gen + "--gen-length 32 --block-length 8 --steps 6", "not divisible");
  expect_bad_input("generate --model " + kTiny + " --prompt ''", "empty prompt");
  expect_bad_input("generate --model " + kTiny + " --prompt-ids 1,2,999", "out of range");
  expect_bad_input(gen + "--bogus 1", "unknown option --bogus");
  expect_bad_input(gen + "--top-k 3", "--sample-top-k");
}

TEST_F(CliErrors, ModelAndTokenizerErrorsNameTheProblem) {
  expect_bad_input("generate --model /nonexistent --prompt-ids 1", "/nonexistent/config.json");
  // /bin/sh has no $'..': printf writes the two invalid bytes.
  expect_bad_input("tokenize --model " + kTiny + " --text \"$(printf '\\377\\376')\"",
                   "invalid UTF-8");
  // Unknown model_type: a copy of the tiny config with another type.
  const std::string dir = testing::TempDir() + "/bad_model_type_" + std::to_string(getpid());
  std::filesystem::create_directories(dir);
  std::ifstream in(kGolden + "/llada-tiny/checkpoint/config.json");
  std::string config((std::istreambuf_iterator<char>(in)), {});
  config.replace(config.find("\"llada\""), 7, "\"gpt9\"");
  std::ofstream(dir + "/config.json") << config;
  expect_bad_input("inspect --model " + dir, "gpt9");
}

TEST_F(CliErrors, GoodRunsSucceedAndPrintIdsLast) {
  const CliRun r = run("generate --model " + kTiny +
                    " --prompt-ids 5,17,99 --gen-length 16 --block-length 8 --steps 8 --print-ids");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string last = r.out.substr(r.out.rfind('\n', r.out.size() - 2) + 1);
  EXPECT_EQ(std::count(last.begin(), last.end(), ','), 15) << last;  // 16 generated ids
}

}  // namespace

// Runs the real build/bin/dllm as a child process and captures its exit code, stdout and stderr
// (for tests of the CLI contract).
#pragma once

#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include <gtest/gtest.h>

namespace dllm::testing_cli {

inline const std::string kDllmBinary = std::string(DLLM_BINARY_DIR) + "/bin/dllm";

struct CliRun {
  int exit_code = -1;
  std::string out, err;
};

// `args` go through /bin/sh. ctest runs each test as its own process, in parallel: one file
// pair per process.
inline CliRun run_dllm(const std::string& args) {
  const std::string dir = ::testing::TempDir() + "/dllm_cli_" + std::to_string(getpid());
  std::filesystem::create_directories(dir);
  const std::string out = dir + "/out.txt", err = dir + "/err.txt";
  const int status = std::system((kDllmBinary + " " + args + " >" + out + " 2>" + err).c_str());
  CliRun r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  auto slurp = [](const std::string& path) {
    std::ifstream in(path);
    return std::string(std::istreambuf_iterator<char>(in), {});
  };
  r.out = slurp(out);
  r.err = slurp(err);
  return r;
}

}  // namespace dllm::testing_cli

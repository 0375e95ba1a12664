// The `dllm` subcommands and the helpers they share (backend choice, error reporting).
#pragma once

#include <memory>
#include <optional>
#include <vector>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "kernels/backend.h"
#include "tools/dllm/cli_args.h"

namespace dllm::cli {

// Each returns the process exit code.
int run_generate(int argc, char** argv);
int run_forward(int argc, char** argv);
int run_tokenize(int argc, char** argv);
int run_inspect(int argc, char** argv);
int run_eval(int argc, char** argv);
int run_serve(int argc, char** argv);
// `dllm serve --role ROLE` for the role-named executables (router, prefill_node, decode_node).
int run_serve_as(const char* role, int argc, char** argv);
int run_client(int argc, char** argv);

// Parses a command's flags (argv[2..]). Returns the exit code to end with — 2 after a one-line
// error for a bad flag, 0 after printing the usage for --help — or nullopt to go on.
std::optional<int> parse_command_args(int argc, char** argv, const char* command,
                                      const std::vector<OptionSpec>& specs, CliArgs* args);

// One-line error on stderr. Bad input (anything but an internal error) exits with 2.
int report_error(const absl::Status& status);

// --device cpu|cuda and --threads N.
absl::StatusOr<std::unique_ptr<kernels::Backend>> make_backend(const CliArgs& args);
inline const OptionSpec kDeviceOption{"device", true, "cpu (default), cuda or cuda:N"};
inline const OptionSpec kThreadsOption{"threads", true, "CPU threads (default: all cores)"};
inline const OptionSpec kConfigOption{"config", true, "JSON file whose keys mirror these flags"};
inline const OptionSpec kHelpOption{"help", false, "print this help"};

}  // namespace dllm::cli

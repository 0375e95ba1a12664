// Shared CLI helpers: flag parsing, backend selection and error reporting.
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <utility>

#include "absl/strings/str_cat.h"
#include "tools/dllm/commands.h"

#ifdef DLLM_HAVE_CUDA
#include "kernels/cuda/cuda_backend.h"
#endif

namespace dllm::cli {

std::optional<int> parse_command_args(int argc, char** argv, const char* command,
                                      const std::vector<OptionSpec>& specs, CliArgs* args) {
  absl::StatusOr<CliArgs> parsed = CliArgs::parse(argc, argv, 2, specs);
  if (!parsed.ok()) return report_error(parsed.status());
  if (parsed->flag("help")) {
    std::fputs(usage(command, specs).c_str(), stdout);
    return 0;
  }
  *args = std::move(*parsed);
  return std::nullopt;
}

int report_error(const absl::Status& status) {
  std::string msg(status.message());
  for (char& c : msg)
    if (c == '\n') c = ' ';  // one line, so scripts can read it
  std::fprintf(stderr, "dllm: error: %s\n", msg.c_str());
  return status.code() == absl::StatusCode::kInternal ? 1 : 2;
}

absl::StatusOr<std::unique_ptr<kernels::Backend>> make_backend(const CliArgs& args) {
  absl::StatusOr<int> threads = args.get_int("threads", 0);
  if (!threads.ok()) return threads.status();
  if (*threads < 0) return absl::InvalidArgumentError("--threads must be >= 0");
  const std::string device = args.get("device", "cpu");
  if (device == "cpu") return kernels::make_cpu_backend(*threads);
  if (device == "cuda" || device.rfind("cuda:", 0) == 0) {
#ifdef DLLM_HAVE_CUDA
    const int index = device == "cuda" ? 0 : std::atoi(device.c_str() + 5);
    try {
      return kernels::make_cuda_backend(index);
    } catch (const std::exception& e) {
      return absl::FailedPreconditionError(absl::StrCat("--device ", device, ": ", e.what()));
    }
#else
    return absl::UnimplementedError("--device cuda: this build has no CUDA backend (nvcc not found)");
#endif
  }
  return absl::InvalidArgumentError(absl::StrCat("--device must be cpu or cuda, got '", device, "'"));
}

}  // namespace dllm::cli

// `dllm serve`: the gRPC server; `--role all` runs router, prefill and decode in this process.
#include <pthread.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <optional>

#include "absl/strings/str_cat.h"
#include "router/embedded_server.h"
#include "router/generation_service.h"
#include "router/served_model.h"
#include "tools/dllm/commands.h"

namespace dllm::cli {
namespace {

const std::vector<OptionSpec>& serve_specs() {
  static const std::vector<OptionSpec> specs = {
      {"role", true, "all (default): every role in this process; router|prefill|decode later"},
      {"model", true, "checkpoint directory (config.json, safetensors, tokenizer)"},
      {"listen", true,
       "HOST:PORT to serve gRPC on (port 0 picks a free one; default 127.0.0.1:50051)"},
      {"max-prompt-tokens", true, "longest prompt a request may send (default 8192)"},
      {"max-gen-length", true, "largest gen_length a request may ask for (default 4096)"},
      kThreadsOption,
      kConfigOption,
      kHelpOption};
  return specs;
}

}  // namespace

int run_serve(int argc, char** argv) {
  const auto& specs = serve_specs();
  CliArgs parsed;
  if (std::optional<int> exit = parse_command_args(argc, argv, "serve", specs, &parsed)) return *exit;
  const CliArgs* args = &parsed;
  const std::string role = args->get("role", "all");
  if (role == "router" || role == "prefill" || role == "decode")
    return report_error(absl::UnimplementedError(
        absl::StrCat("--role ", role, " is not built yet; use --role all")));
  if (role != "all")
    return report_error(absl::InvalidArgumentError(
        absl::StrCat("--role must be all, router, prefill or decode, got '", role, "'")));
  if (!args->has("model")) return report_error(absl::InvalidArgumentError("--model is required"));
  absl::StatusOr<int> threads = args->get_int("threads", 0);
  absl::StatusOr<int> max_prompt = args->get_int("max-prompt-tokens", 8192);
  absl::StatusOr<int> max_gen = args->get_int("max-gen-length", 4096);
  for (const absl::Status& st : {threads.status(), max_prompt.status(), max_gen.status()})
    if (!st.ok()) return report_error(st);
  if (*threads < 0 || *max_prompt <= 0 || *max_gen <= 0)
    return report_error(absl::InvalidArgumentError(
        "--threads must be >= 0; --max-prompt-tokens and --max-gen-length must be >= 1"));

  // Block the shutdown signals before gRPC starts its threads, so that only sigwait sees them.
  sigset_t shutdown_signals;
  sigemptyset(&shutdown_signals);
  sigaddset(&shutdown_signals, SIGTERM);
  sigaddset(&shutdown_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &shutdown_signals, nullptr);

  absl::StatusOr<std::unique_ptr<router::ServedModel>> model =
      router::ServedModel::load(args->get("model"), *threads);
  if (!model.ok()) return report_error(model.status());
  std::vector<std::unique_ptr<router::ServedModel>> models;
  models.push_back(std::move(*model));
  auto service = std::make_unique<router::GenerationService>(
      std::move(models), router::ServingLimits{*max_prompt, *max_gen});
  absl::StatusOr<router::EmbeddedServer> server =
      router::start_embedded_server(args->get("listen", "127.0.0.1:50051"), std::move(service));
  if (!server.ok()) return report_error(server.status());
  std::fprintf(stderr, "dllm: serving role all on %s\n", server->address.c_str());
  std::fflush(stderr);

  int signal = 0;
  sigwait(&shutdown_signals, &signal);
  std::fprintf(stderr, "dllm: signal %d, shutting down\n", signal);
  server->server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
  server->server->Wait();
  return 0;
}

}  // namespace dllm::cli

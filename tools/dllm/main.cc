// Entry point of the `dllm` command-line tool: dispatches to a subcommand.
#include <cstdio>
#include <cstring>

#include "tools/dllm/commands.h"

namespace {

constexpr const char* kUsage =
    "usage: dllm <command> [options]\n"
    "commands:\n"
    "  generate   generate text with a diffusion LM (LLaDA / Dream)\n"
    "  forward    run one forward pass and write the logits to a safetensors file\n"
    "  tokenize   print the token ids of a text\n"
    "  inspect    describe a checkpoint directory\n"
    "  eval       long-context task accuracy (passkey, kv, vt, mdqa) under a policy\n"
    "  serve      serve the gRPC Generation API (--role all|router|prefill|decode)\n"
    "  client     send one request to a router and stream the answer\n"
    "Run `dllm <command> --help` for the options of a command.\n";

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "-h") == 0) {
    std::fputs(kUsage, argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  const char* cmd = argv[1];
  if (std::strcmp(cmd, "generate") == 0) return dllm::cli::run_generate(argc, argv);
  if (std::strcmp(cmd, "forward") == 0) return dllm::cli::run_forward(argc, argv);
  if (std::strcmp(cmd, "tokenize") == 0) return dllm::cli::run_tokenize(argc, argv);
  if (std::strcmp(cmd, "inspect") == 0) return dllm::cli::run_inspect(argc, argv);
  if (std::strcmp(cmd, "eval") == 0) return dllm::cli::run_eval(argc, argv);
  if (std::strcmp(cmd, "serve") == 0) return dllm::cli::run_serve(argc, argv);
  if (std::strcmp(cmd, "client") == 0) return dllm::cli::run_client(argc, argv);
  std::fprintf(stderr, "dllm: error: unknown command '%s'\n%s", cmd, kUsage);
  return 2;
}

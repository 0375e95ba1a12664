// The prefill_node executable: `dllm serve --role prefill` (same flags).
#include "tools/dllm/commands.h"

int main(int argc, char** argv) { return dllm::cli::run_serve_as("prefill", argc, argv); }

// The decode_node executable: `dllm serve --role decode` (same flags).
#include "tools/dllm/commands.h"

int main(int argc, char** argv) { return dllm::cli::run_serve_as("decode", argc, argv); }

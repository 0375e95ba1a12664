// The router executable: `dllm serve --role router` (same flags).
#include "tools/dllm/commands.h"

int main(int argc, char** argv) { return dllm::cli::run_serve_as("router", argc, argv); }

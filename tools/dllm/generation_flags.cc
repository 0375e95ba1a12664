#include "tools/dllm/generation_flags.h"

#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"

namespace dllm::cli {

const std::vector<OptionSpec>& prompt_and_generation_specs() {
  static const std::vector<OptionSpec> specs = {
      {"prompt", true, "prompt text"},
      {"prompt-ids", true, "prompt as comma-separated token ids (instead of --prompt)"},
      {"chat", false, "wrap --prompt as a user turn in the model's chat template"},
      {"system", true, "system message for --chat"},
      {"gen-length", true, "tokens to generate (default 128)"},
      {"block-length", true, "semi-autoregressive block (default: 32 for LLaDA, gen-length for Dream)"},
      {"steps", true, "denoising steps over all blocks (default: gen-length)"},
      {"temperature", true, "0 = greedy (default 0)"},
      {"remasking", true, "LLaDA: low_confidence (default) | random"},
      {"alg", true, "Dream: entropy (default) | maskgit_plus | topk_margin | origin"},
      {"threshold", true, "confidence-threshold parallel decoding τ in (0,1]; 0 = off"},
      {"cache", true, "block K/V cache: none (default) | prefix | dual"},
      {"cfg-scale", true, "LLaDA classifier-free guidance scale (default 0)"},
      {"top-p", true, "Dream nucleus sampling (default 1 = off)"},
      {"sample-top-k", true, "Dream top-k sampling (default 0 = off)"},
      {"alg-temp", true, "Dream: sample positions with this temperature (default 0)"},
      {"eps", true, "Dream: final timestep (default 0.001)"},
      {"seed", true, "random seed (default 0)"},
      {"stop-after-eos-block", false, "stop once a finished block is all EOS/EoT"},
      {"print-ids", false, "print the generated ids, comma-separated, as the last line"},
      {"context", true, "the document (with --prompt as the question); chunked by --policy prefilling[+focus]"},
      {"context-file", true, "read the document from this file"},
  };
  return specs;
}

absl::StatusOr<std::string> read_context(const CliArgs& args) {
  if (args.has("context") && args.has("context-file"))
    return absl::InvalidArgumentError("give one of --context and --context-file");
  if (args.has("context")) return args.get("context");
  std::ifstream in(args.get("context-file"), std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read --context-file ", args.get("context-file")));
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace dllm::cli

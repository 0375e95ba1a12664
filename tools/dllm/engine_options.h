// Engine limits shared by the commands that load a model: the K/V pool budget and page size.
#pragma once

#include "absl/status/statusor.h"
#include "common/model/transformer.h"
#include "tools/dllm/cli_args.h"

namespace dllm::cli {

inline const OptionSpec kKvPoolOption{
    "kv-pool-mb", true,
    "K/V pool budget in MiB (default: half of free memory, at most 4096, on CPU; 80% on a GPU)"};
inline const OptionSpec kKvPageOption{"kv-page", true, "K/V page size in slots (default 64)"};

// --kv-pool-mb and --kv-page as TransformerOptions (InvalidArgument on bad values).
inline absl::StatusOr<TransformerOptions> transformer_options(const CliArgs& args) {
  TransformerOptions options;
  absl::StatusOr<int> mb = args.get_int("kv-pool-mb", 0);
  absl::StatusOr<int> page = args.get_int("kv-page", options.kv_pool.page_size);
  if (!mb.ok()) return mb.status();
  if (!page.ok()) return page.status();
  if (*mb < 0) return absl::InvalidArgumentError("--kv-pool-mb must be >= 0");
  if (*page <= 0) return absl::InvalidArgumentError("--kv-page must be > 0");
  options.kv_pool.max_bytes = static_cast<size_t>(*mb) << 20;
  options.kv_pool.page_size = *page;
  return options;
}

}  // namespace dllm::cli

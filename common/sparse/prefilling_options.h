// PrefillingOptions: every knob of Prefilling-dLLM (methods.md §2) with its published default,
// and their validation against a model.
#pragma once

#include <cstdint>
#include <string_view>

#include "absl/status/statusor.h"
#include "common/model/model_config.h"

namespace dllm {

// How the selected chunks become the decode cache.
enum class ChunkMode {
  kReprefill,  // prefix + selected chunks + query re-encoded densely (published best quality)
  kReuse,      // the chunks' cached K/V stitched in (re-rotated); only query + masks encoded
};

// How intra-chunk token sparsity picks tokens.
enum class TokenSelect {
  kGlobal,   // one token set per chunk (scores summed over layers and heads); compacts the prompt
  kPerHead,  // one set per (layer, KV head), equal lengths; needs ChunkMode::kReuse
};

struct PrefillingOptions {
  int chunk_size = 1024;  // tokens per chunk, the BOS anchor included
  int top_k = 4;          // chunks kept (all when there are fewer)
  int draft_tokens = 4;   // MASK slots after the query; the first and one more get committed
  int score_batch = 8;    // chunks per scoring forward
  int variant_batch = 64;  // LLaDA leave-one-out scoring variants per forward (suffix rows only)
  ChunkMode chunk_mode = ChunkMode::kReprefill;
  int token_capacity = 0;  // tokens kept per selected chunk (BOS included); 0 = all (off)
  TokenSelect token_select = TokenSelect::kGlobal;
  bool chunk_bos = true;      // each chunk starts with a BOS anchor
  int32_t bos_token_id = -1;  // -1: the model config's bos_token_id
  int probe_rows = 8;         // token sparsity: the last query rows whose attention scores tokens
  int pool_width = 7;         // token sparsity: max-pool window along tokens (odd)
};

// "reprefill" | "reuse"
absl::StatusOr<ChunkMode> parse_chunk_mode(std::string_view name);
const char* chunk_mode_name(ChunkMode mode);
// "global" | "per-head"
absl::StatusOr<TokenSelect> parse_token_select(std::string_view name);
const char* token_select_name(TokenSelect select);
// "on" | "off"
absl::StatusOr<bool> parse_on_off(std::string_view flag, std::string_view value);

// InvalidArgument naming the knob and the reason.
absl::Status validate_prefilling_options(const PrefillingOptions& options,
                                         const ModelConfig& config);
// The BOS id chunks start with: options.bos_token_id, else the config's; -1 with chunk_bos off.
absl::StatusOr<int32_t> resolve_chunk_bos(const PrefillingOptions& options,
                                          const ModelConfig& config);

}  // namespace dllm

// Names and validation of PrefillingOptions.
#include "common/sparse/prefilling_options.h"

#include <string>

#include "absl/strings/str_cat.h"

namespace dllm {
namespace {

absl::Status invalid(const std::string& what) {
  return absl::InvalidArgumentError(absl::StrCat("prefilling options: ", what));
}

}  // namespace

absl::StatusOr<ChunkMode> parse_chunk_mode(std::string_view name) {
  if (name == "reprefill") return ChunkMode::kReprefill;
  if (name == "reuse") return ChunkMode::kReuse;
  return invalid(
      absl::StrCat("unknown chunk mode '", std::string(name), "' (known: reprefill, reuse)"));
}

const char* chunk_mode_name(ChunkMode mode) {
  return mode == ChunkMode::kReprefill ? "reprefill" : "reuse";
}

absl::StatusOr<TokenSelect> parse_token_select(std::string_view name) {
  if (name == "global") return TokenSelect::kGlobal;
  if (name == "per-head") return TokenSelect::kPerHead;
  return invalid(
      absl::StrCat("unknown token selection '", std::string(name), "' (known: global, per-head)"));
}

const char* token_select_name(TokenSelect select) {
  return select == TokenSelect::kGlobal ? "global" : "per-head";
}

absl::StatusOr<bool> parse_on_off(std::string_view flag, std::string_view value) {
  if (value == "on") return true;
  if (value == "off") return false;
  return invalid(
      absl::StrCat(std::string(flag), " must be on or off, not '", std::string(value), "'"));
}

absl::StatusOr<int32_t> resolve_chunk_bos(const PrefillingOptions& o, const ModelConfig& config) {
  if (!o.chunk_bos) return -1;
  const int32_t bos = o.bos_token_id >= 0 ? o.bos_token_id : config.bos_token_id;
  if (bos < 0) {
    return invalid(
        "chunk_bos is on but the model config has no bos_token_id: give the BOS id "
        "(bos_token_id; the CLI takes it from the tokenizer) or turn chunk_bos off");
  }
  if (bos >= config.embedding_rows) {
    return invalid(
        absl::StrCat("bos_token_id ", bos, " is out of range [0, ", config.embedding_rows, ")"));
  }
  if (bos == config.mask_token_id) return invalid("bos_token_id is the mask token");
  return bos;
}

absl::Status validate_prefilling_options(const PrefillingOptions& o, const ModelConfig& config) {
  const int anchor = o.chunk_bos ? 1 : 0;
  if (o.chunk_size < 1 + anchor) {
    return invalid(absl::StrCat("chunk_size ", o.chunk_size, " must be >= ", 1 + anchor,
                                o.chunk_bos ? " (the BOS anchor plus at least one token)" : ""));
  }
  if (o.top_k < 1) return invalid(absl::StrCat("top_k ", o.top_k, " must be >= 1"));
  if (o.draft_tokens < 0) {
    return invalid(absl::StrCat("draft_tokens ", o.draft_tokens, " must be >= 0 (0 = no draft)"));
  }
  if (o.score_batch < 1)
    return invalid(absl::StrCat("score_batch ", o.score_batch, " must be >= 1"));
  if (o.variant_batch < 1)
    return invalid(absl::StrCat("variant_batch ", o.variant_batch, " must be >= 1"));
  if (o.token_capacity < 0) {
    return invalid(absl::StrCat("token_capacity ", o.token_capacity, " must be >= 0 (0 = off)"));
  }
  if (o.token_capacity > 0 && o.token_capacity < 1 + anchor) {
    return invalid(absl::StrCat("token_capacity ", o.token_capacity, " must be 0 (off) or >= ",
                                1 + anchor, " (the BOS anchor is always kept)"));
  }
  if (o.token_capacity > 0 && o.token_select == TokenSelect::kPerHead &&
      o.chunk_mode != ChunkMode::kReuse) {
    return invalid(
        "token_select per-head keeps different tokens per KV head, which only a stitched cache "
        "can hold: use chunk_mode reuse (or token_select global)");
  }
  if (o.probe_rows < 1) return invalid(absl::StrCat("probe_rows ", o.probe_rows, " must be >= 1"));
  if (o.pool_width < 1 || o.pool_width % 2 == 0) {
    return invalid(absl::StrCat("pool_width ", o.pool_width, " must be odd and >= 1"));
  }
  if (config.mask_token_id < 0) return invalid("the model config has no mask_token_id");
  absl::StatusOr<int32_t> bos = resolve_chunk_bos(o, config);
  return bos.ok() ? absl::OkStatus() : bos.status();
}

}  // namespace dllm

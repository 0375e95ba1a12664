// The Prefilling-dLLM request: selection, then reprefill or reuse, then the denoising loop.
#include "common/sparse/prefilling.h"

#include <chrono>

#include "absl/strings/str_cat.h"
#include "common/sparse/chunk_scoring.h"
#include "common/sparse/prompt_stitching.h"

namespace dllm {
namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

absl::Status validate_request(const Transformer& model, const PrefillingRequest& r) {
  if (absl::Status s = validate_prefilling_options(r.prefilling, model.config()); !s.ok()) return s;
  if (absl::Status s = validate_generation_options(r.generation, model.config()); !s.ok()) return s;
  if (r.query.empty()) {
    return absl::InvalidArgumentError(
        "prefilling: the query (what follows the context) is empty; chunks are scored by how "
        "well they predict it");
  }
  for (auto part : {r.prefix, r.context, r.query})
    if (!part.empty())
      if (absl::Status s = validate_prompt(part, model.config()); !s.ok()) return s;
  return absl::OkStatus();
}

std::vector<int32_t> concat(std::initializer_list<std::span<const int32_t>> parts) {
  std::vector<int32_t> out;
  for (auto p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

}  // namespace

absl::StatusOr<PrefillingSelection> select_prefilling_chunks(Transformer& model,
                                                             const PrefillingRequest& r,
                                                             ChunkKvCache* chunk_cache,
                                                             bool keep_kv) {
  if (absl::Status s = validate_request(model, r); !s.ok()) return s;
  const PrefillingOptions& o = r.prefilling;
  const auto t0 = std::chrono::steady_clock::now();
  absl::StatusOr<int32_t> bos = resolve_chunk_bos(o, model.config());
  if (!bos.ok()) return bos.status();
  PrefillingSelection sel;
  sel.chunks = plan_chunks(r.context, o.chunk_size, o.chunk_bos, *bos);
  if (sel.chunks.size() <= 1) {
    sel.report.dense_fallback = true;
    sel.report.note =
        absl::StrCat("prefilling: the context (", r.context.size(),
                     " tokens) fits in one chunk of ", o.chunk_size, "; generating densely");
    return sel;
  }
  absl::StatusOr<Draft> draft = predict_draft(model, r.prefix, r.query, o.draft_tokens);
  if (!draft.ok()) return draft.status();
  sel.draft = std::move(*draft);

  const bool need_kv = keep_kv || o.token_capacity > 0;
  ChunkScoringInput in{.prefix = r.prefix,
                       .chunks = sel.chunks,
                       .query = r.query,
                       .draft = &sel.draft,
                       .score_batch = o.score_batch,
                       .variant_batch = o.variant_batch,
                       .keep_top_k = need_kv ? o.top_k : 0,
                       .model_id = r.model_id};
  absl::StatusOr<ChunkScoring> scoring = score_chunks(model, chunk_cache, in);
  if (!scoring.ok()) return scoring.status();
  sel.selected = select_top_k_chunks(scoring->scores, o.top_k);
  for (int c : sel.selected) sel.selected_kv.push_back(scoring->kv[c]);

  if (o.token_capacity > 0) {
    std::vector<int32_t> suffix = concat({r.query, sel.draft.ids});
    auto tokens =
        select_chunk_tokens(model, sel.selected_kv, suffix, static_cast<int>(r.query.size()), o);
    if (!tokens.ok()) return tokens.status();
    sel.tokens = std::move(*tokens);
  }
  if (!keep_kv) sel.selected_kv.clear();

  PrefillingReport& rep = sel.report;
  rep.draft = sel.draft.ids;
  rep.selected = sel.selected;
  rep.num_targets = scoring->num_targets;
  rep.draft_forwards = sel.draft.forwards;
  rep.encode_forwards = scoring->encode_forwards;
  rep.chunks_encoded = scoring->chunks_encoded;
  rep.score_forwards = scoring->score_forwards;
  rep.score_sequences = scoring->score_sequences;
  rep.score_rows = scoring->score_rows;
  for (size_t c = 0; c < sel.chunks.size(); ++c) {
    ChunkReport cr{.context_begin = sel.chunks[c].context_begin,
                   .context_end = sel.chunks[c].context_end,
                   .score = scoring->scores[c],
                   .cache_hit = scoring->cache_hit[c]};
    rep.chunk_cache_hits += cr.cache_hit ? 1 : 0;
    rep.chunks.push_back(cr);
  }
  for (size_t j = 0; j < sel.selected.size(); ++j) {
    ChunkReport& cr = rep.chunks[sel.selected[j]];
    cr.selected = true;
    cr.kept_tokens = static_cast<int>(sel.chunks[sel.selected[j]].ids.size());
    if (!sel.tokens.empty())
      cr.kept_tokens =
          static_cast<int>(sel.tokens[j].global.empty() ? sel.tokens[j].per_head.front().size()
                                                        : sel.tokens[j].global.size());
  }
  rep.selection_seconds = seconds_since(t0);
  return sel;
}

absl::StatusOr<PrefillingResult> generate_prefilling(Transformer& model, const PrefillingRequest& r,
                                                     ChunkKvCache* chunk_cache) {
  return generate_prefilling_with(
      model, r, chunk_cache,
      [&](std::span<const int32_t> prompt,
          FrozenPromptCache* frozen) -> absl::StatusOr<GenerationResult> {
        if (frozen == nullptr) return generate(model, prompt, r.generation, r.on_block);
        return generate_with_frozen_prompt(model, prompt, r.generation, std::move(*frozen),
                                           r.on_block);
      });
}

absl::StatusOr<PrefillingPrepared> prepare_prefilling(Transformer& model,
                                                      const PrefillingRequest& r,
                                                      ChunkKvCache* chunk_cache) {
  const bool reuse = r.prefilling.chunk_mode == ChunkMode::kReuse;
  absl::StatusOr<PrefillingSelection> sel =
      select_prefilling_chunks(model, r, chunk_cache, /*keep_kv=*/reuse);
  if (!sel.ok()) return sel.status();
  PrefillingPrepared out;
  out.report = std::move(sel->report);
  PrefillingReport& rep = out.report;
  if (rep.dense_fallback) {
    rep.prompt = concat({r.prefix, r.context, r.query});
  } else if (!reuse) {
    std::vector<std::vector<int>> kept;
    for (const ChunkTokenSelection& t : sel->tokens) kept.push_back(t.global);
    rep.prompt = compressed_prompt(r.prefix, sel->chunks, sel->selected, kept, r.query);
  } else {
    const auto t0 = std::chrono::steady_clock::now();
    const int extra = static_cast<int>(r.query.size()) + r.generation.gen_length;
    absl::StatusOr<StitchedPrompt> stitched =
        stitch_prompt_cache(model, sel->selected_kv, sel->tokens, extra);
    if (!stitched.ok()) return stitched.status();
    sel->selected_kv.clear();  // the stitched cache holds what it shares
    rep.frozen_len = stitched->frozen_len;
    rep.shared_pages = stitched->shared_pages;
    rep.prompt = concat({stitched->ids, r.query});
    rep.prefill_seconds = seconds_since(t0);
    out.frozen = FrozenPromptCache{std::move(stitched->cache), stitched->frozen_len};
  }
  return out;
}

absl::StatusOr<PrefillingResult> generate_prefilling_with(Transformer& model,
                                                          const PrefillingRequest& r,
                                                          ChunkKvCache* chunk_cache,
                                                          const PrefillingDecoder& decode) {
  absl::StatusOr<PrefillingPrepared> prepared = prepare_prefilling(model, r, chunk_cache);
  if (!prepared.ok()) return prepared.status();
  PrefillingResult result;
  result.report = std::move(prepared->report);
  PrefillingReport& rep = result.report;
  const auto t0 = std::chrono::steady_clock::now();
  absl::StatusOr<GenerationResult> gen =
      decode(rep.prompt, prepared->frozen ? &*prepared->frozen : nullptr);
  if (!gen.ok()) return gen.status();
  rep.generate_seconds = seconds_since(t0);
  result.generation = std::move(*gen);
  return result;
}

}  // namespace dllm

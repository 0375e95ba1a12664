// Stitching cached chunk K/V into one decode cache (page sharing where nothing moves, re-rotated
// copies elsewhere).
#include "common/sparse/prompt_stitching.h"

#include <algorithm>
#include <numeric>

#include "absl/strings/str_cat.h"
#include "kernels/cpu/prefilling_kernels.h"

namespace dllm {
namespace {

// K/V rows to move from one source chunk for one layer.
struct Moves {
  std::vector<int32_t> src_slots, dst_slots, from, to, heads;
  void add(int src, int dst, int head) {
    src_slots.push_back(src);
    dst_slots.push_back(dst);
    from.push_back(src);  // slot = position in an encoded chunk
    to.push_back(dst);    // and in the compressed prompt
    heads.push_back(head);
  }
};

}  // namespace

absl::StatusOr<StitchedPrompt> stitch_prompt_cache(
    Transformer& model, std::span<const std::shared_ptr<const ChunkKv>> chunks,
    std::span<const ChunkTokenSelection> selections, int extra_slots) {
  if (model.backend()->name() != "cpu") {
    return absl::UnimplementedError(
        absl::StrCat("reuse mode stitches chunk K/V on the CPU backend only for now (no ",
                     std::string(model.backend()->name()), " kernel for rerotate_kv_rows yet)"));
  }
  if (chunks.empty()) return absl::InvalidArgumentError("stitching: no chunks");
  if (!selections.empty() && selections.size() != chunks.size())
    return absl::InvalidArgumentError("stitching: one token selection per chunk");
  const ModelConfig& c = model.config();
  absl::StatusOr<KvPool*> pool = model.kv_pool();
  if (!pool.ok()) return pool.status();
  const int page = (*pool)->page_size();
  const int heads = c.num_layers * c.num_kv_heads;
  const bool per_head = !selections.empty() && !selections[0].per_head.empty();
  const ChunkKv& first = *chunks[0];
  const int P = first.prefix_len();
  for (const auto& kv : chunks)
    if (kv->prefix_ids() != first.prefix_ids())
      return absl::InvalidArgumentError("stitching: chunks encoded after different prefixes");

  // Kept token indices of chunk j for (layer, kv head) `lh`.
  std::vector<int> all;
  auto kept = [&](size_t j, int lh) -> const std::vector<int>& {
    if (selections.empty()) {
      all.resize(chunks[j]->chunk_len());
      std::iota(all.begin(), all.end(), 0);
      return all;
    }
    return per_head ? selections[j].per_head[lh] : selections[j].global;
  };

  StitchedPrompt out;
  out.ids = first.prefix_ids();
  std::vector<int> offsets;  // each chunk's first slot minus P
  int offset = 0;
  for (size_t j = 0; j < chunks.size(); ++j) {
    const std::vector<int>& k = kept(j, 0);
    if (per_head)
      for (int lh = 1; lh < heads; ++lh)
        if (selections[j].per_head[lh].size() != k.size())
          return absl::InvalidArgumentError("stitching: per-head selections of unequal length");
    offsets.push_back(offset);
    for (int i : k) out.ids.push_back(chunks[j]->chunk_ids()[i]);
    offset += static_cast<int>(k.size());
  }
  out.frozen_len = P + offset;

  // The leading slots that keep their place share pages with the first chunk.
  int run = P;
  if (!per_head) {
    const std::vector<int>& k0 = kept(0, 0);
    while (run - P < static_cast<int>(k0.size()) && k0[run - P] == run - P) ++run;
  }
  out.shared_pages = std::min<int>(run / page, static_cast<int>(first.pages().size()));
  const int first_copied = out.shared_pages * page;
  auto cache = model.new_kv_cache_with_pages(first.pages().first(out.shared_pages),
                                             out.frozen_len + extra_slots);
  if (!cache.ok()) return cache.status();
  out.cache = std::move(*cache);

  const std::vector<double> inv = c.rope_inv_freq();
  const std::vector<float> inv_freq(inv.begin(), inv.end());
  for (int layer = 0; layer < c.num_layers; ++layer) {
    const kernels::KvView dst = model.kv_cache_layer(*out.cache, layer);
    for (size_t j = 0; j < chunks.size(); ++j) {
      Moves m;
      for (int h = 0; h < c.num_kv_heads; ++h) {
        const int head = per_head ? h : -1;
        if (j == 0)
          for (int s = first_copied; s < P; ++s) m.add(s, s, head);
        const std::vector<int>& k = kept(j, layer * c.num_kv_heads + h);
        for (size_t t = 0; t < k.size(); ++t) {
          const int dst_slot = P + offsets[j] + static_cast<int>(t);
          if (dst_slot >= first_copied) m.add(P + k[t], dst_slot, head);
        }
        if (!per_head) break;  // one row moves every head
      }
      if (m.src_slots.empty()) continue;
      // The source's page table: host memory is the CPU backend's memory.
      kernels::cpu::KvRerotateParams p;
      p.src = (*pool)->layer_view(layer, chunks[j]->pages().data());
      p.dst = dst;
      p.num_rows = static_cast<int>(m.src_slots.size());
      p.num_kv_heads = c.num_kv_heads;
      p.head_dim = c.head_dim;
      p.src_slots = m.src_slots.data();
      p.dst_slots = m.dst_slots.data();
      p.from_positions = m.from.data();
      p.to_positions = m.to.data();
      p.heads = per_head ? m.heads.data() : nullptr;
      p.inv_freq = inv_freq.data();
      kernels::cpu::rerotate_kv_rows(p);
      out.rows_moved += p.num_rows;
    }
  }
  return out;
}

}  // namespace dllm

// Stitching cached chunk K/V into one decode cache (page sharing where nothing moves, re-rotated
// copies elsewhere, moved by the backend's rerotate_kv_rows wherever the pool lives).
#include "common/sparse/prompt_stitching.h"

#include <algorithm>
#include <exception>
#include <new>
#include <numeric>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/model/device_buffer.h"

namespace dllm {
namespace {

// The K/V rows to move, every (layer, chunk) segment back to back: one upload per request. A slot
// is a RoPE position both in an encoded chunk and in the compressed prompt, so the source and
// destination slots double as the positions to rotate from and to.
struct Moves {
  struct Segment {
    int layer = 0;
    int chunk = 0;
    size_t begin = 0;
    size_t count = 0;
  };
  std::vector<int32_t> src_slots, dst_slots, heads;
  std::vector<Segment> segments;
  void reserve(size_t n) {
    src_slots.reserve(n);
    dst_slots.reserve(n);
    heads.reserve(n);
  }
  void add(int src, int dst, int head) {
    src_slots.push_back(src);
    dst_slots.push_back(dst);
    heads.push_back(head);
  }
  void close_segment(int layer, int chunk) {
    const size_t begin = segments.empty() ? 0 : segments.back().begin + segments.back().count;
    if (src_slots.size() > begin)
      segments.push_back({layer, chunk, begin, src_slots.size() - begin});
  }
};

// Every segment's rows moved by the backend; the row arrays and the chunks' page tables are
// uploaded to backend memory once.
absl::Status move_rows(Transformer& model, KvPool& pool, const KvCache& dst_cache,
                       std::span<const std::shared_ptr<const ChunkKv>> chunks, const Moves& m,
                       bool per_head) {
  kernels::Backend* be = model.backend();
  const ModelConfig& c = model.config();
  try {
    const size_t n = m.src_slots.size();
    DeviceBuffer<int32_t> rows(be, 3 * std::max<size_t>(n, 1));
    const std::vector<int32_t>* parts[] = {&m.src_slots, &m.dst_slots, &m.heads};
    for (int i = 0; i < 3; ++i)
      be->copy_from_host(rows.data() + i * n, parts[i]->data(), n * sizeof(int32_t));
    std::vector<int32_t> tables;
    std::vector<size_t> table_offset;
    for (const auto& kv : chunks) {
      table_offset.push_back(tables.size());
      tables.insert(tables.end(), kv->pages().begin(), kv->pages().end());
    }
    DeviceBuffer<int32_t> tables_dev(be, tables.size());
    be->copy_from_host(tables_dev.data(), tables.data(), tables.size() * sizeof(int32_t));
    const std::vector<double> inv = c.rope_inv_freq();
    const std::vector<float> inv_f(inv.begin(), inv.end());
    DeviceBuffer<float> inv_freq(be, inv_f.size());
    be->copy_from_host(inv_freq.data(), inv_f.data(), inv_f.size() * sizeof(float));
    for (const Moves::Segment& seg : m.segments) {
      const size_t b = seg.begin;
      be->rerotate_kv_rows(
          {.src = pool.layer_view(seg.layer, tables_dev.data() + table_offset[seg.chunk]),
           .dst = model.kv_cache_layer(dst_cache, seg.layer),
           .num_rows = static_cast<int>(seg.count),
           .num_kv_heads = c.num_kv_heads,
           .head_dim = c.head_dim,
           .src_slots = rows.data() + b,
           .dst_slots = rows.data() + n + b,
           .from_positions = rows.data() + b,
           .to_positions = rows.data() + n + b,
           .heads = per_head ? rows.data() + 2 * n + b : nullptr,
           .inv_freq = inv_freq.data()});
    }
    be->synchronize();
  } catch (const std::bad_alloc& e) {
    return absl::ResourceExhaustedError(absl::StrCat("stitching: out of memory: ", e.what()));
  } catch (const std::exception& e) {
    return absl::InternalError(
        absl::StrCat("stitching: ", std::string(be->name()), " backend error: ", e.what()));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<StitchedPrompt> stitch_prompt_cache(
    Transformer& model, std::span<const std::shared_ptr<const ChunkKv>> chunks,
    std::span<const ChunkTokenSelection> selections, int extra_slots) {
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

  Moves m;
  m.reserve(static_cast<size_t>(c.num_layers) * (per_head ? c.num_kv_heads : 1) *
            (out.frozen_len - first_copied));
  for (int layer = 0; layer < c.num_layers; ++layer) {
    for (size_t j = 0; j < chunks.size(); ++j) {
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
      m.close_segment(layer, static_cast<int>(j));
    }
  }
  if (absl::Status s = move_rows(model, **pool, *out.cache, chunks, m, per_head); !s.ok()) return s;
  out.rows_moved = static_cast<int64_t>(m.src_slots.size());
  return out;
}

}  // namespace dllm

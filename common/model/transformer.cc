// Transformer forward: embeddings → L × (RMSNorm, attention with RoPE, RMSNorm, SwiGLU) → LM head.
#include "common/model/transformer.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/sparse/focus_attention.h"

namespace dllm {
namespace {

using kernels::Backend;
using kernels::WeightView;

// A sequence's K/V: pages of the model's pool, and the page table in backend memory. The first
// `shared_pages` pages may belong to other caches too (Prefilling-dLLM's chunk K/V); their slots
// are read-only here.
class PagedKvCache final : public KvCache {
 public:
  PagedKvCache(KvPool* pool, Backend* backend, std::vector<int32_t> pages, int shared_pages = 0)
      : pool_(pool), pages_(std::move(pages)), table_(backend, pages_.size()),
        shared_pages_(shared_pages) {
    backend->copy_from_host(table_.data(), pages_.data(), pages_.size() * sizeof(int32_t));
  }
  ~PagedKvCache() override { pool_->release(pages_); }
  int capacity() const override { return static_cast<int>(pages_.size()) * pool_->page_size(); }
  int first_writable_slot() const { return shared_pages_ * pool_->page_size(); }
  kernels::KvView layer(int l) const { return pool_->layer_view(l, table_.data()); }
  std::span<const int32_t> pages() const { return pages_; }
  const KvPool* pool() const { return pool_; }

 private:
  KvPool* pool_;
  std::vector<int32_t> pages_;
  DeviceBuffer<int32_t> table_;
  int shared_pages_;
};

int min_slot(const SequenceForward& s) {
  const auto& slots = s.slots.empty() ? s.positions : s.slots;
  return slots.empty() ? 0 : *std::min_element(slots.begin(), slots.end());
}

int max_slot(const SequenceForward& s) {
  const auto& slots = s.slots.empty() ? s.positions : s.slots;
  return slots.empty() ? -1 : *std::max_element(slots.begin(), slots.end());
}

}  // namespace

absl::StatusOr<std::unique_ptr<Transformer>> Transformer::create(
    const ModelConfig& config, const ModelWeights& host, Backend* backend,
    const TransformerOptions& options) {
  std::unique_ptr<Transformer> t(new Transformer(config, backend));
  t->options_ = options;
  if (options.kv_dtype_from_weights)
    t->options_.kv_pool.dtype = host.embedding.dtype == kernels::DType::kF32 ? kernels::DType::kF32
                                                                            : kernels::DType::kBF16;
  auto up = [&](const WeightView& w) {
    return w.empty() || options.weights_on_device ? w : backend->upload_weight(w);
  };
  t->weights_.embedding = up(host.embedding);
  t->weights_.final_norm = up(host.final_norm);
  t->weights_.lm_head = up(host.lm_head);
  for (const LayerWeights& l : host.layers) {
    LayerWeights d;
    d.attn_norm = up(l.attn_norm);
    d.q_proj = up(l.q_proj), d.k_proj = up(l.k_proj), d.v_proj = up(l.v_proj);
    d.q_bias = up(l.q_bias), d.k_bias = up(l.k_bias), d.v_bias = up(l.v_bias);
    d.o_proj = up(l.o_proj);
    d.ffn_norm = up(l.ffn_norm);
    d.gate_proj = up(l.gate_proj), d.up_proj = up(l.up_proj), d.down_proj = up(l.down_proj);
    t->weights_.layers.push_back(d);
  }
  if (static_cast<int>(t->weights_.layers.size()) != config.num_layers)
    return absl::InvalidArgumentError("weights have a different layer count than the config");
  // inv_freq rounded to float32 as the reference computes it.
  const std::vector<double> inv = config.rope_inv_freq();
  std::vector<float> inv_f(inv.begin(), inv.end());
  t->inv_freq_ = DeviceBuffer<float>(backend, inv_f.size());
  backend->copy_from_host(t->inv_freq_.data(), inv_f.data(), inv_f.size() * sizeof(float));
  return t;
}

absl::StatusOr<KvPool*> Transformer::kv_pool() {
  if (pool_ == nullptr) {
    auto pool = KvPool::create(backend_, config_.num_layers, config_.num_kv_heads,
                               config_.head_dim, options_.kv_pool);
    if (!pool.ok()) return pool.status();
    pool_ = std::move(*pool);
  }
  return pool_.get();
}

absl::StatusOr<std::unique_ptr<KvCache>> Transformer::new_kv_cache(int capacity) {
  absl::StatusOr<KvPool*> pool = kv_pool();
  if (!pool.ok()) return pool.status();
  const int page = (*pool)->page_size();
  absl::StatusOr<std::vector<int32_t>> pages = (*pool)->allocate((capacity + page - 1) / page);
  if (!pages.ok()) return pages.status();
  return std::unique_ptr<KvCache>(new PagedKvCache(*pool, backend_, std::move(*pages)));
}

absl::StatusOr<std::unique_ptr<KvCache>> Transformer::new_kv_cache_with_pages(
    std::span<const int32_t> shared_pages, int capacity) {
  absl::StatusOr<KvPool*> pool = kv_pool();
  if (!pool.ok()) return pool.status();
  const int page = (*pool)->page_size();
  const int total = std::max<int>((capacity + page - 1) / page, static_cast<int>(shared_pages.size()));
  const int64_t pool_pages = (*pool)->stats().total_pages;
  for (int32_t p : shared_pages)
    if (p < 0 || p >= pool_pages || (*pool)->ref_count(p) <= 0)
      return absl::InvalidArgumentError(absl::StrFormat("shared page %d is not a live page", p));
  absl::StatusOr<std::vector<int32_t>> fresh =
      (*pool)->allocate(total - static_cast<int>(shared_pages.size()));
  if (!fresh.ok()) return fresh.status();
  (*pool)->retain(shared_pages);
  std::vector<int32_t> pages(shared_pages.begin(), shared_pages.end());
  pages.insert(pages.end(), fresh->begin(), fresh->end());
  return std::unique_ptr<KvCache>(new PagedKvCache(*pool, backend_, std::move(pages),
                                                   static_cast<int>(shared_pages.size())));
}

std::span<const int32_t> Transformer::kv_cache_pages(const KvCache& cache) const {
  return static_cast<const PagedKvCache&>(cache).pages();
}

kernels::KvView Transformer::kv_cache_layer(const KvCache& cache, int layer) const {
  return static_cast<const PagedKvCache&>(cache).layer(layer);
}

absl::Status Transformer::validate(std::span<const SequenceForward> batch) const {
  for (size_t b = 0; b < batch.size(); ++b) {
    const SequenceForward& s = batch[b];
    if (s.ids.empty()) return absl::InvalidArgumentError(absl::StrFormat("sequence %d: no rows", b));
    if (s.positions.size() != s.ids.size() || (!s.slots.empty() && s.slots.size() != s.ids.size()))
      return absl::InvalidArgumentError(
          absl::StrFormat("sequence %d: ids, positions and slots differ in length", b));
    for (int32_t id : s.ids)
      if (id < 0 || id >= config_.embedding_rows)
        return absl::InvalidArgumentError(absl::StrFormat(
            "sequence %d: token id %d out of range [0, %d)", b, id, config_.embedding_rows));
    const auto& slots = s.slots.empty() ? s.positions : s.slots;
    for (int32_t p : slots)
      if (p < 0) return absl::InvalidArgumentError(absl::StrFormat("sequence %d: negative slot", b));
    const int keys = s.cache != nullptr ? s.attend_len : max_slot(s) + 1;
    if (s.cache != nullptr && (s.attend_len <= 0 || s.attend_len > s.cache->capacity() ||
                               max_slot(s) >= s.cache->capacity()))
      return absl::InvalidArgumentError(
          absl::StrFormat("sequence %d: attend_len %d / slot %d outside cache capacity %d", b,
                          s.attend_len, max_slot(s), s.cache->capacity()));
    if (s.cache != nullptr &&
        min_slot(s) < static_cast<const PagedKvCache*>(s.cache)->first_writable_slot())
      return absl::InvalidArgumentError(absl::StrFormat(
          "sequence %d: row slot %d would overwrite shared (read-only) cache slots [0, %d)", b,
          min_slot(s), static_cast<const PagedKvCache*>(s.cache)->first_writable_slot()));
    if (s.sparse != nullptr && (s.cache == nullptr || s.causal))
      return absl::InvalidArgumentError(
          absl::StrFormat("sequence %d: a sparse attention plan needs a cache and no causal mask", b));
    if (!s.key_mask.empty() && static_cast<int>(s.key_mask.size()) < keys)
      return absl::InvalidArgumentError(
          absl::StrFormat("sequence %d: key_mask has %d entries, need %d", b, s.key_mask.size(), keys));
    for (int32_t r : s.logit_rows)
      if (r < 0 || r >= static_cast<int>(s.ids.size()))
        return absl::InvalidArgumentError(absl::StrFormat("sequence %d: logit row %d out of range", b, r));
  }
  return absl::OkStatus();
}

absl::Status Transformer::forward(std::span<const SequenceForward> batch,
                                  std::vector<std::vector<float>>* logits) {
  return run_guarded(batch, ForwardOutputs{.logits = logits});
}

absl::Status Transformer::forward_greedy(std::span<const SequenceForward> batch,
                                         kernels::ConfidenceKind kind,
                                         std::vector<std::vector<GreedyChoice>>* choices) {
  return run_guarded(batch, ForwardOutputs{.greedy = choices, .greedy_kind = kind});
}

absl::Status Transformer::forward_capturing_queries(std::span<const SequenceForward> batch,
                                                    std::span<QueryCapture> captures,
                                                    std::vector<std::vector<float>>* logits) {
  for (const QueryCapture& c : captures) {
    if (c.sequence < 0 || c.sequence >= static_cast<int>(batch.size()))
      return absl::InvalidArgumentError(absl::StrFormat("query capture of sequence %d", c.sequence));
    for (int32_t r : c.rows)
      if (r < 0 || r >= static_cast<int>(batch[c.sequence].ids.size()))
        return absl::InvalidArgumentError(absl::StrFormat("query capture row %d out of range", r));
  }
  return run_guarded(batch, ForwardOutputs{.logits = logits, .captures = captures});
}

absl::Status Transformer::forward_log_probs(std::span<const SequenceForward> batch,
                                            std::span<const std::vector<int32_t>> tokens,
                                            std::vector<std::vector<double>>* log_probs) {
  if (tokens.size() != batch.size())
    return absl::InvalidArgumentError("forward_log_probs: one token list per sequence");
  for (size_t b = 0; b < batch.size(); ++b) {
    const size_t rows =
        batch[b].logit_rows.empty() ? batch[b].ids.size() : batch[b].logit_rows.size();
    if (tokens[b].size() != rows)
      return absl::InvalidArgumentError(
          absl::StrFormat("forward_log_probs: sequence %d has %d logit rows, %d tokens", b, rows,
                          tokens[b].size()));
    for (int32_t t : tokens[b])
      if (t < 0 || t >= config_.embedding_rows)
        return absl::InvalidArgumentError(absl::StrFormat("forward_log_probs: token %d", t));
  }
  return run_guarded(batch, ForwardOutputs{.log_prob_tokens = tokens, .log_probs = log_probs});
}

// Device backends report out-of-memory and device faults by throwing; here they become
// Status values so that a serving process refuses the request and keeps running.
absl::Status Transformer::run_guarded(std::span<const SequenceForward> batch,
                                      const ForwardOutputs& out) {
  try {
    return run(batch, out);
  } catch (const std::bad_alloc& e) {
    return absl::ResourceExhaustedError(absl::StrCat("out of ", std::string(backend_->name()), " memory: ", e.what()));
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat(std::string(backend_->name()), " backend error: ", e.what()));
  }
}

absl::Status Transformer::forward_with_hidden_states(
    std::span<const int32_t> ids, std::vector<float>* logits,
    std::vector<std::vector<float>>* hidden_states) {
  std::vector<int32_t> pos(ids.size());
  std::iota(pos.begin(), pos.end(), 0);
  SequenceForward s;
  s.ids = ids;
  s.positions = pos;
  std::vector<std::vector<float>> out;
  absl::Status st = run_guarded(std::span<const SequenceForward>(&s, 1),
                                ForwardOutputs{.logits = &out, .hidden_states = hidden_states});
  if (st.ok()) *logits = std::move(out[0]);
  return st;
}

absl::Status Transformer::run(std::span<const SequenceForward> batch, const ForwardOutputs& out) {
  std::vector<std::vector<float>>* hidden_states = out.hidden_states;
  std::span<QueryCapture> captures = out.captures;
  if (absl::Status st = validate(batch); !st.ok()) return st;
  const ModelConfig& c = config_;
  const int d = c.hidden_size, hd = c.head_dim, H = c.num_heads, KV = c.num_kv_heads;
  const int64_t q_dim = static_cast<int64_t>(H) * hd, kv_dim = static_cast<int64_t>(KV) * hd;

  // Flatten the batch: rows of all sequences back to back.
  std::vector<int32_t> ids, positions, slots, logit_index;
  std::vector<int> row_offset, logit_offset;
  for (const SequenceForward& s : batch) {
    row_offset.push_back(static_cast<int>(ids.size()));
    logit_offset.push_back(static_cast<int>(logit_index.size()));
    const auto& sl = s.slots.empty() ? s.positions : s.slots;
    if (s.logit_rows.empty()) {
      for (size_t r = 0; r < s.ids.size(); ++r) logit_index.push_back(static_cast<int32_t>(ids.size() + r));
    } else {
      for (int32_t r : s.logit_rows) logit_index.push_back(static_cast<int32_t>(ids.size()) + r);
    }
    ids.insert(ids.end(), s.ids.begin(), s.ids.end());
    positions.insert(positions.end(), s.positions.begin(), s.positions.end());
    slots.insert(slots.end(), sl.begin(), sl.end());
  }
  row_offset.push_back(static_cast<int>(ids.size()));
  logit_offset.push_back(static_cast<int>(logit_index.size()));
  const int n = static_cast<int>(ids.size());
  const int n_logits = static_cast<int>(logit_index.size());

  Backend* be = backend_;
  h_.ensure(be, static_cast<size_t>(n) * d);
  xn_.ensure(be, static_cast<size_t>(n) * d);
  q_.ensure(be, n * q_dim);
  k_.ensure(be, n * kv_dim);
  v_.ensure(be, n * kv_dim);
  attn_.ensure(be, n * q_dim);
  gate_.ensure(be, static_cast<size_t>(n) * c.intermediate_size);
  up_.ensure(be, static_cast<size_t>(n) * c.intermediate_size);
  ids_.ensure(be, n);
  positions_.ensure(be, n);
  slots_.ensure(be, n);
  logit_index_.ensure(be, std::max(1, n_logits));
  be->copy_from_host(ids_.data(), ids.data(), n * sizeof(int32_t));
  be->copy_from_host(positions_.data(), positions.data(), n * sizeof(int32_t));
  be->copy_from_host(slots_.data(), slots.data(), n * sizeof(int32_t));
  if (n_logits > 0)
    be->copy_from_host(logit_index_.data(), logit_index.data(), n_logits * sizeof(int32_t));
  // Rows whose post-RoPE queries are captured at every layer (flattened indices).
  std::vector<int32_t> capture_index;
  for (QueryCapture& cap : captures) {
    for (int32_t r : cap.rows) capture_index.push_back(row_offset[cap.sequence] + r);
    cap.q.assign(static_cast<size_t>(c.num_layers) * cap.rows.size() * q_dim, 0.0f);
  }
  const int n_capture = static_cast<int>(capture_index.size());
  const size_t capture_per_layer = static_cast<size_t>(n_capture) * q_dim;
  if (n_capture > 0) {
    capture_index_.ensure(be, n_capture);
    captured_q_.ensure(be, c.num_layers * capture_per_layer);
    be->copy_from_host(capture_index_.data(), capture_index.data(), n_capture * sizeof(int32_t));
  }

  // Sequences without a cache attend through a scratch cache sized to their slots.
  std::vector<std::unique_ptr<KvCache>> scratch(batch.size());
  std::vector<PagedKvCache*> caches(batch.size());
  std::vector<int> num_keys(batch.size());
  std::vector<DeviceBuffer<uint8_t>> masks(batch.size());
  for (size_t b = 0; b < batch.size(); ++b) {
    const SequenceForward& s = batch[b];
    if (s.cache != nullptr) {
      caches[b] = static_cast<PagedKvCache*>(s.cache);
      num_keys[b] = s.attend_len;
    } else {
      num_keys[b] = max_slot(s) + 1;
      absl::StatusOr<std::unique_ptr<KvCache>> cache = new_kv_cache(num_keys[b]);
      if (!cache.ok()) return cache.status();
      scratch[b] = std::move(*cache);
      caches[b] = static_cast<PagedKvCache*>(scratch[b].get());
    }
    // Keys that no row covers in a scratch cache are masked out, as are padding keys.
    std::vector<uint8_t> mask(num_keys[b], 1);
    bool need_mask = !s.key_mask.empty();
    if (!s.key_mask.empty()) std::copy_n(s.key_mask.begin(), num_keys[b], mask.begin());
    if (s.cache == nullptr) {
      std::vector<uint8_t> covered(num_keys[b], 0);
      for (int r = row_offset[b]; r < row_offset[b + 1]; ++r) covered[slots[r]] = 1;
      for (int j = 0; j < num_keys[b]; ++j) {
        need_mask |= covered[j] == 0;
        mask[j] &= covered[j];
      }
    }
    if (need_mask) {
      masks[b] = DeviceBuffer<uint8_t>(be, num_keys[b]);
      be->copy_from_host(masks[b].data(), mask.data(), num_keys[b]);
    }
  }

  auto capture = [&](const float* x) {
    if (hidden_states == nullptr) return;
    std::vector<float> host(static_cast<size_t>(n) * d);
    be->copy_to_host(host.data(), x, host.size() * sizeof(float));
    hidden_states->push_back(std::move(host));
  };

  be->embedding(ids_.data(), n, weights_.embedding, h_.data());
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  for (int l = 0; l < c.num_layers; ++l) {
    capture(h_.data());
    const LayerWeights& w = weights_.layers[l];
    be->rms_norm(h_.data(), n, d, w.attn_norm, static_cast<float>(c.rms_norm_eps), xn_.data());
    be->linear(xn_.data(), n, w.q_proj, w.q_bias.empty() ? nullptr : &w.q_bias, q_.data());
    be->linear(xn_.data(), n, w.k_proj, w.k_bias.empty() ? nullptr : &w.k_bias, k_.data());
    be->linear(xn_.data(), n, w.v_proj, w.v_bias.empty() ? nullptr : &w.v_bias, v_.data());
    be->rope(q_.data(), n, H, hd, positions_.data(), inv_freq_.data());
    be->rope(k_.data(), n, KV, hd, positions_.data(), inv_freq_.data());
    if (n_capture > 0)
      be->gather_rows(q_.data(), static_cast<int>(q_dim), capture_index_.data(), n_capture,
                      captured_q_.data() + l * capture_per_layer);
    for (size_t b = 0; b < batch.size(); ++b) {
      const int r0 = row_offset[b], rows = row_offset[b + 1] - r0;
      const kernels::KvView kv = caches[b]->layer(l);
      be->write_kv(k_.data() + r0 * kv_dim, v_.data() + r0 * kv_dim, rows, static_cast<int>(kv_dim),
                   slots_.data() + r0, kv);
      kernels::AttentionParams p;
      p.q = q_.data() + r0 * q_dim;
      p.kv = kv;
      p.out = attn_.data() + r0 * q_dim;
      p.num_q = rows;
      p.num_keys = num_keys[b];
      p.num_heads = H;
      p.num_kv_heads = KV;
      p.head_dim = hd;
      p.scale = scale;
      p.key_mask = masks[b].data();
      p.causal = batch[b].causal;
      p.q_positions = slots_.data() + r0;
      if (batch[b].sparse != nullptr) {
        absl::Status st = focus_layer_attention(*batch[b].sparse, l, c.num_layers, p, be);
        if (!st.ok()) return st;
      } else {
        be->attention(p);
      }
    }
    be->linear(attn_.data(), n, w.o_proj, nullptr, xn_.data());
    be->add_inplace(h_.data(), xn_.data(), static_cast<int64_t>(n) * d);
    be->rms_norm(h_.data(), n, d, w.ffn_norm, static_cast<float>(c.rms_norm_eps), xn_.data());
    be->linear(xn_.data(), n, w.gate_proj, nullptr, gate_.data());
    be->linear(xn_.data(), n, w.up_proj, nullptr, up_.data());
    be->silu_mul(gate_.data(), up_.data(), gate_.data(), static_cast<int64_t>(n) * c.intermediate_size);
    be->linear(gate_.data(), n, w.down_proj, nullptr, xn_.data());
    be->add_inplace(h_.data(), xn_.data(), static_cast<int64_t>(n) * d);
  }

  if (n_capture > 0) {  // one copy for every layer, split per capture on the host
    std::vector<float> host(c.num_layers * capture_per_layer);
    be->copy_to_host(host.data(), captured_q_.data(), host.size() * sizeof(float));
    for (int l = 0; l < c.num_layers; ++l) {
      size_t offset = l * capture_per_layer;
      for (QueryCapture& cap : captures) {
        const size_t count = cap.rows.size() * q_dim;
        std::copy_n(host.begin() + offset, count, cap.q.begin() + l * count);
        offset += count;
      }
    }
  }

  // LM head only on the rows that need logits.
  if (out.logits != nullptr) out.logits->assign(batch.size(), {});
  if (out.greedy != nullptr) out.greedy->assign(batch.size(), {});
  if (out.log_probs != nullptr) out.log_probs->assign(batch.size(), {});
  if (hidden_states != nullptr) {
    be->rms_norm(h_.data(), n, d, weights_.final_norm, static_cast<float>(c.rms_norm_eps), xn_.data());
    capture(xn_.data());
  }
  if (n_logits == 0) return absl::OkStatus();
  const int vocab = c.embedding_rows;
  logits_rows_.ensure(be, static_cast<size_t>(n_logits) * d);
  logits_.ensure(be, static_cast<size_t>(n_logits) * vocab);
  be->gather_rows(h_.data(), d, logit_index_.data(), n_logits, logits_rows_.data());
  be->rms_norm(logits_rows_.data(), n_logits, d, weights_.final_norm,
               static_cast<float>(c.rms_norm_eps), logits_rows_.data());
  be->linear(logits_rows_.data(), n_logits, weights_.lm_head, nullptr, logits_.data());
  if (out.greedy != nullptr) {
    // Reduced where the logits are: 12 bytes a row cross to the host.
    greedy_ids_.ensure(be, n_logits);
    greedy_conf_.ensure(be, n_logits);
    be->greedy_confidence(logits_.data(), n_logits, vocab, out.greedy_kind, greedy_ids_.data(),
                          greedy_conf_.data());
    std::vector<int32_t> ids_host(n_logits);
    std::vector<double> conf_host(n_logits);
    be->copy_to_host(ids_host.data(), greedy_ids_.data(), n_logits * sizeof(int32_t));
    be->copy_to_host(conf_host.data(), greedy_conf_.data(), n_logits * sizeof(double));
    for (size_t b = 0; b < batch.size(); ++b)
      for (int r = logit_offset[b]; r < logit_offset[b + 1]; ++r)
        (*out.greedy)[b].push_back({ids_host[r], conf_host[r]});
  }
  if (out.log_probs != nullptr) {
    std::vector<int32_t> tokens;
    for (const std::vector<int32_t>& t : out.log_prob_tokens)
      tokens.insert(tokens.end(), t.begin(), t.end());
    log_prob_tokens_.ensure(be, n_logits);
    log_probs_.ensure(be, n_logits);
    be->copy_from_host(log_prob_tokens_.data(), tokens.data(), n_logits * sizeof(int32_t));
    be->target_log_probs({.logits = logits_.data(),
                          .num_rows = n_logits,
                          .vocab = vocab,
                          .tokens = log_prob_tokens_.data(),
                          .out = log_probs_.data()});
    std::vector<double> host(n_logits);
    be->copy_to_host(host.data(), log_probs_.data(), n_logits * sizeof(double));
    for (size_t b = 0; b < batch.size(); ++b)
      (*out.log_probs)[b].assign(host.begin() + logit_offset[b],
                                 host.begin() + logit_offset[b + 1]);
  }
  if (out.logits != nullptr) {
    std::vector<float> host(static_cast<size_t>(n_logits) * vocab);
    be->copy_to_host(host.data(), logits_.data(), host.size() * sizeof(float));
    for (size_t b = 0; b < batch.size(); ++b)
      (*out.logits)[b].assign(host.begin() + static_cast<int64_t>(logit_offset[b]) * vocab,
                              host.begin() + static_cast<int64_t>(logit_offset[b + 1]) * vocab);
  }
  be->synchronize();
  return absl::OkStatus();
}

}  // namespace dllm

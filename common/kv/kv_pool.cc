// KvPool implementation: a free list of page ids and per-page reference counts.
#include "common/kv/kv_pool.h"

#include <algorithm>

#include "absl/strings/str_format.h"

namespace dllm {

absl::StatusOr<std::unique_ptr<KvPool>> KvPool::create(kernels::Backend* backend, int layers,
                                                       int kv_heads, int head_dim,
                                                       const KvPoolOptions& options) {
  if (options.page_size <= 0) return absl::InvalidArgumentError("kv pool: page_size must be > 0");
  if (options.dtype == kernels::DType::kF16)
    return absl::InvalidArgumentError("kv pool: dtype must be f32 or bf16");
  std::unique_ptr<KvPool> pool(new KvPool());
  pool->options_ = options;
  pool->row_elems_ = static_cast<int64_t>(kv_heads) * head_dim;
  const int64_t page_bytes = 2LL * layers * options.page_size * pool->row_elems_ *
                             static_cast<int64_t>(kernels::dtype_size(options.dtype));
  size_t budget = options.max_bytes;
  if (budget == 0) {
    const size_t free = backend->free_memory_bytes();
    budget = backend->name() == "cpu" ? std::min<size_t>(free / 2, size_t{4} << 30) : free / 10 * 8;
  }
  const int64_t pages = static_cast<int64_t>(budget) / page_bytes;
  if (pages < 1)
    return absl::ResourceExhaustedError(absl::StrFormat(
        "kv pool: %d bytes cannot hold one page of %d bytes", budget, page_bytes));
  const size_t layer_bytes = static_cast<size_t>(pages) * options.page_size * pool->row_elems_ *
                             kernels::dtype_size(options.dtype);
  for (int l = 0; l < layers; ++l) {
    pool->k_.emplace_back(backend, layer_bytes);
    pool->v_.emplace_back(backend, layer_bytes);
    if (pool->k_.back().data() == nullptr || pool->v_.back().data() == nullptr)
      return absl::ResourceExhaustedError(
          absl::StrFormat("kv pool: cannot allocate %d bytes per layer", layer_bytes));
  }
  pool->ref_counts_.assign(pages, 0);
  pool->free_list_.resize(pages);
  // Lowest ids first, so that a fresh pool hands out contiguous pages.
  for (int64_t i = 0; i < pages; ++i) pool->free_list_[i] = static_cast<int32_t>(pages - 1 - i);
  return pool;
}

absl::StatusOr<std::vector<int32_t>> KvPool::allocate(int n) {
  std::lock_guard<std::mutex> lock(mu_);
  if (n < 0 || static_cast<size_t>(n) > free_list_.size()) {
    ++refused_;
    return absl::ResourceExhaustedError(absl::StrFormat(
        "kv pool exhausted: %d pages of %d slots requested, %d of %d free", n, options_.page_size,
        free_list_.size(), ref_counts_.size()));
  }
  std::vector<int32_t> pages(free_list_.end() - n, free_list_.end());
  std::reverse(pages.begin(), pages.end());
  free_list_.resize(free_list_.size() - n);
  for (int32_t p : pages) ref_counts_[p] = 1;
  return pages;
}

void KvPool::retain(std::span<const int32_t> pages) {
  std::lock_guard<std::mutex> lock(mu_);
  for (int32_t p : pages) ++ref_counts_.at(p);
}

void KvPool::release(std::span<const int32_t> pages) {
  std::lock_guard<std::mutex> lock(mu_);
  for (int32_t p : pages) {
    if (ref_counts_.at(p) <= 0) continue;  // double release: ignore rather than corrupt the list
    if (--ref_counts_[p] == 0) free_list_.push_back(p);
  }
}

int KvPool::ref_count(int32_t page) const {
  std::lock_guard<std::mutex> lock(mu_);
  return ref_counts_.at(page);
}

KvPoolStats KvPool::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  KvPoolStats s;
  s.total_pages = static_cast<int64_t>(ref_counts_.size());
  s.used_pages = s.total_pages - static_cast<int64_t>(free_list_.size());
  s.page_bytes = 2LL * static_cast<int64_t>(k_.size()) * options_.page_size * row_elems_ *
                 static_cast<int64_t>(kernels::dtype_size(options_.dtype));
  s.allocations_refused = refused_;
  return s;
}

kernels::KvView KvPool::layer_view(int layer, const int32_t* page_table) const {
  kernels::KvView v;
  v.k = k_[layer].data();
  v.v = v_[layer].data();
  v.dtype = options_.dtype;
  v.page_table = page_table;
  v.page_size = options_.page_size;
  return v;
}

}  // namespace dllm

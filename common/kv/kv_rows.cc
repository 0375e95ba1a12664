#include "common/kv/kv_rows.h"

#include <span>
#include <utility>

#include "absl/strings/str_format.h"

namespace dllm {
namespace {

// Calls fn(element offset of the run's first slot, slots in the run, run's first slot) for each
// run of consecutive slots that sit in one page (contiguous in memory).
template <typename Fn>
void for_each_page_run(std::span<const int32_t> pages, int page_size, int begin, int end,
                       size_t row_elems, Fn fn) {
  for (int s = begin; s < end;) {
    const int in_page = s % page_size;
    const int n = std::min(end - s, page_size - in_page);
    const int64_t offset =
        (static_cast<int64_t>(pages[s / page_size]) * page_size + in_page) *
        static_cast<int64_t>(row_elems);
    fn(offset, n, s);
    s += n;
  }
}

absl::Status check_range(Transformer& model, const KvCache& cache, int begin, int end) {
  if (begin < 0 || end < begin || end > cache.capacity())
    return absl::InvalidArgumentError(absl::StrFormat(
        "K/V rows [%d, %d) outside a cache of %d slots", begin, end, cache.capacity()));
  return absl::OkStatus();
}

}  // namespace

KvRowsLayout kv_rows_layout(Transformer& model, int rows) {
  const ModelConfig& c = model.config();
  absl::StatusOr<KvPool*> pool = model.kv_pool();
  const size_t elem = pool.ok() ? kernels::dtype_size((*pool)->dtype()) : 4;
  return {.num_layers = c.num_layers,
          .rows = rows,
          .row_bytes = static_cast<size_t>(c.num_kv_heads) * c.head_dim * elem};
}

KvRowsBuffer::KvRowsBuffer(kernels::Backend* backend, KvRowsMemory memory, size_t bytes)
    : backend_(backend), memory_(memory), size_(bytes) {
  if (memory_ == KvRowsMemory::kHost)
    host_.resize(bytes);
  else
    device_ = static_cast<uint8_t*>(backend_->allocate_shareable(bytes));
}

KvRowsBuffer::~KvRowsBuffer() { reset(); }

KvRowsBuffer::KvRowsBuffer(KvRowsBuffer&& other) noexcept { *this = std::move(other); }

KvRowsBuffer& KvRowsBuffer::operator=(KvRowsBuffer&& other) noexcept {
  if (this == &other) return *this;
  reset();
  backend_ = std::exchange(other.backend_, nullptr);
  memory_ = std::exchange(other.memory_, KvRowsMemory::kHost);
  host_ = std::move(other.host_);
  device_ = std::exchange(other.device_, nullptr);
  size_ = std::exchange(other.size_, 0);
  return *this;
}

void KvRowsBuffer::reset() {
  if (device_ != nullptr) backend_->release_shareable(device_);
  device_ = nullptr;
  host_.clear();
  size_ = 0;
}

absl::StatusOr<KvRowsBuffer> export_kv_rows(Transformer& model, const KvCache& cache, int begin,
                                            int end, KvRowsMemory memory) {
  if (absl::Status s = check_range(model, cache, begin, end); !s.ok()) return s;
  absl::StatusOr<KvPool*> pool = model.kv_pool();
  if (!pool.ok()) return pool.status();
  const KvRowsLayout layout = kv_rows_layout(model, end - begin);
  const size_t elem = kernels::dtype_size((*pool)->dtype());
  const size_t row_elems = layout.row_bytes / elem;
  kernels::Backend* backend = model.backend();
  KvRowsBuffer out(backend, memory, layout.total_bytes());
  auto copy = [&](uint8_t* dst, const uint8_t* src, size_t bytes) {
    if (memory == KvRowsMemory::kHost)
      backend->copy_to_host(dst, src, bytes);
    else
      backend->copy_within(dst, src, bytes);
  };
  std::span<const int32_t> pages = model.kv_cache_pages(cache);
  for (int l = 0; l < layout.num_layers; ++l) {
    const kernels::KvView view = model.kv_cache_layer(cache, l);
    uint8_t* k_dst = out.data() + l * layout.layer_bytes();
    uint8_t* v_dst = k_dst + layout.layer_bytes() / 2;
    for_each_page_run(pages, view.page_size, begin, end, row_elems,
                      [&](int64_t offset, int n, int slot) {
                        const size_t at = static_cast<size_t>(slot - begin) * layout.row_bytes;
                        const size_t bytes = static_cast<size_t>(n) * layout.row_bytes;
                        copy(k_dst + at, static_cast<const uint8_t*>(view.k) + offset * elem,
                             bytes);
                        copy(v_dst + at, static_cast<const uint8_t*>(view.v) + offset * elem,
                             bytes);
                      });
  }
  backend->synchronize();  // the bytes are in place before anyone exposes them
  return out;
}

absl::Status import_kv_rows(Transformer& model, KvCache& cache, int begin, int end,
                            int first_layer, const uint8_t* data, size_t size,
                            KvRowsMemory memory) {
  if (absl::Status s = check_range(model, cache, begin, end); !s.ok()) return s;
  absl::StatusOr<KvPool*> pool = model.kv_pool();
  if (!pool.ok()) return pool.status();
  const KvRowsLayout layout = kv_rows_layout(model, end - begin);
  if (layout.layer_bytes() == 0 || size % layout.layer_bytes() != 0)
    return absl::InvalidArgumentError(absl::StrFormat(
        "K/V rows: %d bytes is not a whole number of %d-byte layers", size,
        layout.layer_bytes()));
  const int n_layers = static_cast<int>(size / layout.layer_bytes());
  if (first_layer < 0 || first_layer + n_layers > layout.num_layers)
    return absl::InvalidArgumentError(absl::StrFormat(
        "K/V rows: layers [%d, %d) outside the model's %d", first_layer, first_layer + n_layers,
        layout.num_layers));
  const size_t elem = kernels::dtype_size((*pool)->dtype());
  const size_t row_elems = layout.row_bytes / elem;
  kernels::Backend* backend = model.backend();
  auto copy = [&](uint8_t* dst, const uint8_t* src, size_t bytes) {
    if (memory == KvRowsMemory::kHost)
      backend->copy_from_host(dst, src, bytes);
    else
      backend->copy_within(dst, src, bytes);
  };
  std::span<const int32_t> pages = model.kv_cache_pages(cache);
  for (int i = 0; i < n_layers; ++i) {
    const kernels::KvView view = model.kv_cache_layer(cache, first_layer + i);
    const uint8_t* k_src = data + i * layout.layer_bytes();
    const uint8_t* v_src = k_src + layout.layer_bytes() / 2;
    for_each_page_run(pages, view.page_size, begin, end, row_elems,
                      [&](int64_t offset, int n, int slot) {
                        const size_t at = static_cast<size_t>(slot - begin) * layout.row_bytes;
                        const size_t len = static_cast<size_t>(n) * layout.row_bytes;
                        copy(static_cast<uint8_t*>(view.k) + offset * elem, k_src + at, len);
                        copy(static_cast<uint8_t*>(view.v) + offset * elem, v_src + at, len);
                      });
  }
  return absl::OkStatus();
}

}  // namespace dllm

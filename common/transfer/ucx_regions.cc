#include "common/transfer/ucx_regions.h"

#include <atomic>

#include "absl/strings/str_cat.h"
#include "common/transfer/ucx_status.h"

namespace dllm::transfer {
namespace {

absl::StatusOr<ucp_mem_h> map_memory(ucp_context_h context, const void* data, size_t bytes) {
  ucp_mem_map_params_t params{};
  params.field_mask = UCP_MEM_MAP_PARAM_FIELD_ADDRESS | UCP_MEM_MAP_PARAM_FIELD_LENGTH;
  params.address = const_cast<void*>(data);  // mapped for remote reads only
  params.length = bytes;
  ucp_mem_h memh = nullptr;
  if (ucs_status_t s = ucp_mem_map(context, &params, &memh); s != UCS_OK)
    return ucx_status(s, absl::StrCat("ucp_mem_map of ", bytes, " bytes"));
  return memh;
}

// The token word is written here and read by UCX (on this thread for emulated RMA, by a NIC
// otherwise): an atomic store keeps the write whole.
void publish(uint64_t* word, uint64_t value) {
  std::atomic_ref<uint64_t>(*word).store(value, std::memory_order_release);
}

}  // namespace

absl::StatusOr<std::string> pack_rkey(ucp_context_h context, ucp_mem_h memh) {
  void* buffer = nullptr;
  size_t size = 0;
  if (ucs_status_t s = ucp_rkey_pack(context, memh, &buffer, &size); s != UCS_OK)
    return ucx_status(s, "ucp_rkey_pack");
  std::string packed(static_cast<const char*>(buffer), size);
  ucp_rkey_buffer_release(buffer);
  return packed;
}

absl::StatusOr<std::unique_ptr<RegionTable>> RegionTable::create(ucp_context_h context,
                                                                 int max_regions) {
  if (max_regions <= 0)
    return absl::InvalidArgumentError(
        absl::StrCat("ucx_max_regions must be > 0, got ", max_regions));
  std::unique_ptr<RegionTable> t(new RegionTable());
  t->context_ = context;
  t->slots_ = static_cast<size_t>(max_regions);
  t->tokens_ = std::make_unique<uint64_t[]>(t->slots_);  // zeroed: no slot is live
  absl::StatusOr<ucp_mem_h> memh =
      map_memory(context, t->tokens_.get(), t->slots_ * sizeof(uint64_t));
  if (!memh.ok()) return memh.status();
  t->table_memh_ = *memh;
  absl::StatusOr<std::string> rkey = pack_rkey(context, t->table_memh_);
  if (!rkey.ok()) return rkey.status();
  t->table_rkey_ = std::move(*rkey);
  t->regions_.resize(t->slots_);
  t->free_slots_.reserve(t->slots_);
  for (size_t i = t->slots_; i > 0; --i) t->free_slots_.push_back(static_cast<uint32_t>(i - 1));
  return t;
}

RegionTable::~RegionTable() {
  for (std::unique_ptr<ExposedRegion>& r : regions_) {
    if (r != nullptr && r->memh != nullptr) ucp_mem_unmap(context_, r->memh);
  }
  if (table_memh_ != nullptr) ucp_mem_unmap(context_, table_memh_);
}

absl::StatusOr<ExposedRegion*> RegionTable::add(const void* data, size_t bytes) {
  if (free_slots_.empty())
    return absl::ResourceExhaustedError(absl::StrCat(
        "ucx transport: all ", slots_, " region slots are exposed (raise ucx_max_regions)"));
  absl::StatusOr<ucp_mem_h> memh = map_memory(context_, data, bytes);
  if (!memh.ok()) return memh.status();
  absl::StatusOr<std::string> rkey = pack_rkey(context_, *memh);
  if (!rkey.ok()) {
    ucp_mem_unmap(context_, *memh);
    return rkey.status();
  }
  auto r = std::make_unique<ExposedRegion>();
  r->base = static_cast<const uint8_t*>(data);
  r->size = bytes;
  r->slot = free_slots_.back();
  r->token = next_token_++;
  r->memh = *memh;
  r->rkey = std::move(*rkey);
  free_slots_.pop_back();
  publish(&tokens_[r->slot], r->token);
  ExposedRegion* added = r.get();
  regions_[added->slot] = std::move(r);
  return added;
}

ExposedRegion* RegionTable::find(uint32_t slot, uint64_t token) {
  if (slot >= slots_) return nullptr;
  ExposedRegion* r = regions_[slot].get();
  if (r == nullptr || r->token != token || r->retiring) return nullptr;
  return r;
}

void RegionTable::retire(ExposedRegion* region) {
  region->retiring = true;
  retiring_.insert(region);
  publish(&tokens_[region->slot], 0);
}

void RegionTable::remove(ExposedRegion* region) {
  const uint32_t slot = region->slot;
  retiring_.erase(region);
  publish(&tokens_[slot], 0);
  ucp_mem_unmap(context_, region->memh);
  regions_[slot].reset();
  free_slots_.push_back(slot);
}

std::vector<ExposedRegion*> RegionTable::retiring_regions() const {
  return std::vector<ExposedRegion*>(retiring_.begin(), retiring_.end());
}

uint64_t RegionTable::token_address(uint32_t slot) const {
  return reinterpret_cast<uint64_t>(&tokens_[slot]);
}

}  // namespace dllm::transfer

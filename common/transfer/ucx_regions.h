// RegionTable: the exposing side's book of regions. Each region gets a slot and a fresh token; a
// slot's token is also published in a small ucp_mem_map'd table so that RMA pullers can check,
// with one 8-byte get before and after their data, that the region was exposed throughout.
// Progress thread only.
#pragma once

#include <ucp/api/ucp.h>

#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/transfer/ucx_worker.h"

namespace dllm::transfer {

struct ExposedRegion {
  const uint8_t* base = nullptr;
  size_t size = 0;
  uint32_t slot = 0;
  uint64_t token = 0;  // never 0 while exposed; never reused
  ucp_mem_h memh = nullptr;
  std::string rkey;  // packed, for RMA pullers

  // Active-message replies still reading this region, per endpoint they go out on.
  int replies_in_flight = 0;
  std::map<ucp_ep_h, int> reply_eps;
  // Set once unexposing has begun: new requests are refused; `on_drained` runs when the last
  // reply is done; after `grace_deadline` the endpoints of late replies are cut.
  bool retiring = false;
  SteadyTime grace_deadline = SteadyTime::max();
  std::function<void()> on_drained;
};

class RegionTable {
 public:
  static absl::StatusOr<std::unique_ptr<RegionTable>> create(ucp_context_h context,
                                                             int max_regions);
  ~RegionTable();

  absl::StatusOr<ExposedRegion*> add(const void* data, size_t bytes);
  // Null unless `slot` holds a region with this token that is not retiring.
  ExposedRegion* find(uint32_t slot, uint64_t token);
  // Stops serving the region: its published token becomes 0 (RMA pullers see it gone).
  void retire(ExposedRegion* region);
  // Unmaps and frees the slot; `region` is invalid afterwards.
  void remove(ExposedRegion* region);
  std::vector<ExposedRegion*> retiring_regions() const;

  // For RMA pullers: where slot `slot`'s token lives and the table's packed rkey.
  uint64_t token_address(uint32_t slot) const;
  const std::string& table_rkey() const { return table_rkey_; }

 private:
  RegionTable() = default;
  ucp_context_h context_ = nullptr;
  std::unique_ptr<uint64_t[]> tokens_;  // published (read remotely), one per slot
  size_t slots_ = 0;
  ucp_mem_h table_memh_ = nullptr;
  std::string table_rkey_;
  std::vector<std::unique_ptr<ExposedRegion>> regions_;  // by slot
  std::vector<uint32_t> free_slots_;
  std::set<ExposedRegion*> retiring_;  // unexposing, waiting for replies to finish
  uint64_t next_token_ = 1;
};

// Packs `memh`'s rkey into a string.
absl::StatusOr<std::string> pack_rkey(ucp_context_h context, ucp_mem_h memh);

}  // namespace dllm::transfer

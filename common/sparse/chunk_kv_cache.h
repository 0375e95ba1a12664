// ChunkKvCache: prefix + chunk K/V encoded once (causal, during chunk scoring), kept in the paged
// K/V pool by content and reused by later requests that share the chunk; LRU under a page budget.
#pragma once

#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/kv/kv_pool.h"

namespace dllm {

// The K/V of `prefix ++ chunk` encoded with a causal mask at positions [0, slots()) (slot =
// position; the chunk starts at position prefix_len). Holds one reference on each page; the last
// holder (the cache, a request, a cache sharing the pages) frees them.
class ChunkKv {
 public:
  // Retains `pages` (of `pool`) for the lifetime of this object.
  ChunkKv(KvPool* pool, std::span<const int32_t> pages, std::vector<int32_t> prefix_ids,
          std::vector<int32_t> chunk_ids, bool has_bos);
  ~ChunkKv();
  ChunkKv(const ChunkKv&) = delete;
  ChunkKv& operator=(const ChunkKv&) = delete;

  KvPool* pool() const { return pool_; }
  std::span<const int32_t> pages() const { return pages_; }
  int prefix_len() const { return static_cast<int>(prefix_ids_.size()); }
  int chunk_len() const { return static_cast<int>(chunk_ids_.size()); }
  int slots() const { return prefix_len() + chunk_len(); }
  int start_position() const { return prefix_len(); }  // RoPE position of the chunk's first token
  bool has_bos() const { return has_bos_; }
  const std::vector<int32_t>& prefix_ids() const { return prefix_ids_; }
  const std::vector<int32_t>& chunk_ids() const { return chunk_ids_; }

  // Shifted-logit models (Dream): log-softmax of the last chunk row, which predicts the first
  // query token; kept so that a cache hit needs no chunk row. Empty for LLaDA.
  std::vector<float> last_row_log_probs;

 private:
  KvPool* pool_;
  std::vector<int32_t> pages_;
  std::vector<int32_t> prefix_ids_, chunk_ids_;
  bool has_bos_;
};

struct ChunkKvKey {
  std::string model_id;
  uint64_t prefix_hash = 0;
  uint64_t chunk_hash = 0;
  bool operator==(const ChunkKvKey& o) const {
    return prefix_hash == o.prefix_hash && chunk_hash == o.chunk_hash && model_id == o.model_id;
  }
};

struct ChunkKvCacheStats {
  int64_t hits = 0;
  int64_t misses = 0;
  int64_t insertions = 0;
  int64_t evictions = 0;
  int64_t entries = 0;
  int64_t pages = 0;  // held by the entries
};

// One number per (prefix, chunk) that router and prefill node both compute: the router places a
// request on the node already holding most of its chunks.
uint64_t chunk_affinity_key(uint64_t prefix_hash, uint64_t chunk_hash);

class ChunkKvCache {
 public:
  // max_pages: the budget of pages the entries may hold (an entry alone above it is not kept).
  explicit ChunkKvCache(int64_t max_pages) : max_pages_(max_pages) {}

  // The entry for (key, prefix, chunk) or null (a hash match whose tokens differ is a miss).
  // Counts a hit or a miss; a hit becomes the most recently used.
  std::shared_ptr<const ChunkKv> lookup(const ChunkKvKey& key, std::span<const int32_t> prefix_ids,
                                        std::span<const int32_t> chunk_ids);
  // Keeps `entry` (replacing one with the same key), then evicts least recently used entries
  // until the pages fit the budget. Evicted pages stay alive while someone else holds them.
  void insert(const ChunkKvKey& key, std::shared_ptr<const ChunkKv> entry);
  ChunkKvCacheStats stats() const;
  // The affinity keys (chunk_affinity_key) of up to `max` most recently used entries: what a
  // prefill node tells the router it holds.
  std::vector<uint64_t> affinity_keys(size_t max) const;
  void clear();

 private:
  struct KeyHash {
    size_t operator()(const ChunkKvKey& k) const;
  };
  struct Slot {
    ChunkKvKey key;
    std::shared_ptr<const ChunkKv> entry;
  };
  void evict_locked();

  const int64_t max_pages_;
  mutable std::mutex mu_;
  std::list<Slot> lru_;  // front = most recently used
  std::unordered_map<ChunkKvKey, std::list<Slot>::iterator, KeyHash> index_;
  ChunkKvCacheStats stats_;
};

}  // namespace dllm

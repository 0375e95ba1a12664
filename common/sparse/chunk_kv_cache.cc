// ChunkKv page ownership and the LRU chunk K/V cache.
#include "common/sparse/chunk_kv_cache.h"

#include <algorithm>
#include <functional>

namespace dllm {

ChunkKv::ChunkKv(KvPool* pool, std::span<const int32_t> pages, std::vector<int32_t> prefix_ids,
                 std::vector<int32_t> chunk_ids, bool has_bos)
    : pool_(pool),
      pages_(pages.begin(), pages.end()),
      prefix_ids_(std::move(prefix_ids)),
      chunk_ids_(std::move(chunk_ids)),
      has_bos_(has_bos) {
  pool_->retain(pages_);
}

ChunkKv::~ChunkKv() { pool_->release(pages_); }

size_t ChunkKvCache::KeyHash::operator()(const ChunkKvKey& k) const {
  return std::hash<std::string>()(k.model_id) ^ (k.prefix_hash * 0x9e3779b97f4a7c15ull) ^
         (k.chunk_hash + 0x632be59bd9b4e019ull);
}

std::shared_ptr<const ChunkKv> ChunkKvCache::lookup(const ChunkKvKey& key,
                                                    std::span<const int32_t> prefix_ids,
                                                    std::span<const int32_t> chunk_ids) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = index_.find(key);
  if (it == index_.end() || !std::ranges::equal(it->second->entry->prefix_ids(), prefix_ids) ||
      !std::ranges::equal(it->second->entry->chunk_ids(), chunk_ids)) {
    ++stats_.misses;
    return nullptr;
  }
  lru_.splice(lru_.begin(), lru_, it->second);
  ++stats_.hits;
  return it->second->entry;
}

void ChunkKvCache::insert(const ChunkKvKey& key, std::shared_ptr<const ChunkKv> entry) {
  std::lock_guard<std::mutex> lock(mu_);
  if (auto it = index_.find(key); it != index_.end()) {
    stats_.pages -= static_cast<int64_t>(it->second->entry->pages().size());
    lru_.erase(it->second);
    index_.erase(it);
  }
  stats_.pages += static_cast<int64_t>(entry->pages().size());
  lru_.push_front({key, std::move(entry)});
  index_[key] = lru_.begin();
  ++stats_.insertions;
  evict_locked();
}

void ChunkKvCache::evict_locked() {
  while (stats_.pages > max_pages_ && !lru_.empty()) {
    Slot& victim = lru_.back();
    stats_.pages -= static_cast<int64_t>(victim.entry->pages().size());
    index_.erase(victim.key);
    lru_.pop_back();
    ++stats_.evictions;
  }
}

ChunkKvCacheStats ChunkKvCache::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  ChunkKvCacheStats s = stats_;
  s.entries = static_cast<int64_t>(lru_.size());
  return s;
}

void ChunkKvCache::clear() {
  std::lock_guard<std::mutex> lock(mu_);
  lru_.clear();
  index_.clear();
  stats_.pages = 0;
}

uint64_t chunk_affinity_key(uint64_t prefix_hash, uint64_t chunk_hash) {
  // splitmix64 of the pair: a different prefix moves every chunk's key.
  uint64_t z = prefix_hash * 0x9E3779B97F4A7C15ULL ^ chunk_hash;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

std::vector<uint64_t> ChunkKvCache::affinity_keys(size_t max) const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<uint64_t> keys;
  for (auto it = lru_.begin(); it != lru_.end() && keys.size() < max; ++it)
    keys.push_back(chunk_affinity_key(it->key.prefix_hash, it->key.chunk_hash));
  return keys;
}

}  // namespace dllm

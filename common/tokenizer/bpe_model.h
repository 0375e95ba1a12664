// Byte-level BPE model: vocab and ranked merges applied to one pre-token's bytes.
#pragma once

#include <array>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace dllm::tokenizer_internal {

struct BpeOptions {
  // HF `ignore_merges` (LLaMA-3): a pre-token that is itself in the vocab becomes one id.
  bool ignore_merges = false;
  // Id for bytes missing from the vocab; without it such bytes are dropped, as HF does.
  std::optional<int32_t> unk_id;
};

class BpeModel {
 public:
  // `vocab` holds byte-level strings (as in tokenizer.json) and their ids; `merges` holds
  // byte-level pairs in rank order. Both sides of a merge and their concatenation must be
  // in the vocab.
  static absl::StatusOr<std::unique_ptr<BpeModel>> create(
      const std::vector<std::pair<std::string, int32_t>>& vocab,
      const std::vector<std::pair<std::string, std::string>>& merges, BpeOptions options);

  // Appends the ids of one pre-token given as raw bytes. Thread-safe.
  void encode_word(std::string_view bytes, std::vector<int32_t>& out) const;

  // Raw-byte string -> id, for vocab entries written in the byte-level alphabet.
  std::optional<int32_t> id_of_bytes(std::string_view bytes) const;

 private:
  BpeModel() = default;
  void merge_symbols(std::string_view bytes, std::vector<int32_t>& ids) const;

  struct Merge {
    uint32_t rank;
    int32_t merged_id;
  };
  static uint64_t pair_key(int32_t left, int32_t right) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) |
           static_cast<uint32_t>(right);
  }

  BpeOptions options_;
  std::array<int32_t, 256> byte_id_{};  // -1 where the byte has no token
  std::unordered_map<std::string, int32_t> bytes_to_id_;
  std::unordered_map<uint64_t, Merge> merges_;

  // Pre-tokens repeat heavily in real text (" the", " of"), so their ids are cached.
  // The cap keeps memory bounded on adversarial input; long words are not cached.
  static constexpr size_t kMaxCachedWords = 1 << 18;
  static constexpr size_t kMaxCachedWordBytes = 64;
  mutable std::mutex cache_mu_;
  mutable std::unordered_map<std::string, std::vector<int32_t>> cache_;
};

}  // namespace dllm::tokenizer_internal

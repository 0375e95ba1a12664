// Byte-level BPE model: vocab and ranked merges applied to one pre-token's bytes.
#include "common/tokenizer/bpe_model.h"

#include <functional>
#include <queue>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "common/tokenizer/byte_level.h"

namespace dllm::tokenizer_internal {

absl::StatusOr<std::unique_ptr<BpeModel>> BpeModel::create(
    const std::vector<std::pair<std::string, int32_t>>& vocab,
    const std::vector<std::pair<std::string, std::string>>& merges, BpeOptions options) {
  std::unique_ptr<BpeModel> model(new BpeModel());
  model->options_ = options;
  model->byte_id_.fill(-1);
  std::unordered_map<std::string_view, int32_t> text_to_id;
  text_to_id.reserve(vocab.size());
  model->bytes_to_id_.reserve(vocab.size());
  for (const auto& [text, id] : vocab) {
    if (id < 0) return absl::InvalidArgumentError(absl::StrCat("negative id for token '", text, "'"));
    text_to_id.emplace(text, id);
    // Entries outside the byte-level alphabet can never come out of byte-level BPE.
    std::optional<std::string> bytes = byte_level_to_bytes(text);
    if (!bytes) continue;
    if (bytes->size() == 1) model->byte_id_[static_cast<unsigned char>((*bytes)[0])] = id;
    model->bytes_to_id_.emplace(std::move(*bytes), id);
  }
  model->merges_.reserve(merges.size());
  for (size_t rank = 0; rank < merges.size(); ++rank) {
    const auto& [left, right] = merges[rank];
    const auto l = text_to_id.find(left);
    const auto r = text_to_id.find(right);
    const auto m = text_to_id.find(left + right);
    if (l == text_to_id.end() || r == text_to_id.end() || m == text_to_id.end()) {
      return absl::InvalidArgumentError(absl::StrCat("merge ", rank, " ('", left, "' '", right,
                                                     "') uses a token missing from the vocab"));
    }
    // A repeated pair keeps its first (best) rank, like HF.
    model->merges_.emplace(pair_key(l->second, r->second),
                           Merge{static_cast<uint32_t>(rank), m->second});
  }
  return model;
}

std::optional<int32_t> BpeModel::id_of_bytes(std::string_view bytes) const {
  const auto it = bytes_to_id_.find(std::string(bytes));
  if (it == bytes_to_id_.end()) return std::nullopt;
  return it->second;
}

void BpeModel::encode_word(std::string_view bytes, std::vector<int32_t>& out) const {
  if (bytes.empty()) return;
  if (options_.ignore_merges) {
    if (const auto it = bytes_to_id_.find(std::string(bytes)); it != bytes_to_id_.end()) {
      out.push_back(it->second);
      return;
    }
  }
  const bool cacheable = bytes.size() <= kMaxCachedWordBytes;
  std::string key;
  if (cacheable) {
    key.assign(bytes);
    std::lock_guard<std::mutex> lock(cache_mu_);
    if (const auto it = cache_.find(key); it != cache_.end()) {
      out.insert(out.end(), it->second.begin(), it->second.end());
      return;
    }
  }
  std::vector<int32_t> ids;
  merge_symbols(bytes, ids);
  out.insert(out.end(), ids.begin(), ids.end());
  if (cacheable) {
    std::lock_guard<std::mutex> lock(cache_mu_);
    if (cache_.size() < kMaxCachedWords) cache_.emplace(std::move(key), std::move(ids));
  }
}

// Applies merges lowest rank first (leftmost on ties) over a linked list of symbols, with
// a heap of candidate pairs, so a very long pre-token costs O(n log n), not O(n^2).
void BpeModel::merge_symbols(std::string_view bytes, std::vector<int32_t>& ids) const {
  struct Symbol {
    int32_t id;
    int32_t prev;
    int32_t next;
  };
  std::vector<Symbol> symbols;
  symbols.reserve(bytes.size());
  for (char ch : bytes) {
    int32_t id = byte_id_[static_cast<unsigned char>(ch)];
    if (id < 0) {
      if (!options_.unk_id) continue;
      id = *options_.unk_id;
    }
    const auto index = static_cast<int32_t>(symbols.size());
    symbols.push_back({id, index - 1, index + 1});
  }
  if (symbols.empty()) return;
  symbols.back().next = -1;

  // (rank, left position, left id, right id): ids let stale entries be recognised.
  using Candidate = std::tuple<uint32_t, int32_t, int32_t, int32_t>;
  std::priority_queue<Candidate, std::vector<Candidate>, std::greater<>> heap;
  const auto push_pair = [&](int32_t left) {
    if (left < 0) return;
    const int32_t right = symbols[left].next;
    if (right < 0) return;
    const auto it = merges_.find(pair_key(symbols[left].id, symbols[right].id));
    if (it != merges_.end()) heap.emplace(it->second.rank, left, symbols[left].id, symbols[right].id);
  };
  for (int32_t i = 0; i + 1 < static_cast<int32_t>(symbols.size()); ++i) push_pair(i);

  while (!heap.empty()) {
    const auto [rank, left, left_id, right_id] = heap.top();
    heap.pop();
    Symbol& sym = symbols[left];
    if (sym.id != left_id || sym.next < 0 || symbols[sym.next].id != right_id) continue;
    const int32_t right = sym.next;
    sym.id = merges_.at(pair_key(left_id, right_id)).merged_id;
    sym.next = symbols[right].next;
    if (sym.next >= 0) symbols[sym.next].prev = left;
    symbols[right].id = -1;  // dead
    push_pair(sym.prev);
    push_pair(left);
  }
  for (int32_t i = 0; i >= 0; i = symbols[i].next) ids.push_back(symbols[i].id);
}

}  // namespace dllm::tokenizer_internal

// A model a serving process holds: its config and tokenizer always; its backend and weights when
// the process runs it (prefill and decode nodes — the router only tokenizes). The model is not
// re-entrant: hold `mutex()` around every forward.
#pragma once

#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/model/transformer.h"
#include "common/tokenizer/tokenizer.h"
#include "kernels/backend.h"

namespace dllm {

struct ServedModelOptions {
  bool load_weights = true;  // false: config + tokenizer only (the router)
  int threads = 0;           // CPU backend threads (0 = all cores)
  TransformerOptions engine;  // K/V pool size and page
};

class ServedModel {
 public:
  // The name is the directory's last component.
  static absl::StatusOr<std::unique_ptr<ServedModel>> load(const std::string& dir,
                                                           const ServedModelOptions& options);
  // The same on a given backend (e.g. CUDA); options.threads is then unused.
  static absl::StatusOr<std::unique_ptr<ServedModel>> load(
      const std::string& dir, const ServedModelOptions& options,
      std::unique_ptr<kernels::Backend> backend);

  const std::string& name() const { return name_; }
  const std::string& dir() const { return dir_; }
  const ModelConfig& config() const { return config_; }
  const Tokenizer* tokenizer() const { return tokenizer_.get(); }
  bool has_weights() const { return model_ != nullptr; }
  Transformer& model() { return *model_; }
  std::mutex& mutex() { return mutex_; }
  // The K/V pool's pages (created at load, so this needs no model lock).
  KvPoolStats kv_pool_stats() const;

  // text → ids, optionally through the family's chat template (FailedPrecondition without a
  // tokenizer).
  absl::StatusOr<std::vector<int32_t>> encode(const std::string& text, bool chat,
                                              const std::string& system) const;
  // ids up to the first of `stops`, specials skipped; "" without a tokenizer.
  std::string visible_text(std::span<const int32_t> ids, const std::vector<int32_t>& stops) const;

 private:
  std::string name_, dir_;
  ModelConfig config_;
  std::unique_ptr<kernels::Backend> backend_;  // outlives model_ (declared first)
  std::unique_ptr<Tokenizer> tokenizer_;
  std::unique_ptr<Transformer> model_;
  KvPool* kv_pool_ = nullptr;
  std::mutex mutex_;
};

}  // namespace dllm

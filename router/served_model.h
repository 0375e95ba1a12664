// A model the server runs: its backend, weights, optional tokenizer, and the lock that lets one
// request at a time through it.
#pragma once

#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/model/transformer.h"
#include "common/tokenizer/tokenizer.h"
#include "kernels/backend.h"

namespace dllm::router {

class ServedModel {
 public:
  // Loads DIR on the CPU backend with `threads` threads (0 = all cores). The name is the
  // directory's last component.
  static absl::StatusOr<std::unique_ptr<ServedModel>> load(const std::string& dir, int threads);

  const std::string& name() const { return name_; }
  const ModelConfig& config() const { return model_->config(); }
  const Tokenizer* tokenizer() const { return tokenizer_.get(); }
  // The model is not re-entrant: hold `mutex()` around every forward.
  Transformer& model() { return *model_; }
  std::mutex& mutex() { return mutex_; }

  // text → ids, optionally through the family's chat template (FailedPrecondition without a
  // tokenizer).
  absl::StatusOr<std::vector<int32_t>> encode(const std::string& text, bool chat,
                                              const std::string& system) const;
  // ids up to the first of `stops`, specials skipped; "" without a tokenizer.
  std::string visible_text(std::span<const int32_t> ids, const std::vector<int32_t>& stops) const;

 private:
  std::string name_;
  std::unique_ptr<kernels::Backend> backend_;  // outlives model_ (declared first)
  std::unique_ptr<Tokenizer> tokenizer_;
  std::unique_ptr<Transformer> model_;
  std::mutex mutex_;
};

}  // namespace dllm::router

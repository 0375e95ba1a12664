// Loading and tokenizing for a served model.
#include "common/pipeline/served_model.h"

#include <algorithm>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "common/model/load_model.h"

namespace dllm {

absl::StatusOr<std::unique_ptr<ServedModel>> ServedModel::load(
    const std::string& dir, const ServedModelOptions& options) {
  return load(dir, options,
              options.load_weights ? kernels::make_cpu_backend(options.threads) : nullptr);
}

absl::StatusOr<std::unique_ptr<ServedModel>> ServedModel::load(
    const std::string& dir, const ServedModelOptions& options,
    std::unique_ptr<kernels::Backend> backend) {
  auto served = std::make_unique<ServedModel>();
  std::filesystem::path path(dir);
  served->dir_ = dir;
  served->name_ = (path.has_filename() ? path : path.parent_path()).filename().string();
  absl::StatusOr<ModelConfig> config = load_model_config(dir);
  if (!config.ok()) return config.status();
  served->config_ = *config;
  if (std::filesystem::exists(path / "tokenizer.json") ||
      std::filesystem::exists(path / "vocab.json")) {
    absl::StatusOr<std::unique_ptr<Tokenizer>> tok = Tokenizer::load_from_dir(dir);
    if (!tok.ok()) return tok.status();
    served->tokenizer_ = std::move(*tok);
  }
  if (!options.load_weights) return served;
  if (backend == nullptr) return absl::InvalidArgumentError("no backend to load the model on");
  served->backend_ = std::move(backend);
  absl::StatusOr<std::unique_ptr<Transformer>> model =
      load_transformer(dir, served->backend_.get(), options.engine);
  if (!model.ok()) return model.status();
  served->model_ = std::move(*model);
  served->config_ = served->model_->config();
  absl::StatusOr<KvPool*> pool = served->model_->kv_pool();
  if (!pool.ok()) return pool.status();
  served->kv_pool_ = *pool;
  return served;
}

KvPoolStats ServedModel::kv_pool_stats() const {
  return kv_pool_ != nullptr ? kv_pool_->stats() : KvPoolStats{};
}

absl::StatusOr<std::vector<int32_t>> ServedModel::encode(const std::string& text, bool chat,
                                                         const std::string& system) const {
  if (tokenizer_ == nullptr)
    return absl::FailedPreconditionError(
        absl::StrCat("model '", name_, "' has no tokenizer: send prompt ids"));
  if (!chat) return tokenizer_->encode(text);
  const ChatTemplateKind kind = config().family == ModelFamily::kDream
                                    ? ChatTemplateKind::kDreamInstruct
                                    : ChatTemplateKind::kLladaInstruct;
  std::vector<ChatMessage> messages;
  if (!system.empty()) messages.push_back({"system", system});
  messages.push_back({"user", text});
  return tokenizer_->encode_chat(kind, messages, /*add_generation_prompt=*/true);
}

std::string ServedModel::visible_text(std::span<const int32_t> ids,
                                      const std::vector<int32_t>& stops) const {
  if (tokenizer_ == nullptr) return "";
  size_t end = 0;
  while (end < ids.size() && std::find(stops.begin(), stops.end(), ids[end]) == stops.end()) ++end;
  absl::StatusOr<std::string> text = tokenizer_->decode(ids.subspan(0, end), /*skip_special=*/true);
  return text.ok() ? *text : absl::StrCat("<undecodable: ", text.status().message(), ">");
}

}  // namespace dllm

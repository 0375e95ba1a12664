// Generation RPC handlers: proto in, one engine call, blocks streamed out, Status mapped once.
#include "router/generation_service.h"

#include <chrono>

#include "absl/strings/str_cat.h"
#include "common/generate/generate.h"
#include "router/generation_params.h"
#include "router/request_validation.h"
#include "router/status_mapping.h"

namespace dllm::router {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

// The prompt ids of a request: its ids, or its text through the model's tokenizer.
absl::StatusOr<std::vector<int32_t>> prompt_ids(const v1::GenerateRequest& request,
                                                const ServedModel& model) {
  if (request.prompt_case() == v1::GenerateRequest::kIds)
    return std::vector<int32_t>(request.ids().ids().begin(), request.ids().ids().end());
  return model.encode(request.text(), request.chat(), request.system());
}

}  // namespace

GenerationService::GenerationService(std::vector<std::unique_ptr<ServedModel>> models,
                                     ServingLimits limits)
    : models_(std::move(models)), limits_(limits) {}

absl::StatusOr<ServedModel*> GenerationService::find_model(const std::string& name) {
  if (models_.empty()) return absl::UnavailableError("no model is loaded");
  if (name.empty()) return models_.front().get();
  for (const auto& m : models_)
    if (m->name() == name) return m.get();
  return absl::NotFoundError(absl::StrCat("unknown model '", name, "'"));
}

std::string GenerationService::request_id_or_new(const std::string& given) {
  return given.empty() ? absl::StrCat("req-", next_request_.fetch_add(1)) : given;
}

grpc::Status GenerationService::Generate(grpc::ServerContext* context,
                                         const v1::GenerateRequest* request,
                                         grpc::ServerWriter<v1::GenerateResponse>* writer) {
  const Clock::time_point arrived = Clock::now();
  const std::string id = request_id_or_new(request->request_id());
  if (absl::Status st = validate_generate_request(*request, limits_); !st.ok())
    return to_grpc_status(st);
  absl::StatusOr<ServedModel*> model = find_model(request->model());
  if (!model.ok()) return to_grpc_status(model.status());
  ServedModel& served = **model;

  absl::StatusOr<std::vector<int32_t>> prompt = prompt_ids(*request, served);
  if (!prompt.ok()) return to_grpc_status(prompt.status());
  if (absl::Status st = validate_prompt_length(*prompt, limits_); !st.ok())
    return to_grpc_status(st);
  if (absl::Status st = validate_prompt(*prompt, served.config()); !st.ok())
    return to_grpc_status(st);
  absl::StatusOr<GenerationOptions> options =
      to_generation_options(request->params(), served.config());
  if (!options.ok()) return to_grpc_status(options.status());
  const std::vector<int32_t> stops = resolve_stop_tokens(*options, served.config());

  std::lock_guard<std::mutex> lock(served.mutex());
  const Clock::time_point started = Clock::now();
  Clock::time_point first_block = started;
  // A cancelled (or disconnected) client stops the model at the next denoising step.
  bool cancelled = false;
  options->should_stop = [&] { return cancelled || context->IsCancelled(); };
  const BlockCallback on_block = [&](int block, std::span<const int32_t> ids) {
    if (block == 0) first_block = Clock::now();
    if (cancelled || context->IsCancelled()) {
      cancelled = true;
      return;
    }
    v1::GenerateResponse message;
    message.set_request_id(id);
    v1::BlockFinished* out = message.mutable_block();
    out->set_index(block);
    out->mutable_ids()->Add(ids.begin(), ids.end());
    out->set_text(served.visible_text(ids, stops));
    if (!writer->Write(message)) cancelled = true;  // the client is gone
  };
  absl::StatusOr<GenerationResult> result = generate(served.model(), *prompt, *options, on_block);
  if (cancelled || context->IsCancelled() || (result.ok() && result->cancelled))
    return grpc::Status(grpc::StatusCode::CANCELLED, "the client cancelled the request");
  if (!result.ok()) return to_grpc_status(result.status());

  const Clock::time_point finished = Clock::now();
  v1::GenerateResponse message;
  message.set_request_id(id);
  v1::GenerationDone* done = message.mutable_done();
  done->mutable_usage()->set_prompt_tokens(static_cast<int32_t>(prompt->size()));
  done->mutable_usage()->set_generated_tokens(static_cast<int32_t>(result->generated.size()));
  done->mutable_usage()->set_forward_passes(result->counters.forward_passes);
  done->mutable_timings()->set_queue_seconds(seconds_between(arrived, started));
  done->mutable_timings()->set_first_block_seconds(seconds_between(started, first_block));
  done->mutable_timings()->set_total_seconds(seconds_between(arrived, finished));
  done->mutable_ids()->Add(result->generated.begin(), result->generated.end());
  done->set_text(served.visible_text(result->generated, stops));
  done->set_stopped_early(result->stopped_early);
  writer->Write(message);
  return grpc::Status::OK;
}

grpc::Status GenerationService::Tokenize(grpc::ServerContext* context,
                                         const v1::TokenizeRequest* request,
                                         v1::TokenizeResponse* response) {
  response->set_request_id(request_id_or_new(request->request_id()));
  absl::StatusOr<ServedModel*> model = find_model(request->model());
  if (!model.ok()) return to_grpc_status(model.status());
  absl::StatusOr<std::vector<int32_t>> ids =
      (*model)->encode(request->text(), request->chat(), request->system());
  if (!ids.ok()) return to_grpc_status(ids.status());
  response->mutable_ids()->Add(ids->begin(), ids->end());
  return grpc::Status::OK;
}

grpc::Status GenerationService::ListModels(grpc::ServerContext* context,
                                           const v1::ListModelsRequest* request,
                                           v1::ListModelsResponse* response) {
  response->set_request_id(request_id_or_new(request->request_id()));
  for (const auto& m : models_) {
    v1::ModelInfo* info = response->add_models();
    info->set_name(m->name());
    info->set_family(m->config().family == ModelFamily::kDream ? "dream" : "llada");
    info->set_vocab_size(m->config().vocab_size);
    info->set_mask_token_id(m->config().mask_token_id);
    info->set_has_tokenizer(m->tokenizer() != nullptr);
  }
  return grpc::Status::OK;
}

}  // namespace dllm::router

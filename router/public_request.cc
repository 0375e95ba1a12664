#include "router/public_request.h"

#include "absl/strings/str_cat.h"
#include "common/sparse/chunk_kv_cache.h"
#include "common/sparse/chunk_plan.h"
#include "common/sparse/prefilling_prompt.h"
#include "proto/wire/engine_request_wire.h"
#include "router/request_validation.h"

namespace dllm::router {
namespace {

void put(const std::vector<int32_t>& ids, google::protobuf::RepeatedField<int32_t>* out) {
  out->Add(ids.begin(), ids.end());
}

}  // namespace

absl::StatusOr<RoutedRequest> build_routed_request(const v1::GenerateRequest& request,
                                                   const std::string& request_id,
                                                   const ServedModel& model,
                                                   const ServingLimits& limits,
                                                   const std::string& default_policy) {
  if (absl::Status st = validate_generate_request(request, limits); !st.ok()) return st;
  RoutedRequest out;
  v1::EngineRequest& e = out.engine;
  e.set_request_id(request_id);
  e.set_model(model.name());
  e.set_policy(request.policy().empty() ? default_policy : request.policy());
  *e.mutable_params() = request.params();
  *e.mutable_prefilling() = request.prefilling();
  *e.mutable_focus() = request.focus();
  if (!e.prefilling().has_bos_id()) {
    const int32_t bos = default_chunk_bos_id(model.config(), model.tokenizer());
    if (bos >= 0) e.mutable_prefilling()->set_bos_id(bos);
  }

  if (!request.context().empty()) {
    if (model.tokenizer() == nullptr)
      return absl::FailedPreconditionError(
          absl::StrCat("model '", model.name(), "' has no tokenizer: a context needs one"));
    std::optional<ChatTemplateKind> chat;
    if (request.chat())
      chat = model.config().family == ModelFamily::kDream ? ChatTemplateKind::kDreamInstruct
                                                          : ChatTemplateKind::kLladaInstruct;
    std::optional<std::string_view> system;
    if (!request.system().empty()) system = request.system();
    absl::StatusOr<PrefillingPrompt> parts = build_prefilling_prompt(
        *model.tokenizer(), chat, system, request.context(), request.text());
    if (!parts.ok()) return parts.status();
    put(parts->prefix, e.mutable_prefix());
    put(parts->context, e.mutable_context());
    put(parts->query, e.mutable_query());
  } else {
    absl::StatusOr<std::vector<int32_t>> ids =
        request.prompt_case() == v1::GenerateRequest::kIds
            ? absl::StatusOr<std::vector<int32_t>>(
                  std::vector<int32_t>(request.ids().ids().begin(), request.ids().ids().end()))
            : model.encode(request.text(), request.chat(), request.system());
    if (!ids.ok()) return ids.status();
    put(*ids, e.mutable_query());
  }
  out.prompt_tokens = e.prefix_size() + e.context_size() + e.query_size();
  if (out.prompt_tokens > limits.max_prompt_tokens)
    return absl::InvalidArgumentError(absl::StrCat("prompt has ", out.prompt_tokens,
                                                   " tokens; this server takes at most ",
                                                   limits.max_prompt_tokens));
  // Every check the nodes would make, made here (the router holds the config).
  absl::StatusOr<EngineRequestSpec> spec = wire::spec_from_wire(e, model.config());
  if (!spec.ok()) return spec.status();

  if (!spec->context.empty() && (spec->policy == SparsePolicy::kPrefilling ||
                                 spec->policy == SparsePolicy::kPrefillingFocus)) {
    absl::StatusOr<int32_t> bos = resolve_chunk_bos(spec->prefilling, model.config());
    if (bos.ok()) {
      const uint64_t prefix_hash = hash_tokens(spec->prefix);
      for (const PlannedChunk& c : plan_chunks(spec->context, spec->prefilling.chunk_size,
                                               spec->prefilling.chunk_bos, *bos))
        out.chunk_keys.push_back(chunk_affinity_key(prefix_hash, hash_tokens(c.ids)));
    }
  }
  return out;
}

}  // namespace dllm::router

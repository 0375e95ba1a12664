#include "router/generation_router.h"

#include <chrono>

#include "absl/strings/str_cat.h"
#include "common/logging/event_log.h"
#include "grpcpp/client_context.h"
#include "proto/wire/bearer_token.h"
#include "proto/wire/status_mapping.h"

namespace dllm::router {
namespace {

using Clock = std::chrono::steady_clock;

// Outbound calls inherit the client's deadline.
void inherit_deadline(const grpc::ServerContext& in, grpc::ClientContext* out) {
  if (in.deadline() != std::chrono::system_clock::time_point::max()) out->set_deadline(in.deadline());
}

struct InflightSlot {
  std::atomic<int>& n;
  ~InflightSlot() { n.fetch_sub(1); }
};

struct Outstanding {  // the registry's per-node count, dropped on every exit path
  NodeRegistry* registry;
  std::string node;
  ~Outstanding() { registry->finish(node); }
};

}  // namespace

GenerationRouter::GenerationRouter(std::unique_ptr<ServedModel> model, NodeRegistry* registry,
                                   ServingLimits limits)
    : model_(std::move(model)), registry_(registry), limits_(limits) {}

std::string GenerationRouter::request_id_or_new(const std::string& given) {
  return given.empty() ? absl::StrCat("req-", next_id_.fetch_add(1)) : given;
}

grpc::Status GenerationRouter::authorize(const grpc::ServerContext& context) const {
  if (api_token_.empty()) return grpc::Status::OK;
  const auto& metadata = context.client_metadata();
  const auto it = metadata.find(wire::kAuthorizationKey);
  const absl::string_view header = it == metadata.end()
                                       ? absl::string_view()
                                       : absl::string_view(it->second.data(), it->second.size());
  return wire::to_grpc_status(wire::check_bearer(header, api_token_));
}

grpc::Status GenerationRouter::Generate(grpc::ServerContext* context,
                                        const v1::GenerateRequest* request,
                                        grpc::ServerWriter<v1::GenerateResponse>* writer) {
  // Refused before anything is counted: callers without the token do not shape the metrics.
  if (grpc::Status st = authorize(*context); !st.ok()) return st;
  const Clock::time_point arrived = Clock::now();
  const std::string id = request_id_or_new(request->request_id());
  counters_.requests.fetch_add(1);
  Progress progress;
  auto refuse = [&](const RoutedRequest* routed, grpc::Status status) {
    counters_.rejected.fetch_add(1);
    record(routed, status, arrived, progress);
    return status;
  };
  if (!request->model().empty() && request->model() != model_->name())
    return refuse(nullptr, grpc::Status(grpc::StatusCode::NOT_FOUND,
                                        absl::StrCat("unknown model '", request->model(), "'")));
  absl::StatusOr<RoutedRequest> routed = build_routed_request(*request, id, *model_, limits_, default_policy_);
  if (!routed.ok()) return refuse(nullptr, wire::to_grpc_status(routed.status()));
  if (counters_.inflight.fetch_add(1) >= limits_.max_inflight) {
    counters_.inflight.fetch_sub(1);
    return refuse(&*routed, grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                                         absl::StrCat("router is at its limit of ",
                                                      limits_.max_inflight,
                                                      " requests in flight; retry later")));
  }
  InflightSlot slot{counters_.inflight};

  std::set<std::string> excluded;  // nodes that failed this request
  grpc::Status last;
  const char* retried_stage = nullptr;
  for (int a = 0; a < limits_.max_attempts; ++a) {
    if (a > 0) counters_.retries.fetch_add(1);
    Attempt result = attempt(context, *routed, writer, &progress, &excluded, arrived);
    last = result.status;
    if (retried_stage != nullptr && metrics_ != nullptr)
      metrics_->retries(retried_stage, last.ok() ? metrics::placement_outcome::kRecovered
                                                 : metrics::placement_outcome::kExhausted)
          .Increment();
    if ((result.failed_node.empty() && !result.retry) || context->IsCancelled()) break;
    if (!result.failed_node.empty()) {
      registry_->mark_failed(result.failed_node);
      excluded.insert(result.failed_node);
    }
    retried_stage = result.failed_stage;
  }
  if (context->IsCancelled())
    last = grpc::Status(grpc::StatusCode::CANCELLED, "the client cancelled the request");
  (last.ok() ? counters_.completed : counters_.failed).fetch_add(1);
  record(&*routed, last, arrived, progress);
  return last;
}

void GenerationRouter::record(const RoutedRequest* routed, const grpc::Status& status,
                              Clock::time_point arrived, const Progress& progress) {
  logging::event(status.ok() ? logging::Level::kInfo : logging::Level::kWarn, "request_done",
                 {logging::field("request_id", routed != nullptr ? routed->engine.request_id() : ""),
                  logging::field("policy", routed != nullptr ? routed->engine.policy() : ""),
                  logging::field("outcome", metrics::outcome_of(wire::from_grpc_status(status))),
                  logging::field("error", status.error_message()),
                  logging::field("prompt", routed != nullptr ? routed->prompt_tokens : 0),
                  logging::field("generated", progress.generated_tokens),
                  logging::field("blocks", progress.blocks_sent),
                  logging::field("total_s",
                                 std::chrono::duration<double>(Clock::now() - arrived).count())});
  if (metrics_ == nullptr) return;
  const std::string& model = model_->name();
  const std::string policy = routed != nullptr ? routed->engine.policy() : "unknown";
  metrics_->requests(model, policy, metrics::outcome_of(wire::from_grpc_status(status)))
      .Increment();
  if (routed == nullptr || !status.ok()) return;
  metrics_->request_duration(model, policy)
      .Observe(std::chrono::duration<double>(Clock::now() - arrived).count());
  metrics_->prompt_tokens(model, policy).Increment(routed->prompt_tokens);
  metrics_->generated_tokens(model, policy).Increment(progress.generated_tokens);
}

GenerationRouter::Attempt GenerationRouter::attempt(
    grpc::ServerContext* context, const RoutedRequest& routed,
    grpc::ServerWriter<v1::GenerateResponse>* writer, Progress* progress,
    std::set<std::string>* excluded, Clock::time_point arrived) {
  const std::string& id = routed.engine.request_id();
  const std::string& model = model_->name();
  const std::string& policy = routed.engine.policy();
  auto placed = [&](const char* stage, std::string_view outcome) {
    if (metrics_ != nullptr) metrics_->placements(stage, outcome).Increment();
  };
  int chunks_held = 0;
  std::optional<NodeRef> prefill =
      registry_->place_prefill(routed.chunk_keys, *excluded, &chunks_held);
  if (!prefill) {
    placed("prefill", metrics::placement_outcome::kNoNode);
    return {grpc::Status(grpc::StatusCode::UNAVAILABLE, "no live prefill node"), ""};
  }
  placed("prefill", chunks_held > 0 ? metrics::placement_outcome::kCacheHit
                                    : metrics::placement_outcome::kPlaced);
  Outstanding prefill_count{registry_, prefill->id};

  // 1. Prepare.
  auto prefill_stub = v1::PrefillNode::NewStub(prefill->channel);
  v1::PrepareRequest prepare;
  *prepare.mutable_request() = routed.engine;
  v1::PrepareResponse prepared;
  {
    grpc::ClientContext ctx;
    inherit_deadline(*context, &ctx);
    CancelPropagator::Link link(&cancels_, context, &ctx);
    const grpc::Status st = prefill_stub->Prepare(&ctx, prepare, &prepared);
    if (!st.ok()) return {st, wire::is_node_failure(st) ? prefill->id : "", "prefill"};
  }
  const v1::KvHandle& kv = prepared.prepared().kv();
  const bool holds_kv = prepared.prepared().frozen_len() > 0;

  // 2. Decode, relayed.
  std::optional<NodeRef> decode = registry_->place_decode(*excluded);
  if (!decode) {
    placed("decode", metrics::placement_outcome::kNoNode);
    if (holds_kv) release_lease(*prefill, kv);
    return {grpc::Status(grpc::StatusCode::UNAVAILABLE, "no live decode node"), ""};
  }
  placed("decode", metrics::placement_outcome::kPlaced);
  Outstanding decode_count{registry_, decode->id};
  auto decode_stub = v1::DecodeNode::NewStub(decode->channel);
  v1::DecodeRequest decode_request;
  *decode_request.mutable_request() = routed.engine;
  *decode_request.mutable_prepared() = prepared.prepared();
  decode_request.mutable_committed()->Add(progress->committed.begin(), progress->committed.end());
  grpc::ClientContext ctx;
  inherit_deadline(*context, &ctx);
  CancelPropagator::Link link(&cancels_, context, &ctx);
  std::unique_ptr<grpc::ClientReader<v1::DecodeEvent>> stream =
      decode_stub->Decode(&ctx, decode_request);
  bool lease_open = holds_kv;
  bool client_gone = false;
  bool done_sent = false;  // the client has its answer: whatever the trailer says, no retry
  v1::DecodeEvent event;
  while (stream->Read(&event)) {
    v1::GenerateResponse out;
    out.set_request_id(id);
    switch (event.event_case()) {
      case v1::DecodeEvent::kKvPulled:
        if (lease_open) release_lease(*prefill, kv);
        lease_open = false;
        continue;
      case v1::DecodeEvent::kBlock: {
        if (event.block().index() < progress->blocks_sent) continue;  // the client has it
        *out.mutable_block() = event.block();
        ++progress->blocks_sent;
        progress->committed.insert(progress->committed.end(), event.block().ids().begin(),
                                   event.block().ids().end());
        const Clock::time_point now = Clock::now();
        if (metrics_ != nullptr) {
          if (!progress->first_block_seen)
            metrics_->time_to_first_block(model, policy)
                .Observe(std::chrono::duration<double>(now - arrived).count());
          else
            metrics_->time_per_block(model, policy)
                .Observe(std::chrono::duration<double>(now - progress->last_block).count());
        }
        progress->first_block_seen = true;
        progress->last_block = now;
        break;
      }
      case v1::DecodeEvent::kDone: {
        *out.mutable_done() = event.done();
        v1::Timings* t = out.mutable_done()->mutable_timings();
        t->set_decode_seconds(event.done().timings().total_seconds());
        t->set_prefill_seconds(prepared.prepare_seconds());
        t->set_total_seconds(std::chrono::duration<double>(Clock::now() - arrived).count());
        out.mutable_done()->mutable_usage()->set_prompt_tokens(routed.prompt_tokens);
        progress->generated_tokens = event.done().usage().generated_tokens();
        break;
      }
      default:
        continue;
    }
    if (out.has_done()) done_sent = true;
    if (!writer->Write(out)) {
      client_gone = true;
      ctx.TryCancel();  // the decode node stops and frees its K/V
      break;
    }
  }
  const grpc::Status st = stream->Finish();
  if (lease_open) release_lease(*prefill, kv);
  if (client_gone)
    return {grpc::Status(grpc::StatusCode::CANCELLED, "the client went away"), ""};
  if (done_sent) return {grpc::Status::OK, ""};
  if (wire::is_kv_pull_failure(st)) return {st, "", "prefill", /*retry=*/true};
  if (!st.ok()) return {st, wire::is_node_failure(st) ? decode->id : "", "decode"};
  return {grpc::Status::OK, ""};
}

void GenerationRouter::release_lease(const NodeRef& prefill, const v1::KvHandle& kv) {
  // Best effort: a lease not released here expires on the prefill node.
  auto stub = v1::PrefillNode::NewStub(prefill.channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
  v1::ReleaseRequest request;
  request.set_lease_id(kv.lease_id());
  v1::ReleaseResponse response;
  stub->Release(&ctx, request, &response);
}

grpc::Status GenerationRouter::Tokenize(grpc::ServerContext* context,
                                        const v1::TokenizeRequest* request,
                                        v1::TokenizeResponse* response) {
  if (grpc::Status st = authorize(*context); !st.ok()) return st;
  response->set_request_id(request_id_or_new(request->request_id()));
  if (!request->model().empty() && request->model() != model_->name())
    return grpc::Status(grpc::StatusCode::NOT_FOUND,
                        absl::StrCat("unknown model '", request->model(), "'"));
  absl::StatusOr<std::vector<int32_t>> ids =
      model_->encode(request->text(), request->chat(), request->system());
  if (!ids.ok()) return wire::to_grpc_status(ids.status());
  response->mutable_ids()->Add(ids->begin(), ids->end());
  return grpc::Status::OK;
}

grpc::Status GenerationRouter::ListModels(grpc::ServerContext* context,
                                          const v1::ListModelsRequest* request,
                                          v1::ListModelsResponse* response) {
  if (grpc::Status st = authorize(*context); !st.ok()) return st;
  response->set_request_id(request_id_or_new(request->request_id()));
  v1::ModelInfo* info = response->add_models();
  info->set_name(model_->name());
  info->set_family(model_->config().family == ModelFamily::kDream ? "dream" : "llada");
  info->set_vocab_size(model_->config().vocab_size);
  info->set_mask_token_id(model_->config().mask_token_id);
  info->set_has_tokenizer(model_->tokenizer() != nullptr);
  return grpc::Status::OK;
}

}  // namespace dllm::router

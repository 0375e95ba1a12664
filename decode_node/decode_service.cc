// Decode = validate, start the K/V pulls, take the model, import, denoise, stream.
#include "decode_node/decode_service.h"

#include <atomic>
#include <chrono>
#include <future>

#include "absl/strings/str_cat.h"
#include "common/logging/event_log.h"
#include "common/pipeline/engine_request.h"
#include "common/generate/denoising_sequence.h"
#include "decode_node/event_outbox.h"
#include "decode_node/kv_puller.h"
#include "proto/wire/engine_request_wire.h"
#include "proto/wire/status_mapping.h"

namespace dllm::decode {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

}  // namespace

DecodeService::DecodeService(ServedModel* model, DecodeServiceOptions options)
    : model_(model),
      options_(std::move(options)),
      transports_(options_.transport),
      batcher_(model->model(), model->mutex(), options_.batching) {}

std::shared_ptr<std::atomic<bool>> DecodeService::track(const std::string& request_id) {
  auto flag = std::make_shared<std::atomic<bool>>(false);
  std::lock_guard<std::mutex> lock(inflight_mu_);
  inflight_.emplace(request_id, flag);
  return flag;
}

void DecodeService::untrack(const std::string& request_id) {
  std::lock_guard<std::mutex> lock(inflight_mu_);
  inflight_.erase(request_id);
}

grpc::Status DecodeService::Decode(grpc::ServerContext* context, const v1::DecodeRequest* request,
                                   grpc::ServerWriter<v1::DecodeEvent>* writer) {
  Observed seen;
  const grpc::Status status = decode(context, *request, writer, &seen);
  logging::event(status.ok() ? logging::Level::kInfo : logging::Level::kWarn, "decode_done",
                 {logging::field("request_id", request->request().request_id()),
                  logging::field("policy", request->request().policy()),
                  logging::field("outcome",
                                 metrics::outcome_of(wire::from_grpc_status(status))),
                  logging::field("error", status.error_message()),
                  logging::field("generated", seen.generated),
                  logging::field("resumed_after_blocks", request->committed_size() > 0 && seen.resumed),
                  logging::field("kv_bytes", seen.pulled_bytes),
                  logging::field("queue_s", seen.queue_seconds),
                  logging::field("first_block_s", seen.first_block_seconds),
                  logging::field("total_s", seen.total_seconds)});
  if (metrics_ == nullptr) return status;
  const std::string& model = model_->name();
  const std::string& policy = request->request().policy();
  metrics_->requests(model, policy, metrics::outcome_of(wire::from_grpc_status(status)))
      .Increment();
  const std::string& transport = request->prepared().kv().transport();
  if (seen.pull_failed) metrics_->kv_transfer_failures(transport).Increment();
  if (seen.pull_seconds >= 0) metrics_->record_kv_transfer(transport, seen.pulled_bytes, seen.pull_seconds);
  if (seen.queue_seconds >= 0) metrics_->queue_time(model).Observe(seen.queue_seconds);
  if (seen.first_block_seconds >= 0)
    metrics_->time_to_first_block(model, policy).Observe(seen.first_block_seconds);
  for (double gap : seen.block_gaps) metrics_->time_per_block(model, policy).Observe(gap);
  if (seen.blocks > 0)
    metrics_->denoising_steps_per_block(model, policy)
        .Observe(static_cast<double>(seen.steps) / static_cast<double>(seen.blocks));
  return status;
}

grpc::Status DecodeService::decode(grpc::ServerContext* context,
                                   const v1::DecodeRequest& decode_request,
                                   grpc::ServerWriter<v1::DecodeEvent>* writer, Observed* seen) {
  const v1::DecodeRequest* request = &decode_request;
  const Clock::time_point arrived = Clock::now();
  const std::string& id = request->request().request_id();
  absl::StatusOr<EngineRequestSpec> spec =
      wire::spec_from_wire(request->request(), model_->config());
  if (!spec.ok()) return wire::to_grpc_status(spec.status());
  spec->model_id = model_->name();
  const v1::PreparedPrompt& prepared = request->prepared();
  const std::vector<int32_t> prompt(prepared.prompt().begin(), prepared.prompt().end());
  if (prompt.empty()) return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "empty prepared prompt");
  if (absl::Status st = validate_prompt(prompt, model_->config()); !st.ok())
    return wire::to_grpc_status(st);
  const int frozen_len = prepared.frozen_len();
  if (frozen_len < 0 || frozen_len >= static_cast<int>(prompt.size()) ||
      (frozen_len > 0 && prepared.kv().rows() != frozen_len))
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        absl::StrCat("frozen_len ", frozen_len, " does not fit a prompt of ",
                                     prompt.size(), " tokens and K/V of ", prepared.kv().rows(),
                                     " rows"));
  if (counters_.waiting.load() + batcher_.waiting() >= options_.max_waiting)
    return grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                        absl::StrCat("decode node ", options_.node_id, ": ",
                                     counters_.waiting.load(), " requests already waiting"));

  // The K/V travels while this request waits for the model.
  std::unique_ptr<KvPull> pull;
  const Clock::time_point pull_started = Clock::now();
  if (frozen_len > 0) {
    absl::StatusOr<transfer::Transport*> transport = transports_.get(prepared.kv().transport());
    if (!transport.ok()) return wire::to_grpc_status(transport.status());
    absl::StatusOr<std::unique_ptr<KvPull>> started =
        KvPull::start(**transport, prepared.kv(), model_->model(), options_.pull_timeout);
    if (!started.ok()) return wire::to_grpc_status(started.status());
    pull = std::move(*started);
  }
  std::shared_ptr<std::atomic<bool>> aborted = track(id);
  struct Untrack {
    DecodeService* self;
    const std::string& id;
    ~Untrack() { self->untrack(id); }
  } untrack_on_exit{this, id};

  LoadCounters::Stage waiting(counters_.waiting);
  const Clock::time_point started = Clock::now();
  std::atomic<bool> cancelled{false};  // a stream write failed: the router is gone
  auto should_stop = [&] { return cancelled.load() || aborted->load() || context->IsCancelled(); };
  const std::vector<int32_t> stops = resolve_stop_tokens(spec->generation, model_->config());
  Clock::time_point first_block = started;
  spec->generation.should_stop = should_stop;
  // Runs on the batcher's thread between steps; the block is written by this RPC's thread.
  EventOutbox outbox;
  Clock::time_point last_block = started;
  const BlockCallback on_block = [&](int block, std::span<const int32_t> ids) {
    const Clock::time_point now = Clock::now();
    if (block == 0) first_block = now;
    else seen->block_gaps.push_back(seconds_between(last_block, now));
    last_block = now;
    ++seen->blocks;
    if (should_stop()) return;
    v1::DecodeEvent event;
    event.set_request_id(id);
    v1::BlockFinished* out = event.mutable_block();
    out->set_index(block);
    out->mutable_ids()->Add(ids.begin(), ids.end());
    out->set_text(model_->visible_text(ids, stops));
    outbox.push(std::move(event));
  };

  // The cache and the sequence are made under the model's lock; the steps run in the batch.
  absl::StatusOr<std::unique_ptr<DenoisingSequence>> sequence;
  {
    std::lock_guard<std::mutex> lock(model_->mutex());
    if (should_stop()) return grpc::Status(grpc::StatusCode::CANCELLED, "request cancelled");
    std::optional<FrozenPromptCache> frozen;
    if (pull != nullptr) {
      absl::StatusOr<std::unique_ptr<KvCache>> cache = model_->model().new_kv_cache(
          static_cast<int>(prompt.size()) + spec->generation.gen_length);
      if (!cache.ok()) return wire::to_grpc_status(cache.status());
      if (absl::Status st = pull->import_into(model_->model(), **cache); !st.ok()) {
        seen->pull_failed = true;
        return wire::to_grpc_status(st);
      }
      seen->pulled_bytes = pull->bytes();
      seen->pull_seconds = seconds_between(pull_started, Clock::now());
      v1::DecodeEvent event;
      event.set_request_id(id);
      event.mutable_kv_pulled()->set_bytes(pull->bytes());
      event.mutable_kv_pulled()->set_seconds(seen->pull_seconds);
      event.mutable_kv_pulled()->set_transport(prepared.kv().transport());
      if (!writer->Write(event)) return grpc::Status(grpc::StatusCode::CANCELLED, "caller gone");
      frozen = FrozenPromptCache{std::move(*cache), frozen_len};
      pull.reset();
    }
    sequence = make_decode_sequence(model_->model(), *spec, prompt, frozen ? &*frozen : nullptr,
                                    on_block);
    // A retried request resumes after the blocks the client has, when that is exact (focus
    // carries per-step state across blocks, so it restarts).
    if (sequence.ok() && request->committed_size() > 0 && shares_forwards(*spec) &&
        resumable_schedule(spec->generation)) {
      const std::vector<int32_t> committed(request->committed().begin(),
                                           request->committed().end());
      if (absl::Status st = (*sequence)->resume_after_blocks(committed); !st.ok())
        return wire::to_grpc_status(st);
      seen->resumed = true;
    }
  }
  if (!sequence.ok()) return wire::to_grpc_status(sequence.status());
  waiting.end();
  seen->queue_seconds = seconds_between(arrived, Clock::now());
  std::future<absl::StatusOr<GenerationResult>> future = batcher_.submit(
      std::move(*sequence), shares_forwards(*spec),
      static_cast<int64_t>(prompt.size()) + spec->generation.gen_length);
  // Blocks go out from here while the batch steps on. Every block of a request is queued before
  // its future is ready, so a last take() after that drains them all.
  while (true) {
    const bool finished = future.wait_for(std::chrono::seconds(0)) == std::future_status::ready;
    for (v1::DecodeEvent& event : outbox.take(finished ? std::chrono::milliseconds(0)
                                                       : std::chrono::milliseconds(2)))
      if (!cancelled.load() && !writer->Write(event)) cancelled = true;
    if (finished) break;
  }
  absl::StatusOr<GenerationResult> result = future.get();
  if (should_stop() || (result.ok() && result->cancelled))
    return grpc::Status(grpc::StatusCode::CANCELLED, "request cancelled");
  if (!result.ok()) return wire::to_grpc_status(result.status());
  seen->steps = result->counters.steps;
  seen->generated = static_cast<int64_t>(result->generated.size());
  seen->total_seconds = seconds_between(arrived, Clock::now());
  seen->first_block_seconds = seconds_between(started, first_block);

  const Clock::time_point finished = Clock::now();
  v1::DecodeEvent event;
  event.set_request_id(id);
  v1::GenerationDone* done = event.mutable_done();
  done->mutable_usage()->set_prompt_tokens(static_cast<int32_t>(spec->full_prompt().size()));
  done->mutable_usage()->set_generated_tokens(static_cast<int32_t>(result->generated.size()));
  done->mutable_usage()->set_forward_passes(result->counters.forward_passes);
  done->mutable_timings()->set_queue_seconds(seconds_between(arrived, started));
  done->mutable_timings()->set_first_block_seconds(seconds_between(started, first_block));
  done->mutable_timings()->set_total_seconds(seconds_between(arrived, finished));
  done->mutable_ids()->Add(result->generated.begin(), result->generated.end());
  done->set_text(model_->visible_text(result->generated, stops));
  done->set_stopped_early(result->stopped_early);
  counters_.completed.fetch_add(1);
  writer->Write(event);
  return grpc::Status::OK;
}

grpc::Status DecodeService::Abort(grpc::ServerContext* context, const v1::AbortRequest* request,
                                  v1::AbortResponse* response) {
  std::lock_guard<std::mutex> lock(inflight_mu_);
  auto [begin, end] = inflight_.equal_range(request->request_id());
  response->set_found(begin != end);
  for (auto it = begin; it != end; ++it) it->second->store(true);
  return grpc::Status::OK;
}

grpc::Status DecodeService::GetLoad(grpc::ServerContext* context,
                                    const v1::GetLoadRequest* request, v1::NodeLoad* response) {
  *response = load();
  return grpc::Status::OK;
}

v1::NodeLoad DecodeService::load() const {
  v1::NodeLoad load;
  load.set_running(batcher_.running());
  load.set_waiting(counters_.waiting.load() + batcher_.waiting());
  load.set_completed(counters_.completed.load());
  const KvPoolStats pool = model_->kv_pool_stats();
  load.set_kv_pages_used(pool.used_pages);
  load.set_kv_pages_total(pool.total_pages);
  return load;
}

}  // namespace dllm::decode

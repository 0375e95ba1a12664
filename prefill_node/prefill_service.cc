// Prepare = validate, take the model, prepare_prompt(), export any precomputed K/V under a lease.
#include "prefill_node/prefill_service.h"

#include <chrono>

#include "absl/strings/str_cat.h"
#include "common/kv/kv_rows.h"
#include "common/logging/event_log.h"
#include "common/pipeline/engine_request.h"
#include "proto/wire/engine_request_wire.h"
#include "proto/wire/status_mapping.h"

namespace dllm::prefill {
namespace {

using Clock = std::chrono::steady_clock;

}  // namespace

PrefillService::PrefillService(ServedModel* model, transfer::Transport* transport,
                               PrefillServiceOptions options)
    : model_(model),
      transport_(transport),
      options_(std::move(options)),
      chunk_cache_(options_.chunk_cache_pages),
      leases_(transport, options_.lease) {}

grpc::Status PrefillService::Prepare(grpc::ServerContext* context,
                                     const v1::PrepareRequest* request,
                                     v1::PrepareResponse* response) {
  const grpc::Status status = prepare(context, *request, response);
  const v1::PreparedPrompt& p = response->prepared();
  logging::event(status.ok() ? logging::Level::kInfo : logging::Level::kWarn, "prepare_done",
                 {logging::field("request_id", request->request().request_id()),
                  logging::field("policy", request->request().policy()),
                  logging::field("outcome",
                                 metrics::outcome_of(wire::from_grpc_status(status))),
                  logging::field("error", status.error_message()),
                  logging::field("prompt", p.prompt_size()),
                  logging::field("chunks", p.chunks()),
                  logging::field("selected", p.selected_chunks_size()),
                  logging::field("chunk_cache_hits", p.chunk_cache_hits()),
                  logging::field("kv_rows", p.frozen_len()),
                  logging::field("seconds", response->prepare_seconds())});
  if (metrics_ == nullptr) return status;
  const std::string& model = model_->name();
  const std::string& policy = request->request().policy();
  metrics_->requests(model, policy, metrics::outcome_of(wire::from_grpc_status(status)))
      .Increment();
  metrics_->sync_chunk_cache(model, chunk_cache_.stats());
  if (status.ok() && response->prepared().chunks() > 0)
    metrics_->selected_chunks(model, policy).Observe(response->prepared().selected_chunks_size());
  return status;
}

grpc::Status PrefillService::prepare(grpc::ServerContext* context,
                                     const v1::PrepareRequest& prepare_request,
                                     v1::PrepareResponse* response) {
  const v1::PrepareRequest* request = &prepare_request;
  const Clock::time_point t0 = Clock::now();
  const std::string& id = request->request().request_id();
  response->set_request_id(id);
  absl::StatusOr<EngineRequestSpec> spec =
      wire::spec_from_wire(request->request(), model_->config());
  if (!spec.ok()) return wire::to_grpc_status(spec.status());
  spec->model_id = model_->name();
  if (counters_.waiting.load() >= options_.max_waiting)
    return grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                        absl::StrCat("prefill node ", options_.node_id, ": ",
                                     counters_.waiting.load(), " requests already waiting"));

  LoadCounters::Stage waiting(counters_.waiting);
  std::unique_lock<std::mutex> lock(model_->mutex());
  waiting.end();
  LoadCounters::Stage running(counters_.running);
  auto given_up = [&] {
    std::lock_guard<std::mutex> l(aborted_mu_);
    return context->IsCancelled() || aborted_.erase(id) > 0;
  };
  if (given_up()) return grpc::Status(grpc::StatusCode::CANCELLED, "request cancelled");

  absl::StatusOr<PreparedPromptState> prepared =
      prepare_prompt(model_->model(), *spec, &chunk_cache_);
  if (!prepared.ok()) return wire::to_grpc_status(prepared.status());
  v1::PreparedPrompt* out = response->mutable_prepared();
  out->mutable_prompt()->Add(prepared->prompt.begin(), prepared->prompt.end());
  const PrefillingReport& rep = prepared->report;
  out->set_chunks(static_cast<int32_t>(rep.chunks.size()));
  out->mutable_selected_chunks()->Add(rep.selected.begin(), rep.selected.end());
  out->set_chunk_cache_hits(static_cast<int32_t>(rep.chunk_cache_hits));
  out->set_dense_fallback(rep.dense_fallback);

  if (prepared->frozen && prepared->frozen->frozen_len > 0) {
    const int rows = prepared->frozen->frozen_len;
    // A transport that reads device memory (cuda_ipc) gets the rows in the backend's memory:
    // GPU to GPU, no trip through the host.
    const KvRowsMemory memory = transport_->capabilities().device_memory
                                    ? KvRowsMemory::kBackend
                                    : KvRowsMemory::kHost;
    absl::StatusOr<KvRowsBuffer> exported =
        export_kv_rows(model_->model(), *prepared->frozen->cache, 0, rows, memory);
    if (!exported.ok()) return wire::to_grpc_status(exported.status());
    prepared->frozen.reset();  // its pages go back to the pool; the copy is what travels
    lock.unlock();
    if (given_up()) return grpc::Status(grpc::StatusCode::CANCELLED, "request cancelled");
    const KvRowsLayout layout = kv_rows_layout(model_->model(), rows);
    absl::StatusOr<HeldKv> held = leases_.hold(id, std::move(*exported));
    if (!held.ok()) return wire::to_grpc_status(held.status());
    out->set_frozen_len(rows);
    v1::KvHandle* kv = out->mutable_kv();
    kv->set_transport(std::string(transport_->name()));
    kv->set_transfer_descriptor(held->descriptor);
    kv->set_num_layers(layout.num_layers);
    kv->set_rows(rows);
    kv->set_row_bytes(static_cast<int64_t>(layout.row_bytes));
    kv->set_node_id(options_.node_id);
    kv->set_lease_id(held->lease_id);
    kv->set_lease_seconds(std::chrono::duration<double>(leases_.lease()).count());
  }
  counters_.completed.fetch_add(1);
  response->set_prepare_seconds(std::chrono::duration<double>(Clock::now() - t0).count());
  return grpc::Status::OK;
}

grpc::Status PrefillService::Release(grpc::ServerContext* context,
                                     const v1::ReleaseRequest* request,
                                     v1::ReleaseResponse* response) {
  response->set_released(leases_.release(request->lease_id()));
  return grpc::Status::OK;
}

grpc::Status PrefillService::Abort(grpc::ServerContext* context, const v1::AbortRequest* request,
                                   v1::AbortResponse* response) {
  // A Prepare that has not finished gives up at its next check; a finished one has nothing left
  // here but its lease, which the router releases.
  std::lock_guard<std::mutex> lock(aborted_mu_);
  if (aborted_.size() > 10000) aborted_.clear();  // ids of requests that never came: bounded
  aborted_.insert(request->request_id());
  response->set_found(counters_.running.load() + counters_.waiting.load() > 0);
  return grpc::Status::OK;
}

grpc::Status PrefillService::GetLoad(grpc::ServerContext* context,
                                     const v1::GetLoadRequest* request, v1::NodeLoad* response) {
  *response = load();
  return grpc::Status::OK;
}

v1::NodeLoad PrefillService::load() const {
  v1::NodeLoad load;
  load.set_running(counters_.running.load());
  load.set_waiting(counters_.waiting.load());
  load.set_completed(counters_.completed.load());
  load.set_held_leases(leases_.held());
  const KvPoolStats pool = model_->kv_pool_stats();
  load.set_kv_pages_used(pool.used_pages);
  load.set_kv_pages_total(pool.total_pages);
  for (uint64_t key : chunk_cache_.affinity_keys(options_.max_affinity_keys))
    load.add_chunk_keys(key);
  return load;
}

}  // namespace dllm::prefill

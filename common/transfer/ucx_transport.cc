// UcxEngine owns the worker and the books on both sides (regions + server for what we expose,
// peers + puller for what we pull). The Transport and every Registration share it, so a
// Registration that outlives its Transport still unexposes safely; the last owner tears it down.
#include "common/transfer/ucx_transport.h"

#include <chrono>
#include <future>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/transfer/range_check.h"
#include "common/transfer/ucx_am_send.h"
#include "common/transfer/ucx_descriptor.h"
#include "common/transfer/ucx_peers.h"
#include "common/transfer/ucx_pull_server.h"
#include "common/transfer/ucx_puller.h"
#include "common/transfer/ucx_regions.h"
#include "common/transfer/ucx_wire.h"
#include "common/transfer/ucx_worker.h"

namespace dllm::transfer {
namespace {

// How long shutdown keeps progressing for UCX to finish cancelled requests and closes.
constexpr auto kShutdownDrain = std::chrono::seconds(2);

SteadyTime deadline_after(absl::Duration timeout) {
  // Beyond a year is "never" (and keeps now() + timeout from overflowing).
  if (timeout > absl::Hours(24 * 365)) return SteadyTime::max();
  return std::chrono::steady_clock::now() +
         std::chrono::duration_cast<std::chrono::steady_clock::duration>(
             absl::ToChronoNanoseconds(std::max(timeout, absl::ZeroDuration())));
}

// What a Registration remembers of its region.
struct RegionKey {
  uint32_t slot = 0;
  uint64_t token = 0;
  size_t size = 0;
};

class UcxEngine {
 public:
  static absl::StatusOr<std::shared_ptr<UcxEngine>> create(const TransportOptions& options);
  ~UcxEngine();

  absl::StatusOr<RegionKey> expose(const void* data, size_t bytes, std::string* descriptor);
  void unexpose(uint32_t slot, uint64_t token);
  std::future<absl::Status> pull(UcxDescriptor descriptor, size_t offset, void* dst, size_t bytes,
                                 absl::Duration timeout);

 private:
  UcxEngine() = default;
  SteadyTime tick(SteadyTime now);
  void shut_down();  // on the progress thread

  UcxProtocol protocol_ = UcxProtocol::kActiveMessage;
  std::unique_ptr<UcxWorker> worker_;  // outlives the books below (they use its context)
  std::unique_ptr<RegionTable> regions_;
  std::unique_ptr<PullServer> server_;
  std::unique_ptr<PeerCache> peers_;
  std::unique_ptr<Puller> puller_;
};

absl::StatusOr<std::shared_ptr<UcxEngine>> UcxEngine::create(const TransportOptions& options) {
  std::shared_ptr<UcxEngine> e(new UcxEngine());
  e->protocol_ = resolve_ucx_protocol(options.ucx_protocol, options.ucx_tls);
  absl::StatusOr<std::unique_ptr<UcxWorker>> worker = UcxWorker::create(
      {.tls = options.ucx_tls, .tcp_segment_bytes = options.ucx_tcp_segment_bytes});
  if (!worker.ok()) return worker.status();
  e->worker_ = std::move(*worker);
  absl::StatusOr<std::unique_ptr<RegionTable>> regions =
      RegionTable::create(e->worker_->context(), options.ucx_max_regions);
  if (!regions.ok()) return regions.status();
  e->regions_ = std::move(*regions);
  e->server_ =
      std::make_unique<PullServer>(e->worker_.get(), e->regions_.get(), options.ucx_unexpose_grace);
  UcxEngine* raw = e.get();
  e->peers_ = std::make_unique<PeerCache>(
      e->worker_.get(),
      [raw](Peer* peer, const absl::Status& why) { raw->puller_->on_peer_failed(peer, why); });
  e->puller_ = std::make_unique<Puller>(e->worker_.get(), e->peers_.get(), options.ucx_piece_bytes,
                                        options.ucx_pieces_in_flight);
  if (absl::Status s = e->server_->install_request_handler(); !s.ok()) return s;
  if (absl::Status s = e->puller_->install_reply_handler(); !s.ok()) return s;
  e->worker_->start([raw](SteadyTime now) { return raw->tick(now); });
  return e;
}

UcxEngine::~UcxEngine() {
  if (worker_ != nullptr) worker_->stop([this] { shut_down(); });
}

void UcxEngine::shut_down() {
  const absl::Status why = absl::CancelledError("ucx transport shut down");
  ucp_worker_h w = worker_->worker();
  clear_active_message_handler(w, wire::kPullRequestAm);  // no new work from peers
  clear_active_message_handler(w, wire::kPullReplyAm);
  puller_->fail_all(why);
  peers_->fail_all(why);  // closing endpoints makes UCX finish the requests still writing
  auto busy = [&] {
    return !puller_->idle() || peers_->closes_in_flight() > 0 || server_->closes_in_flight() > 0 ||
           *worker_->active_message_sends() > 0;
  };
  const SteadyTime until = std::chrono::steady_clock::now() + kShutdownDrain;
  while (busy() && std::chrono::steady_clock::now() < until) ucp_worker_progress(w);
  const bool stuck = busy();
  puller_->abandon_all(why);
  if (stuck) {
    // UCX still holds callbacks into these; destroying the worker may run them. Leaked on
    // purpose rather than freed under UCX.
    (void)puller_.release();
    (void)peers_.release();
    (void)server_.release();
  }
  puller_.reset();
  peers_.reset();
  server_.reset();
  regions_.reset();  // unmaps while the context lives; the worker goes with worker_
}

SteadyTime UcxEngine::tick(SteadyTime now) {
  return std::min(puller_->tick(now), server_->tick(now));
}

absl::StatusOr<RegionKey> UcxEngine::expose(const void* data, size_t bytes,
                                            std::string* descriptor) {
  absl::StatusOr<ExposedRegion*> added = absl::InternalError("ucx transport is shutting down");
  UcxDescriptor d;
  worker_->run_sync([&] {
    added = regions_->add(data, bytes);
    if (!added.ok()) return;
    const ExposedRegion& r = **added;
    d.protocol = protocol_;
    d.worker_address = worker_->address();
    d.slot = r.slot;
    d.token = r.token;
    d.size = r.size;
    d.remote_address = reinterpret_cast<uint64_t>(r.base);
    d.rkey = r.rkey;
    d.token_address = regions_->token_address(r.slot);
    d.table_rkey = regions_->table_rkey();
  });
  if (!added.ok()) return added.status();
  *descriptor = encode_ucx_descriptor(d);
  return RegionKey{.slot = d.slot, .token = d.token, .size = bytes};
}

void UcxEngine::unexpose(uint32_t slot, uint64_t token) {
  std::promise<void> drained;
  std::future<void> done = drained.get_future();
  const bool posted = worker_->post([this, slot, token, &drained] {
    ExposedRegion* region = regions_->find(slot, token);
    if (region == nullptr) {
      drained.set_value();
      return;
    }
    server_->unexpose(region, [&drained] { drained.set_value(); });
  });
  if (posted) done.wait();
}

std::future<absl::Status> UcxEngine::pull(UcxDescriptor descriptor, size_t offset, void* dst,
                                          size_t bytes, absl::Duration timeout) {
  auto order = std::make_unique<PullOrder>();
  order->descriptor = std::move(descriptor);
  order->offset = offset;
  order->dst = static_cast<uint8_t*>(dst);
  order->bytes = bytes;
  order->deadline = deadline_after(timeout);
  std::future<absl::Status> result = order->promise.get_future();
  // std::function needs a copyable callable: hand the order over through a shared_ptr.
  auto shared = std::make_shared<std::unique_ptr<PullOrder>>(std::move(order));
  if (!worker_->post([this, shared] { puller_->start(std::move(*shared)); }))
    (*shared)->promise.set_value(absl::CancelledError("ucx transport shut down"));
  return result;
}

class UcxRegistration final : public Registration {
 public:
  UcxRegistration(std::shared_ptr<UcxEngine> engine, RegionKey region, std::string descriptor)
      : engine_(std::move(engine)), region_(region), descriptor_(std::move(descriptor)) {}
  ~UcxRegistration() override { engine_->unexpose(region_.slot, region_.token); }
  const std::string& descriptor() const override { return descriptor_; }
  size_t size() const override { return region_.size; }

 private:
  std::shared_ptr<UcxEngine> engine_;
  RegionKey region_;
  std::string descriptor_;
};

class UcxTransport final : public Transport {
 public:
  explicit UcxTransport(std::shared_ptr<UcxEngine> engine) : engine_(std::move(engine)) {}
  std::string_view name() const override { return "ucx"; }
  TransportCapabilities capabilities() const override { return {.cross_process = true}; }

  absl::StatusOr<std::unique_ptr<Registration>> expose(const void* data, size_t bytes) override {
    if (data == nullptr || bytes == 0)
      return absl::InvalidArgumentError("expose needs a non-empty region");
    std::string descriptor;
    absl::StatusOr<RegionKey> region = engine_->expose(data, bytes, &descriptor);
    if (!region.ok()) return region.status();
    return std::make_unique<UcxRegistration>(engine_, *region, std::move(descriptor));
  }

  std::future<absl::Status> pull_async(std::string_view descriptor, size_t offset, void* dst,
                                       size_t bytes, absl::Duration timeout) override {
    absl::StatusOr<UcxDescriptor> d = decode_ucx_descriptor(descriptor);
    if (!d.ok()) return ready_future(d.status());
    if (absl::Status s = check_pull_range(d->size, offset, bytes, dst); !s.ok())
      return ready_future(s);
    if (bytes == 0) return ready_future(absl::OkStatus());
    return engine_->pull(std::move(*d), offset, dst, bytes, timeout);
  }

 private:
  std::shared_ptr<UcxEngine> engine_;
};

}  // namespace

UcxProtocol resolve_ucx_protocol(UcxProtocol requested, const std::string& tls) {
  if (requested != UcxProtocol::kAuto) return requested;
  for (absl::string_view t : absl::StrSplit(tls, ',')) {
    if (t != "tcp") return UcxProtocol::kRma;
  }
  return UcxProtocol::kActiveMessage;
}

absl::StatusOr<std::unique_ptr<Transport>> make_ucx_transport(const TransportOptions& options) {
  absl::StatusOr<std::shared_ptr<UcxEngine>> engine = UcxEngine::create(options);
  if (!engine.ok()) return engine.status();
  return std::make_unique<UcxTransport>(std::move(*engine));
}

}  // namespace dllm::transfer

// NcclEngine: the exposing side's server (started on the first expose) and the pulling side's
// links (one per exposing server). The Transport and every Registration share it, so that a
// Registration outliving its Transport still unexposes safely.
#include "common/transfer/nccl_transport.h"

#include <map>
#include <mutex>
#include <tuple>

#include "common/transfer/nccl_descriptor.h"
#include "common/transfer/nccl_pull_server.h"
#include "common/transfer/nccl_puller.h"
#include "common/transfer/range_check.h"
#include "common/transfer/tcp_socket.h"
#if DLLM_TRANSFER_HAVE_NCCL
#include "common/transfer/nccl_pair_channel.h"
#endif

namespace dllm::transfer {
namespace {

class NcclRegistration final : public Registration {
 public:
  NcclRegistration(std::shared_ptr<NcclPullServer> server, uint64_t region, size_t size,
                   std::string descriptor)
      : server_(std::move(server)),
        region_(region),
        size_(size),
        descriptor_(std::move(descriptor)) {}
  ~NcclRegistration() override { server_->unexpose(region_); }
  const std::string& descriptor() const override { return descriptor_; }
  size_t size() const override { return size_; }

 private:
  std::shared_ptr<NcclPullServer> server_;
  uint64_t region_;
  size_t size_;
  std::string descriptor_;
};

class NcclTransport final : public Transport {
 public:
  NcclTransport(const TransportOptions& options, std::shared_ptr<PairChannelFactory> channels)
      : options_(options), channels_(std::move(channels)) {}

  ~NcclTransport() override {
    std::lock_guard<std::mutex> lock(mu_);
    links_.clear();  // fails queued pulls, aborts the one in flight of each peer
  }

  std::string_view name() const override { return "nccl"; }
  TransportCapabilities capabilities() const override {
    return {.cross_process = true, .device_memory = channels_->device_memory()};
  }

  absl::StatusOr<std::unique_ptr<Registration>> expose(const void* data, size_t bytes) override {
    if (data == nullptr || bytes == 0)
      return absl::InvalidArgumentError("expose needs a non-empty region");
    if (absl::Status s = channels_->check_buffer(data, bytes); !s.ok()) return s;
    std::shared_ptr<NcclPullServer> server;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (server_ == nullptr) {
        absl::StatusOr<std::shared_ptr<NcclPullServer>> started =
            NcclPullServer::start(options_, channels_);
        if (!started.ok()) return started.status();
        server_ = *std::move(started);
      }
      server = server_;
    }
    uint64_t region = 0;
    std::string descriptor = server->expose(data, bytes, &region);
    return std::make_unique<NcclRegistration>(std::move(server), region, bytes,
                                              std::move(descriptor));
  }

  std::future<absl::Status> pull_async(std::string_view descriptor, size_t offset, void* dst,
                                       size_t bytes, absl::Duration timeout) override {
    absl::StatusOr<NcclDescriptor> d = decode_nccl_descriptor(descriptor);
    if (!d.ok()) return ready_future(d.status());
    if (absl::Status s = check_pull_range(d->size, offset, bytes, dst); !s.ok())
      return ready_future(s);
    if (bytes == 0) return ready_future(absl::OkStatus());
    if (absl::Status s = channels_->check_buffer(dst, bytes); !s.ok()) return ready_future(s);
    auto order = std::make_unique<NcclPullOrder>();
    order->region = d->region;
    order->offset = offset;
    order->dst = static_cast<uint8_t*>(dst);
    order->bytes = bytes;
    order->deadline = steady_deadline_after(timeout);
    std::future<absl::Status> done = order->done.get_future();
    std::lock_guard<std::mutex> lock(mu_);
    const auto key = std::make_tuple(d->control_host, d->control_port, d->instance);
    std::unique_ptr<NcclPeerLink>& link = links_[key];
    if (link == nullptr || !link->submit(order)) {
      link = std::make_unique<NcclPeerLink>(channels_, *d);  // joins a closed one's thread
      link->submit(order);
    }
    std::erase_if(links_, [](auto& kv) { return kv.second->closed(); });
    return done;
  }

 private:
  const TransportOptions options_;
  const std::shared_ptr<PairChannelFactory> channels_;
  std::mutex mu_;
  std::shared_ptr<NcclPullServer> server_;
  std::map<std::tuple<std::string, uint16_t, uint64_t>, std::unique_ptr<NcclPeerLink>> links_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Transport>> make_nccl_transport_over(
    const TransportOptions& options, std::shared_ptr<PairChannelFactory> channels) {
  if (channels == nullptr) return absl::InvalidArgumentError("nccl: no pair channel factory");
  if (options.nccl_piece_bytes == 0)
    return absl::InvalidArgumentError("nccl_piece_bytes must be positive");
  return std::make_unique<NcclTransport>(options, std::move(channels));
}

#if DLLM_TRANSFER_HAVE_NCCL
absl::StatusOr<std::unique_ptr<Transport>> make_nccl_transport(const TransportOptions& options) {
  absl::StatusOr<std::shared_ptr<PairChannelFactory>> channels =
      make_nccl_pair_channel_factory(options);
  if (!channels.ok()) return channels.status();
  return make_nccl_transport_over(options, *std::move(channels));
}
#endif

}  // namespace dllm::transfer

// MetricsExposer over prometheus-cpp's civetweb Exposer; its exceptions end here as a Status.
#include "common/metrics/metrics_exposer.h"

#include <exception>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "prometheus/exposer.h"

namespace dllm::metrics {

MetricsExposer::MetricsExposer(std::unique_ptr<prometheus::Exposer> exposer, ListenAddress address)
    : exposer_(std::move(exposer)), address_(std::move(address)) {}

MetricsExposer::~MetricsExposer() = default;

absl::StatusOr<std::unique_ptr<MetricsExposer>> MetricsExposer::start(
    const ListenAddress& listen, std::weak_ptr<prometheus::Collectable> collectable) {
  const std::string bind = listen.to_string();
  std::unique_ptr<prometheus::Exposer> exposer;
  try {
    exposer = std::make_unique<prometheus::Exposer>(bind, /*num_threads=*/2);
  } catch (const std::exception& e) {
    return absl::UnavailableError(
        absl::StrCat("cannot serve metrics on ", bind, ": ", e.what(), " (address in use?)"));
  }
  const std::vector<int> ports = exposer->GetListeningPorts();
  if (ports.empty())
    return absl::InternalError(absl::StrCat("metrics on ", bind, ": no port bound"));
  ListenAddress bound = listen;
  bound.port = ports.front();
  exposer->RegisterCollectable(collectable);
  return std::unique_ptr<MetricsExposer>(new MetricsExposer(std::move(exposer), std::move(bound)));
}

absl::StatusOr<std::unique_ptr<MetricsExposer>> MetricsExposer::start(
    std::string_view listen, std::weak_ptr<prometheus::Collectable> collectable) {
  absl::StatusOr<ListenAddress> address = parse_listen_address(listen);
  if (!address.ok()) return address.status();
  return start(*address, std::move(collectable));
}

void MetricsExposer::add(std::weak_ptr<prometheus::Collectable> collectable) {
  exposer_->RegisterCollectable(collectable);
}

}  // namespace dllm::metrics

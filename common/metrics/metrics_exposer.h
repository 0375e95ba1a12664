// MetricsExposer: serves a process's Prometheus registries at http://HOST:PORT/metrics.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "common/metrics/listen_address.h"

namespace prometheus {
class Collectable;
class Exposer;
}  // namespace prometheus

namespace dllm::metrics {

class MetricsExposer {
 public:
  // Binds `listen` (port 0 picks a free port) and serves `collectable` (usually
  // ServingMetrics::registry()) at /metrics from two civetweb threads. Unavailable when the
  // address cannot be bound.
  static absl::StatusOr<std::unique_ptr<MetricsExposer>> start(
      const ListenAddress& listen, std::weak_ptr<prometheus::Collectable> collectable);
  // The same from a flag value; InvalidArgument for a malformed address.
  static absl::StatusOr<std::unique_ptr<MetricsExposer>> start(
      std::string_view listen, std::weak_ptr<prometheus::Collectable> collectable);

  ~MetricsExposer();
  MetricsExposer(const MetricsExposer&) = delete;
  MetricsExposer& operator=(const MetricsExposer&) = delete;

  // Another registry on the same /metrics page.
  void add(std::weak_ptr<prometheus::Collectable> collectable);
  int port() const { return address_.port; }
  // HOST:PORT actually bound (port 0 resolved): what a Prometheus scrape config names.
  std::string address() const { return address_.to_string(); }

 private:
  MetricsExposer(std::unique_ptr<prometheus::Exposer> exposer, ListenAddress address);

  std::unique_ptr<prometheus::Exposer> exposer_;
  ListenAddress address_;
};

}  // namespace dllm::metrics

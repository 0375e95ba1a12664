// MetricsExposer: serves a process's Prometheus registries at http://HOST:PORT/metrics.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "common/metrics/listen_address.h"

namespace prometheus {
class Collectable;
}  // namespace prometheus

namespace dllm::http {
class HttpServer;
}  // namespace dllm::http

namespace dllm::metrics {

class MetricsExposer {
 public:
  // Binds `listen` (port 0 picks a free port) and serves `collectable` (usually
  // ServingMetrics::registry()) at /metrics in the Prometheus text format (version 0.0.4), on the
  // project's HTTP server (common/http; a thread per scrape connection, at most 16). Unavailable
  // when the address cannot be bound.
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
  MetricsExposer() = default;
  // The text page of every registry still alive (a destroyed one drops out).
  std::string render();

  std::mutex mu_;
  std::vector<std::weak_ptr<prometheus::Collectable>> collectables_;  // guarded by mu_
  ListenAddress address_;
  std::unique_ptr<http::HttpServer> server_;  // last: stopped first, while the rest still lives
};

}  // namespace dllm::metrics

// MetricsExposer: prometheus-cpp's registries rendered by its TextSerializer, served by
// common/http. (prometheus-cpp's own civetweb Exposer failed to start inside CUDA builds of the
// serving processes; this path has no third-party server threads at all.)
#include "common/metrics/metrics_exposer.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/http/http_server.h"
#include "prometheus/collectable.h"
#include "prometheus/metric_family.h"
#include "prometheus/text_serializer.h"

namespace dllm::metrics {
namespace {

constexpr char kTextFormat[] = "text/plain; version=0.0.4; charset=utf-8";

}  // namespace

MetricsExposer::~MetricsExposer() {
  if (server_) server_->stop();
}

absl::StatusOr<std::unique_ptr<MetricsExposer>> MetricsExposer::start(
    const ListenAddress& listen, std::weak_ptr<prometheus::Collectable> collectable) {
  std::unique_ptr<MetricsExposer> exposer(new MetricsExposer());
  exposer->collectables_.push_back(std::move(collectable));
  http::HttpServerOptions options;
  options.max_body_bytes = 64 << 10;  // a scrape is a GET; nothing large is ever posted
  options.max_connections = 16;
  MetricsExposer* self = exposer.get();
  absl::StatusOr<std::unique_ptr<http::HttpServer>> server = http::HttpServer::start(
      listen.to_string(), std::move(options),
      [self](const http::HttpRequest& request, http::HttpResponder& responder) {
        if (request.path != "/metrics") {
          responder.respond(404, "text/plain", "not found: metrics are at /metrics\n");
          return;
        }
        if (request.method != "GET" && request.method != "HEAD") {
          responder.respond(405, "text/plain", "only GET /metrics\n", {{"Allow", "GET, HEAD"}});
          return;
        }
        const std::string page = self->render();
        responder.respond(200, kTextFormat, request.method == "HEAD" ? "" : page);
      });
  if (!server.ok()) {
    return absl::UnavailableError(absl::StrCat("cannot serve metrics on ", listen.to_string(),
                                               ": ", server.status().message()));
  }
  exposer->address_ = listen;
  exposer->address_.port = (*server)->port();
  exposer->server_ = std::move(*server);
  return exposer;
}

absl::StatusOr<std::unique_ptr<MetricsExposer>> MetricsExposer::start(
    std::string_view listen, std::weak_ptr<prometheus::Collectable> collectable) {
  absl::StatusOr<ListenAddress> address = parse_listen_address(listen);
  if (!address.ok()) return address.status();
  return start(*address, std::move(collectable));
}

void MetricsExposer::add(std::weak_ptr<prometheus::Collectable> collectable) {
  std::lock_guard<std::mutex> lock(mu_);
  collectables_.push_back(std::move(collectable));
}

std::string MetricsExposer::render() {
  std::vector<prometheus::MetricFamily> families;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const std::weak_ptr<prometheus::Collectable>& weak : collectables_) {
      if (std::shared_ptr<prometheus::Collectable> collectable = weak.lock()) {
        std::vector<prometheus::MetricFamily> collected = collectable->Collect();
        families.insert(families.end(), std::make_move_iterator(collected.begin()),
                        std::make_move_iterator(collected.end()));
      }
    }
  }
  return prometheus::TextSerializer().Serialize(families);
}

}  // namespace dllm::metrics

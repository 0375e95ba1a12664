// The Prometheus harness against a test-only exporter (MetricsExposer + ServingMetrics in this
// process): a real Prometheus scrapes it, loads the deploy alert rules, and its query API sees
// a counter move by exactly what the test added.
#include "tests/integration/prometheus_harness.h"

#include <string>

#include "common/metrics/metrics_exposer.h"
#include "common/metrics/serving_metrics.h"
#include "gtest/gtest.h"

namespace dllm::testing {
namespace {

TEST(PrometheusHarnessTest, QueryResultMovesByWhatTheExporterAdded) {
  auto metrics = metrics::ServingMetrics::create("all", "harness-0");
  ASSERT_TRUE(metrics.ok()) << metrics.status();
  metrics::ServingMetrics& m = **metrics;
  prometheus::Counter& ok = m.requests("tiny", "dense", metrics::request_outcome::kOk);
  ok.Increment(2);  // the series exists before the first scrape
  prometheus::Histogram& ttfb = m.time_to_first_block("tiny", "dense");
  auto exposer = metrics::MetricsExposer::start("127.0.0.1:0", m.registry());
  ASSERT_TRUE(exposer.ok()) << exposer.status();

  PrometheusHarness::Options options;
  options.targets = {(*exposer)->address()};
  options.rule_files = {std::string(DLLM_SOURCE_DIR) + "/deploy/prometheus/alerts.yml"};
  auto prom = PrometheusHarness::start(options);
  ASSERT_TRUE(prom.ok()) << prom.status();
  ASSERT_TRUE((*prom)->wait_for_targets_up().ok()) << (*prom)->log();

  const std::string requests =
      R"(dllm_requests_total{role="all",node="harness-0",model="tiny",policy="dense",outcome="ok"})";
  const std::string ttfb_count = R"(dllm_time_to_first_block_seconds_count{node="harness-0"})";
  auto before = (*prom)->wait_for_value(requests, [](double) { return true; });
  ASSERT_TRUE(before.ok()) << before.status();
  EXPECT_EQ(*before, 2.0);

  constexpr int kAdded = 7;
  for (int i = 0; i < kAdded; ++i) {
    ok.Increment();
    ttfb.Observe(0.01 * (i + 1));
  }
  auto after = (*prom)->wait_for_value(requests, [&](double v) { return v != *before; });
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_EQ(*after - *before, kAdded);
  auto count = (*prom)->wait_for_value(ttfb_count, [](double v) { return v == kAdded; });
  EXPECT_TRUE(count.ok()) << count.status();

  // The deploy alert rules loaded in the real server.
  auto rules = (*prom)->api("rules");
  ASSERT_TRUE(rules.ok()) << rules.status();
  size_t alerting = 0;
  for (const auto& group : (*rules)["groups"]) {
    for (const auto& rule : group["rules"]) alerting += rule.value("type", "") == "alerting";
  }
  EXPECT_GE(alerting, 5u);

  EXPECT_TRUE((*prom)->stop().ok()) << (*prom)->log();
}

TEST(PrometheusHarnessTest, MissingBinaryIsAnError) {
  PrometheusHarness::Options options;
  options.binary = "/nonexistent/prometheus";
  options.targets = {"127.0.0.1:1"};
  auto prom = PrometheusHarness::start(options);
  ASSERT_FALSE(prom.ok());
  EXPECT_EQ(prom.status().code(), absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace dllm::testing

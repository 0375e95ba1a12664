// A real Prometheus scraping a real cluster (router + prefill + decode processes, each with
// --metrics-listen): after traffic the key series exist and moved by what was sent.
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/integration/prometheus_harness.h"
#include "tests/integration/serving_process.h"

namespace dllm {
namespace {

using namespace testing_serve;

TEST(ClusterMetricsTest, PrometheusSeesRequestsLatenciesTransfersAndNodes) {
  const std::vector<std::string> metrics = {"--metrics-listen", "127.0.0.1:0"};
  Cluster cluster(1, 1, metrics, metrics);
  ASSERT_TRUE(cluster.ok()) << cluster.logs();
  const std::vector<std::string> targets = cluster.metrics_addresses();
  ASSERT_EQ(targets.size(), 3u) << cluster.logs();

  testing::PrometheusHarness::Options options;
  options.targets = targets;
  options.rule_files = {std::string(DLLM_SOURCE_DIR) + "/deploy/prometheus/alerts.yml"};
  auto prom = testing::PrometheusHarness::start(options);
  ASSERT_TRUE(prom.ok()) << prom.status();
  ASSERT_TRUE((*prom)->wait_for_targets_up().ok()) << (*prom)->log();

  // Traffic: dense requests, prefilling-reuse requests (their K/V crosses over UCX), and bad ones.
  constexpr int kDense = 4, kReuse = 2, kBad = 3;
  auto stub = cluster.stub();
  for (int i = 0; i < kDense; ++i) {
    v1::GenerateRequest r;
    for (int id : {1, 2, 3 + i}) r.mutable_ids()->add_ids(id);
    r.mutable_params()->set_gen_length(16);
    r.mutable_params()->set_block_length(8);
    std::vector<v1::GenerateResponse> out;
    ASSERT_TRUE(generate(*stub, r, &out).ok()) << cluster.logs();
  }
  for (int i = 0; i < kReuse; ++i) {
    v1::GenerateRequest r;
    r.set_text("Where does the fox live?");
    r.set_context(
        "The red fox lives in the old forest near the river. Every morning the fox walks to the "
        "water and drinks. The blue bird sings on the tall tree while the sun rises.");
    r.set_policy("prefilling");
    r.mutable_prefilling()->set_chunk_size(16);
    r.mutable_prefilling()->set_top_k(2);
    r.mutable_prefilling()->set_chunk_mode("reuse");
    r.mutable_params()->set_gen_length(8);
    r.mutable_params()->set_block_length(8);
    std::vector<v1::GenerateResponse> out;
    ASSERT_TRUE(generate(*stub, r, &out).ok()) << cluster.logs();
  }
  for (int i = 0; i < kBad; ++i) {
    v1::GenerateRequest r;
    r.set_text("");
    std::vector<v1::GenerateResponse> out;
    EXPECT_EQ(generate(*stub, r, &out).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  }

  auto expect_value = [&](const std::string& promql, double want) {
    auto v = (*prom)->wait_for_value(promql, [&](double x) { return x == want; });
    EXPECT_TRUE(v.ok()) << v.status() << "\n" << cluster.logs();
  };
  auto expect_positive = [&](const std::string& promql) {
    auto v = (*prom)->wait_for_value(promql, [](double x) { return x > 0; });
    EXPECT_TRUE(v.ok()) << v.status();
  };
  expect_value(R"(sum(dllm_requests_total{role="router",outcome="ok"}))", kDense + kReuse);
  expect_value(R"(sum(dllm_requests_total{role="router",outcome="invalid"}))", kBad);
  expect_value(R"(sum(dllm_requests_total{role="decode",outcome="ok"}))", kDense + kReuse);
  expect_value(R"(sum(dllm_requests_total{role="prefill",outcome="ok"}))", kDense + kReuse);
  expect_value(R"(sum(dllm_time_to_first_block_seconds_count{role="router"}))", kDense + kReuse);
  expect_value(R"(sum(dllm_generated_tokens_total{role="router"}))", kDense * 16 + kReuse * 8);
  expect_value(R"(sum(dllm_router_placements_total{stage="decode",outcome="placed"}))",
               kDense + kReuse);
  expect_value(R"(sum(dllm_kv_transfer_duration_seconds_count{transport="ucx"}))", kReuse);
  expect_positive(R"(sum(dllm_kv_transfer_bytes_total{transport="ucx"}))");
  expect_value(R"(sum(dllm_selected_chunks_count{role="prefill"}))", kReuse);
  expect_value(R"(sum(dllm_node_up{role="router"}))", 2);
  expect_positive(R"(sum(dllm_kv_pool_pages{role="decode"}))");
  EXPECT_TRUE((*prom)->stop().ok());
}

}  // namespace
}  // namespace dllm

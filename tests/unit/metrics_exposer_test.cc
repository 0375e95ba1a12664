// MetricsExposer serves ServingMetrics over real HTTP on loopback; --metrics-listen parsing.
#include "common/metrics/metrics_exposer.h"

#include <string>

#include "common/metrics/serving_metrics.h"
#include "gtest/gtest.h"
#include "tests/loopback_http.h"
#include "tests/metrics_text.h"

namespace dllm::metrics {
namespace {

using dllm::testing::find_sample;
using dllm::testing::http_get;

TEST(MetricsExposerTest, ServesSeriesOverHttp) {
  auto metrics = ServingMetrics::create("decode", "decode-0");
  ASSERT_TRUE(metrics.ok()) << metrics.status();
  auto exposer = MetricsExposer::start("127.0.0.1:0", (*metrics)->registry());
  ASSERT_TRUE(exposer.ok()) << exposer.status();
  ASSERT_GT((*exposer)->port(), 0);
  EXPECT_EQ((*exposer)->address(), "127.0.0.1:" + std::to_string((*exposer)->port()));

  (*metrics)->requests("llada-tiny", "focus", request_outcome::kOk).Increment(3);
  (*metrics)->requests("llada-tiny", "focus", request_outcome::kCancelled).Increment();
  (*metrics)->time_to_first_block("llada-tiny", "focus").Observe(0.004);
  (*metrics)->time_to_first_block("llada-tiny", "focus").Observe(2.0);
  (*metrics)->waiting_requests("llada-tiny").Set(5);
  (*metrics)->set_kv_pool({.total_pages = 100, .used_pages = 25, .page_bytes = 1024});

  auto page = http_get("127.0.0.1", (*exposer)->port(), "/metrics");
  ASSERT_TRUE(page.ok()) << page.status();
  ASSERT_EQ(page->status, 200);
  const std::string& text = page->body;
  const std::map<std::string, std::string> self = {{"role", "decode"}, {"node", "decode-0"}};
  auto with = [&](std::map<std::string, std::string> extra) {
    extra.insert(self.begin(), self.end());
    return extra;
  };
  EXPECT_EQ(find_sample(text, "dllm_requests_total",
                        with({{"model", "llada-tiny"}, {"policy", "focus"}, {"outcome", "ok"}})),
            3.0);
  EXPECT_EQ(find_sample(text, "dllm_requests_total", with({{"outcome", "cancelled"}})), 1.0);
  EXPECT_EQ(find_sample(text, "dllm_time_to_first_block_seconds_count", with({})), 2.0);
  EXPECT_EQ(find_sample(text, "dllm_time_to_first_block_seconds_sum", with({})), 2.004);
  EXPECT_EQ(find_sample(text, "dllm_time_to_first_block_seconds_bucket", with({{"le", "0.005"}})),
            1.0);
  EXPECT_EQ(find_sample(text, "dllm_time_to_first_block_seconds_bucket", with({{"le", "+Inf"}})),
            2.0);
  EXPECT_EQ(find_sample(text, "dllm_requests_waiting", with({{"model", "llada-tiny"}})), 5.0);
  EXPECT_EQ(find_sample(text, "dllm_kv_pool_pages", with({{"state", "used"}})), 25.0);
  EXPECT_EQ(find_sample(text, "dllm_kv_pool_bytes", with({{"state", "free"}})), 75.0 * 1024);
  EXPECT_EQ(find_sample(text, "dllm_kv_pool_usage_ratio", with({})), 0.25);
  EXPECT_TRUE(find_sample(text, "dllm_process_start_time_seconds", with({})).has_value());

  // A second scrape sees later updates.
  (*metrics)->requests("llada-tiny", "focus", request_outcome::kOk).Increment(2);
  page = http_get("127.0.0.1", (*exposer)->port(), "/metrics");
  ASSERT_TRUE(page.ok()) << page.status();
  EXPECT_EQ(find_sample(page->body, "dllm_requests_total", with({{"outcome", "ok"}})), 5.0);
}

TEST(MetricsExposerTest, PortInUseIsAnError) {
  auto metrics = ServingMetrics::create("router", "router-0");
  ASSERT_TRUE(metrics.ok());
  auto first = MetricsExposer::start("127.0.0.1:0", (*metrics)->registry());
  ASSERT_TRUE(first.ok()) << first.status();
  auto second = MetricsExposer::start((*first)->address(), (*metrics)->registry());
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(second.status().message().find((*first)->address()), std::string::npos)
      << second.status();
}

TEST(MetricsExposerTest, MalformedAddressIsInvalidArgument) {
  auto metrics = ServingMetrics::create("prefill", "prefill-0");
  ASSERT_TRUE(metrics.ok());
  auto exposer = MetricsExposer::start("metrics.example:9464", (*metrics)->registry());
  ASSERT_FALSE(exposer.ok());
  EXPECT_EQ(exposer.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(ListenAddressTest, AcceptsIpLiteralsAndLocalhost) {
  struct Case {
    const char* text;
    const char* host;
    int port;
  };
  for (const Case& c : {Case{"127.0.0.1:9464", "127.0.0.1", 9464}, Case{"0.0.0.0:0", "0.0.0.0", 0},
                        Case{"localhost:65535", "127.0.0.1", 65535},
                        Case{"[::1]:9465", "::1", 9465}, Case{"[::]:80", "::", 80}}) {
    auto a = parse_listen_address(c.text);
    ASSERT_TRUE(a.ok()) << c.text << ": " << a.status();
    EXPECT_EQ(a->host, c.host);
    EXPECT_EQ(a->port, c.port);
  }
  EXPECT_EQ(parse_listen_address("[::1]:9465")->to_string(), "[::1]:9465");
  EXPECT_EQ(parse_listen_address("localhost:1")->to_string(), "127.0.0.1:1");
}

TEST(ListenAddressTest, RejectsBadAddressesNamingFlagAndValue) {
  for (const char* text : {"", "9464", ":9464", "127.0.0.1:", "127.0.0.1:http", "127.0.0.1:-1",
                           "127.0.0.1:65536", "127.0.0.1:99999999999", "metrics.example:9464",
                           "::1:9464", "[::1:9464", "256.0.0.1:80", "127.0.0.1:94 64"}) {
    auto a = parse_listen_address(text, "--metrics-listen");
    ASSERT_FALSE(a.ok()) << "accepted \"" << text << "\"";
    EXPECT_EQ(a.status().code(), absl::StatusCode::kInvalidArgument);
    const std::string message(a.status().message());
    EXPECT_NE(message.find("--metrics-listen \"" + std::string(text) + "\""), std::string::npos)
        << message;
    EXPECT_NE(message.find("HOST:PORT"), std::string::npos) << message;
  }
}

}  // namespace
}  // namespace dllm::metrics

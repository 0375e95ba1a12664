// promtool (Debian's prometheus package) accepts a real scrape of the exposer, and the
// deploy/prometheus config, alert rules and alert rule tests.
#include <sys/wait.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "common/metrics/metrics_exposer.h"
#include "common/metrics/serving_metrics.h"
#include "gtest/gtest.h"
#include "tests/loopback_http.h"
#include "tests/unit/metrics_test_util.h"

namespace dllm::metrics {
namespace {

const std::string kDeploy = std::string(DLLM_SOURCE_DIR) + "/deploy/prometheus";

struct CommandResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr
};

CommandResult run(const std::string& command) {
  CommandResult r;
  FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  if (pipe == nullptr) return r;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, pipe)) > 0) r.output.append(buf, n);
  const int status = pclose(pipe);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

TEST(MetricsPromtoolTest, ScrapePassesCheckMetrics) {
  auto metrics = ServingMetrics::create("decode", "decode-0");
  ASSERT_TRUE(metrics.ok()) << metrics.status();
  touch_every_family(**metrics);
  auto exposer = MetricsExposer::start("127.0.0.1:0", (*metrics)->registry());
  ASSERT_TRUE(exposer.ok()) << exposer.status();
  auto page = dllm::testing::http_get("127.0.0.1", (*exposer)->port(), "/metrics");
  ASSERT_TRUE(page.ok()) << page.status();
  ASSERT_EQ(page->status, 200);
  const std::string path = ::testing::TempDir() + "/dllm_scrape.prom";
  std::ofstream(path) << page->body;
  const CommandResult r = run("promtool check metrics < '" + path + "'");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output, "") << "promtool lint findings";
  std::remove(path.c_str());
}

TEST(MetricsPromtoolTest, DeployConfigAndRulesAreValid) {
  CommandResult r = run("promtool check config '" + kDeploy + "/prometheus.yml'");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  r = run("promtool check rules '" + kDeploy + "/alerts.yml'");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  r = run("promtool test rules '" + kDeploy + "/alerts_test.yml'");
  EXPECT_EQ(r.exit_code, 0) << r.output;
}

}  // namespace
}  // namespace dllm::metrics

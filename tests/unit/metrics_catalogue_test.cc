// The ServingMetrics catalogue: naming rules, every family exported, documented, and the
// typed helpers (outcomes, cumulative stats turned into counters).
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <string>

#include "common/metrics/serving_metrics.h"
#include "gtest/gtest.h"
#include "tests/unit/metrics_test_util.h"

namespace dllm::metrics {
namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

TEST(MetricsCatalogueTest, NamesFollowPrometheusConventions) {
  const std::regex name_re("dllm_[a-z0-9_]+");
  const std::regex label_re("[a-z_][a-z0-9_]*");
  std::set<std::string> seen;
  for (const MetricFamilyInfo& f : serving_metric_families()) {
    EXPECT_TRUE(std::regex_match(f.name, name_re)) << f.name;
    EXPECT_TRUE(seen.insert(f.name).second) << "duplicate " << f.name;
    EXPECT_FALSE(f.help.empty()) << f.name;
    if (f.type == MetricType::kCounter) {
      EXPECT_TRUE(ends_with(f.name, "_total")) << f.name << " is a counter";
    } else {
      EXPECT_FALSE(ends_with(f.name, "_total")) << f.name << " is not a counter";
    }
    // Base units: durations in seconds, sizes in bytes, shares as ratios.
    if (f.name.find("time") != std::string::npos || f.name.find("duration") != std::string::npos) {
      EXPECT_TRUE(ends_with(f.name, "_seconds")) << f.name;
    }
    for (const std::string& label : f.labels) {
      EXPECT_TRUE(std::regex_match(label, label_re)) << f.name << " label " << label;
      EXPECT_NE(label, "role") << "role is a constant label";
      EXPECT_NE(label, "node") << "node is a constant label";
      EXPECT_NE(label, "le");
    }
  }
  EXPECT_EQ(serving_metric_names().size(), serving_metric_families().size());
}

TEST(MetricsCatalogueTest, RegistryExportsExactlyTheCatalogue) {
  auto metrics = ServingMetrics::create("all", "laptop");
  ASSERT_TRUE(metrics.ok()) << metrics.status();
  touch_every_family(**metrics);
  std::set<std::string> exported;
  for (const prometheus::MetricFamily& f : (*metrics)->registry()->Collect()) {
    exported.insert(f.name);
    for (const prometheus::ClientMetric& m : f.metric) {
      std::map<std::string, std::string> labels;
      for (const auto& l : m.label) labels[l.name] = l.value;
      EXPECT_EQ(labels["role"], "all") << f.name;
      EXPECT_EQ(labels["node"], "laptop") << f.name;
    }
  }
  const std::vector<std::string> names = serving_metric_names();
  EXPECT_EQ(exported, std::set<std::string>(names.begin(), names.end()));
}

TEST(MetricsCatalogueTest, EveryFamilyIsDocumentedInOperations) {
  std::ifstream in(std::string(DLLM_SOURCE_DIR) + "/docs/OPERATIONS.md");
  ASSERT_TRUE(in) << "docs/OPERATIONS.md is missing";
  std::stringstream doc;
  doc << in.rdbuf();
  for (const MetricFamilyInfo& f : serving_metric_families()) {
    // A table row: | `name` | type | labels | meaning |
    const std::string row = "| `" + f.name + "` | " + metric_type_name(f.type) + " |";
    EXPECT_NE(doc.str().find(row), std::string::npos) << "no row \"" << row << "\"";
  }
}

TEST(MetricsCatalogueTest, RejectsUnknownRoleAndEmptyNode) {
  auto bad_role = ServingMetrics::create("scheduler", "n0");
  ASSERT_FALSE(bad_role.ok());
  EXPECT_EQ(bad_role.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bad_role.status().message().find("scheduler"), std::string::npos);
  EXPECT_FALSE(ServingMetrics::create("router", "").ok());
  for (const char* role : {"router", "prefill", "decode", "all"}) {
    EXPECT_TRUE(ServingMetrics::create(role, "n0").ok()) << role;
  }
}

TEST(MetricsCatalogueTest, OutcomeOfStatus) {
  EXPECT_EQ(outcome_of(absl::OkStatus()), "ok");
  EXPECT_EQ(outcome_of(absl::CancelledError("")), "cancelled");
  EXPECT_EQ(outcome_of(absl::InvalidArgumentError("")), "invalid");
  EXPECT_EQ(outcome_of(absl::ResourceExhaustedError("")), "rejected");
  EXPECT_EQ(outcome_of(absl::DeadlineExceededError("")), "timeout");
  EXPECT_EQ(outcome_of(absl::UnavailableError("")), "unavailable");
  EXPECT_EQ(outcome_of(absl::InternalError("")), "error");
}

TEST(MetricsCatalogueTest, ChunkCacheStatsBecomeCounterIncrements) {
  auto metrics = ServingMetrics::create("prefill", "p0");
  ASSERT_TRUE(metrics.ok());
  ServingMetrics& m = **metrics;
  m.sync_chunk_cache("tiny", {.hits = 3, .misses = 5, .evictions = 1, .entries = 4, .pages = 8});
  m.sync_chunk_cache("tiny", {.hits = 10, .misses = 6, .evictions = 1, .entries = 5, .pages = 9});
  EXPECT_EQ(m.chunk_cache_hits("tiny").Value(), 10);
  EXPECT_EQ(m.chunk_cache_misses("tiny").Value(), 6);
  EXPECT_EQ(m.chunk_cache_evictions("tiny").Value(), 1);
  // A new cache (its counts restart) adds what it did, never subtracts.
  m.sync_chunk_cache("tiny", {.hits = 2, .misses = 1, .evictions = 0, .entries = 1, .pages = 1});
  EXPECT_EQ(m.chunk_cache_hits("tiny").Value(), 12);
  EXPECT_EQ(m.chunk_cache_misses("tiny").Value(), 7);
}

TEST(MetricsCatalogueTest, KvPoolAndFocusHelpers) {
  auto metrics = ServingMetrics::create("decode", "d0");
  ASSERT_TRUE(metrics.ok());
  ServingMetrics& m = **metrics;
  m.set_kv_pool({.total_pages = 10, .used_pages = 4, .page_bytes = 2, .allocations_refused = 2});
  m.set_kv_pool({.total_pages = 10, .used_pages = 10, .page_bytes = 2, .allocations_refused = 5});
  std::map<std::string, double> values;
  for (const prometheus::MetricFamily& f : m.registry()->Collect()) {
    for (const prometheus::ClientMetric& c : f.metric) {
      std::string key = f.name;
      for (const auto& l : c.label) {
        if (l.name == "state") key += "/" + l.value;
      }
      values[key] = f.type == prometheus::MetricType::Counter ? c.counter.value : c.gauge.value;
    }
  }
  EXPECT_EQ(values["dllm_kv_pool_pages/used"], 10);
  EXPECT_EQ(values["dllm_kv_pool_pages/free"], 0);
  EXPECT_EQ(values["dllm_kv_pool_bytes/used"], 20);
  EXPECT_EQ(values["dllm_kv_pool_usage_ratio"], 1.0);
  EXPECT_EQ(values["dllm_kv_pool_allocation_failures_total"], 5);

  FocusCounters focus;
  focus.committed_focused = 4;
  focus.committed_in_focus = 3;
  m.record_focus("tiny", "focus", focus);  // no mass samples: recall only
  EXPECT_EQ(m.pcgi_recall("tiny", "focus").Collect().histogram.sample_count, 1u);
  EXPECT_EQ(m.pcgi_recall("tiny", "focus").Collect().histogram.sample_sum, 0.75);
  EXPECT_EQ(m.kept_attention_mass("tiny", "focus").Collect().histogram.sample_count, 0u);
  EXPECT_EQ(m.sink_overlap("tiny", "focus").Collect().histogram.sample_count, 0u);
  focus.sink_steps = 2;
  focus.sink_overlap_sum = 1.5;
  m.record_focus("tiny", "focus", focus);  // sinks chosen on two later steps
  EXPECT_EQ(m.sink_overlap("tiny", "focus").Collect().histogram.sample_count, 1u);
  EXPECT_EQ(m.sink_overlap("tiny", "focus").Collect().histogram.sample_sum, 0.75);

  m.record_kv_transfer("ucx", 1 << 20, 0.01);
  m.record_kv_transfer("ucx", 1 << 20, 0.02);
  EXPECT_EQ(m.kv_transfer_bytes("ucx").Value(), 2 << 20);
  EXPECT_EQ(m.kv_transfer_duration("ucx").Collect().histogram.sample_count, 2u);
}

}  // namespace
}  // namespace dllm::metrics

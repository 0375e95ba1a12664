// No dead panels: every PromQL expression in deploy/grafana/*.json and in the alert rules names
// only metrics the ServingMetrics catalogue exports (or Prometheus' own `up`), and parses
// (promtool checks each one, Grafana variables filled in, as a recording rule).
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "common/metrics/serving_metrics.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace dllm::metrics {
namespace {

namespace fs = std::filesystem;
const fs::path kDeploy = fs::path(DLLM_SOURCE_DIR) / "deploy";

std::string read_file(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Every series name a scrape can show: counters and gauges as named, histograms with their
// _bucket, _sum and _count series; plus `up`, which Prometheus adds for each target.
std::set<std::string> exported_series() {
  std::set<std::string> names = {"up"};
  for (const MetricFamilyInfo& f : serving_metric_families()) {
    if (f.type == MetricType::kHistogram) {
      for (const char* suffix : {"_bucket", "_sum", "_count"}) names.insert(f.name + suffix);
    } else {
      names.insert(f.name);
    }
  }
  return names;
}

// The metric names a PromQL expression selects: identifiers left once strings, label matchers,
// ranges, grouping clauses and Grafana variables are cut, that are not calls or keywords.
std::set<std::string> metric_names_in(std::string expr) {
  expr = std::regex_replace(expr, std::regex(R"("(\\.|[^"\\])*"|'(\\.|[^'\\])*')"), " ");
  expr = std::regex_replace(expr, std::regex(R"(\{[^}]*\})"), " ");
  expr = std::regex_replace(expr, std::regex(R"(\[[^\]]*\])"), " ");
  expr = std::regex_replace(
      expr, std::regex(R"(\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\))"), " ");
  expr = std::regex_replace(expr, std::regex(R"(\$\{?\w+\}?)"), " ");
  static const std::set<std::string> kKeywords = {
      "and",     "or",       "unless", "bool", "offset",     "by",         "on",
      "without", "ignoring", "inf",    "nan",  "group_left", "group_right"};
  std::set<std::string> names;
  const std::regex ident(R"([A-Za-z_:][A-Za-z0-9_:]*)");
  for (auto it = std::sregex_iterator(expr.begin(), expr.end(), ident);
       it != std::sregex_iterator(); ++it) {
    const size_t begin = static_cast<size_t>(it->position());
    const size_t end = begin + static_cast<size_t>(it->length());
    if (begin > 0 &&
        (std::isdigit(static_cast<unsigned char>(expr[begin - 1])) || expr[begin - 1] == '.')) {
      continue;  // the exponent of a number such as 1e9
    }
    size_t next = end;
    while (next < expr.size() && expr[next] == ' ') ++next;
    if (next < expr.size() && expr[next] == '(') continue;  // a function or aggregation
    if (kKeywords.count(it->str()) != 0) continue;
    names.insert(it->str());
  }
  return names;
}

struct Expression {
  std::string where;  // file and panel, for messages
  std::string expr;
};

// The panels' target expressions, and the metric of each label_values() variable query.
void collect_dashboard(const fs::path& file, std::vector<Expression>* exprs,
                       std::vector<Expression>* variable_metrics) {
  const nlohmann::json dash = nlohmann::json::parse(read_file(file));
  ASSERT_TRUE(dash.contains("panels")) << file;
  std::vector<const nlohmann::json*> panels;
  for (const nlohmann::json& p : dash["panels"]) {
    panels.push_back(&p);
    if (p.contains("panels")) {
      for (const nlohmann::json& inner : p["panels"]) panels.push_back(&inner);
    }
  }
  for (const nlohmann::json* p : panels) {
    if (p->value("type", "") == "row") continue;
    const std::string where = file.filename().string() + " / " + p->value("title", "?");
    int with_expr = 0;
    for (const nlohmann::json& t : p->value("targets", nlohmann::json::array())) {
      if (!t.contains("expr")) continue;
      exprs->push_back({where, t["expr"].get<std::string>()});
      ++with_expr;
    }
    EXPECT_GT(with_expr, 0) << where << " has no query";
  }
  const std::regex label_values(R"(label_values\(\s*([A-Za-z_:][A-Za-z0-9_:]*))");
  for (const nlohmann::json& v : dash["templating"]["list"]) {
    if (v.value("type", "") != "query") continue;
    const std::string query =
        v["query"].is_object() ? v["query"].value("query", "") : v["query"].get<std::string>();
    std::smatch m;
    ASSERT_TRUE(std::regex_search(query, m, label_values)) << file << ": " << query;
    variable_metrics->push_back({file.filename().string() + " / $" + v.value("name", "?"), m[1]});
  }
}

std::vector<fs::path> dashboard_files() {
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(kDeploy / "grafana")) {
    if (e.path().extension() == ".json") files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

// The rule expressions of deploy/prometheus/alerts.yml (one line each).
std::vector<Expression> alert_expressions() {
  std::vector<Expression> out;
  std::istringstream in(read_file(kDeploy / "prometheus" / "alerts.yml"));
  const std::regex expr_line(R"(^\s*expr:\s*(.+)$)");
  std::string line;
  while (std::getline(in, line)) {
    std::smatch m;
    if (std::regex_match(line, m, expr_line)) out.push_back({"alerts.yml", m[1]});
  }
  return out;
}

TEST(MetricsDashboardsTest, FourDashboardsWithUniqueUids) {
  std::set<std::string> stems, uids;
  for (const fs::path& f : dashboard_files()) {
    stems.insert(f.stem().string());
    const nlohmann::json dash = nlohmann::json::parse(read_file(f));
    EXPECT_TRUE(uids.insert(dash.value("uid", "")).second) << f;
    EXPECT_FALSE(dash.value("title", "").empty()) << f;
  }
  for (const char* want : {"overview", "engine", "transfer", "nodes"}) {
    EXPECT_EQ(stems.count(want), 1u) << "deploy/grafana/" << want << ".json is missing";
  }
}

TEST(MetricsDashboardsTest, ExtractsMetricNamesFromPromql) {
  EXPECT_EQ(
      metric_names_in(
          R"(histogram_quantile(0.99, sum by (le, model) (rate(dllm_a_bucket{role=~"x|y",model=~"$model"}[$__rate_interval]))))"),
      (std::set<std::string>{"dllm_a_bucket"}));
  EXPECT_EQ(metric_names_in("sum(rate(x_total[5m])) / 1e9 + on (node) group_left y and bool z"),
            (std::set<std::string>{"x_total", "y", "z"}));
  EXPECT_EQ(metric_names_in("time() - start{node=\"a{b}\"}"), (std::set<std::string>{"start"}));
}

TEST(MetricsDashboardsTest, EveryExpressionNamesOnlyExportedMetrics) {
  std::vector<Expression> exprs, variable_metrics;
  for (const fs::path& f : dashboard_files()) collect_dashboard(f, &exprs, &variable_metrics);
  const std::vector<Expression> alerts = alert_expressions();
  EXPECT_GE(alerts.size(), 5u);
  exprs.insert(exprs.end(), alerts.begin(), alerts.end());
  ASSERT_GT(exprs.size(), 20u);
  const std::set<std::string> exported = exported_series();
  std::set<std::string> used;
  for (const Expression& e : exprs) {
    const std::set<std::string> names = metric_names_in(e.expr);
    EXPECT_FALSE(names.empty()) << e.where << ": no metric in " << e.expr;
    for (const std::string& n : names) {
      EXPECT_EQ(exported.count(n), 1u)
          << e.where << ": " << n << " is not exported (" << e.expr << ")";
      used.insert(n);
    }
  }
  for (const Expression& v : variable_metrics) {
    EXPECT_EQ(exported.count(v.expr), 1u) << v.where << ": " << v.expr << " is not exported";
  }
  // The dashboards show every family the processes export.
  for (const MetricFamilyInfo& f : serving_metric_families()) {
    const bool shown = used.count(f.name) != 0 || used.count(f.name + "_bucket") != 0 ||
                       used.count(f.name + "_sum") != 0 || used.count(f.name + "_count") != 0;
    EXPECT_TRUE(shown) << f.name << " is on no dashboard";
  }
}

TEST(MetricsDashboardsTest, KubernetesManifestsNameOnlyExportedMetrics) {
  // The HPA's queue-depth metric (and any other metric a manifest names) must exist.
  const std::set<std::string> exported = exported_series();
  const std::regex metric(R"(\bdllm_[a-z0-9_]+)");
  int found = 0;
  for (const auto& e : fs::recursive_directory_iterator(kDeploy / "k8s")) {
    if (e.path().extension() != ".yaml") continue;
    const std::string text = read_file(e.path());
    for (auto it = std::sregex_iterator(text.begin(), text.end(), metric);
         it != std::sregex_iterator(); ++it) {
      ++found;
      EXPECT_EQ(exported.count(it->str()), 1u) << e.path() << ": " << it->str();
    }
  }
  EXPECT_GT(found, 0);
}

TEST(MetricsDashboardsTest, EveryExpressionParses) {
  std::vector<Expression> exprs, variable_metrics;
  for (const fs::path& f : dashboard_files()) collect_dashboard(f, &exprs, &variable_metrics);
  // Grafana fills these in before Prometheus sees the query.
  const std::vector<std::pair<std::regex, std::string>> fill = {
      {std::regex(R"(\$__rate_interval|\$__interval|\$__range)"), "1m"},
      {std::regex(R"(\$\{?\w+\}?)"), ".*"}};
  std::string rules = "groups:\n  - name: dashboards\n    rules:\n";
  int i = 0;
  for (const Expression& e : exprs) {
    std::string expr = e.expr;
    for (const auto& [re, value] : fill) expr = std::regex_replace(expr, re, value);
    rules += "      - record: dashboard:expr" + std::to_string(i++) +
             "\n        expr: " + nlohmann::json(expr).dump() + "\n";
  }
  const std::string path = ::testing::TempDir() + "/dllm_dashboard_rules.yml";
  std::ofstream(path) << rules;
  FILE* pipe = popen(("promtool check rules '" + path + "' 2>&1").c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  std::string output;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, pipe)) > 0) output.append(buf, n);
  const int status = pclose(pipe);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << output;
  std::remove(path.c_str());
}

}  // namespace
}  // namespace dllm::metrics

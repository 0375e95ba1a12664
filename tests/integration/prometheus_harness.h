// PrometheusHarness: a real Prometheus server (Debian's `prometheus`) on a free loopback port,
// scraping given HOST:PORT targets every second, for integration tests that assert what
// Prometheus saw. Header-only; storage lives in a temp dir removed at the end.
#pragma once

#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"
#include "tests/loopback_http.h"

namespace dllm::testing {

class PrometheusHarness {
 public:
  struct Options {
    std::vector<std::string> targets;     // HOST:PORT of each /metrics page
    std::vector<std::string> rule_files;  // absolute paths, e.g. deploy/prometheus/alerts.yml
    std::string job = "dllm";
    std::string binary = "prometheus";  // looked up on PATH
    std::chrono::seconds start_timeout{30};
  };

  // Writes the config, starts the server and waits until /-/ready answers 200. Retries with
  // another port if the one picked was taken meanwhile.
  static absl::StatusOr<std::unique_ptr<PrometheusHarness>> start(const Options& options) {
    absl::Status last = absl::UnavailableError("prometheus: not started");
    for (int attempt = 0; attempt < 3; ++attempt) {
      std::unique_ptr<PrometheusHarness> h(new PrometheusHarness());
      last = h->launch(options);
      if (last.ok()) return h;
    }
    return last;
  }

  ~PrometheusHarness() {
    (void)stop();
    if (!dir_.empty()) {
      std::error_code ignored;
      std::filesystem::remove_all(dir_, ignored);
    }
  }
  PrometheusHarness(const PrometheusHarness&) = delete;
  PrometheusHarness& operator=(const PrometheusHarness&) = delete;

  int port() const { return port_; }
  // What the server wrote to stdout and stderr so far (for failure messages).
  std::string log() const {
    std::ifstream in(dir_ / "prometheus.log");
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }

  // GET /api/v1/PATH?QUERY and the "data" of a successful answer.
  absl::StatusOr<nlohmann::json> api(const std::string& path_and_query) {
    absl::StatusOr<HttpResponse> r = http_get("127.0.0.1", port_, "/api/v1/" + path_and_query);
    if (!r.ok()) return r.status();
    const nlohmann::json body = nlohmann::json::parse(r->body, nullptr, /*allow_exceptions=*/false);
    if (body.is_discarded() || body.value("status", "") != "success") {
      return absl::InternalError("prometheus /api/v1/" + path_and_query + ": HTTP " +
                                 std::to_string(r->status) + " " + r->body.substr(0, 300));
    }
    return body["data"];
  }

  // An instant query; the result array of its vector (each {metric, value: [t, "v"]}).
  absl::StatusOr<nlohmann::json> query(const std::string& promql) {
    absl::StatusOr<nlohmann::json> data = api("query?query=" + url_encode(promql));
    if (!data.ok()) return data.status();
    if (data->value("resultType", "") != "vector") {
      return absl::InvalidArgumentError("prometheus: \"" + promql + "\" is not a vector query");
    }
    return (*data)["result"];
  }

  // The value of a query that yields one series; nullopt while it yields none.
  absl::StatusOr<std::optional<double>> query_value(const std::string& promql) {
    absl::StatusOr<nlohmann::json> result = query(promql);
    if (!result.ok()) return result.status();
    if (result->empty()) return std::optional<double>();
    if (result->size() > 1) {
      return absl::FailedPreconditionError("prometheus: \"" + promql + "\" yields " +
                                           std::to_string(result->size()) + " series");
    }
    return std::optional<double>(std::stod((*result)[0]["value"][1].get<std::string>()));
  }

  // Polls `promql` until its value satisfies `accept` (scrapes are 1 s apart); the last value
  // seen (or "no series") in the DeadlineExceeded message otherwise.
  absl::StatusOr<double> wait_for_value(const std::string& promql,
                                        const std::function<bool(double)>& accept,
                                        std::chrono::seconds timeout = std::chrono::seconds(15)) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    std::string last = "no series";
    for (;;) {
      absl::StatusOr<std::optional<double>> v = query_value(promql);
      if (!v.ok()) return v.status();
      if (v->has_value()) {
        if (accept(**v)) return **v;
        last = std::to_string(**v);
      }
      if (std::chrono::steady_clock::now() > deadline) {
        return absl::DeadlineExceededError("prometheus: \"" + promql + "\" still " + last);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
  }

  // Waits until every target has been scraped successfully.
  absl::Status wait_for_targets_up(std::chrono::seconds timeout = std::chrono::seconds(15)) {
    absl::StatusOr<double> up = wait_for_value(
        "count(up{job=\"" + job_ + "\"} == 1)",
        [this](double n) { return static_cast<size_t>(n) == target_count_; }, timeout);
    return up.status();
  }

  // SIGTERM, then SIGKILL if it has not exited within 10 s. OK when it exited by itself cleanly.
  absl::Status stop() {
    if (pid_ <= 0) return absl::OkStatus();
    kill(pid_, SIGTERM);
    int status = 0;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (waitpid(pid_, &status, WNOHANG) == 0) {
      if (std::chrono::steady_clock::now() > deadline) {
        kill(pid_, SIGKILL);
        waitpid(pid_, &status, 0);
        pid_ = -1;
        return absl::DeadlineExceededError("prometheus did not stop on SIGTERM");
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    pid_ = -1;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      return absl::InternalError("prometheus exited with status " + std::to_string(status));
    }
    return absl::OkStatus();
  }

 private:
  PrometheusHarness() = default;

  absl::Status launch(const Options& options) {
    const char* base = std::getenv("TMPDIR");
    std::string pattern = std::string(base != nullptr ? base : "/tmp") + "/dllm-prometheus.XXXXXX";
    if (mkdtemp(pattern.data()) == nullptr) {
      return absl::InternalError("prometheus: cannot make a temp dir like " + pattern);
    }
    dir_ = pattern;
    job_ = options.job;
    target_count_ = options.targets.size();
    port_ = pick_free_port();
    if (port_ == 0) return absl::UnavailableError("prometheus: no free port");

    std::ofstream config(dir_ / "prometheus.yml");
    config << "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n";
    if (!options.rule_files.empty()) {
      config << "rule_files:\n";
      for (const std::string& f : options.rule_files) config << "  - " << nlohmann::json(f) << "\n";
    }
    config << "scrape_configs:\n  - job_name: " << nlohmann::json(options.job)
           << "\n    static_configs:\n      - targets: " << nlohmann::json(options.targets) << "\n";
    config.close();

    std::vector<std::string> args = {
        options.binary,
        "--config.file=" + (dir_ / "prometheus.yml").string(),
        "--storage.tsdb.path=" + (dir_ / "data").string(),
        "--web.listen-address=127.0.0.1:" + std::to_string(port_),
        "--storage.tsdb.retention.time=1h",
    };
    const std::string log_path = (dir_ / "prometheus.log").string();
    pid_ = fork();
    if (pid_ < 0) return absl::InternalError("prometheus: fork failed");
    if (pid_ == 0) {
      prctl(PR_SET_PDEATHSIG, SIGTERM);  // never outlive a crashed test
      FILE* log = std::fopen(log_path.c_str(), "w");
      if (log != nullptr) {
        dup2(fileno(log), STDOUT_FILENO);
        dup2(fileno(log), STDERR_FILENO);
      }
      std::vector<char*> argv;
      for (std::string& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      execvp(argv[0], argv.data());
      _exit(127);
    }
    const auto deadline = std::chrono::steady_clock::now() + options.start_timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return absl::UnavailableError("prometheus exited at start (status " +
                                      std::to_string(status) + "): " + log());
      }
      absl::StatusOr<HttpResponse> ready =
          http_get("127.0.0.1", port_, "/-/ready", std::chrono::milliseconds(1000));
      if (ready.ok() && ready->status == 200) return absl::OkStatus();
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return absl::DeadlineExceededError("prometheus not ready in time: " + log());
  }

  pid_t pid_ = -1;
  int port_ = 0;
  std::string job_;
  size_t target_count_ = 0;
  std::filesystem::path dir_;
};

}  // namespace dllm::testing

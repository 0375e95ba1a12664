// SoakCluster: start, kill and restart `dllm serve` children; read their RSS and /metrics.
#include "tests/soak/soak_cluster.h"

#include <fstream>
#include <sstream>

#include "absl/strings/numbers.h"
#include "tests/loopback_http.h"
#include "tests/metrics_text.h"

namespace dllm::soak {
namespace {

constexpr size_t kKeptLogBytes = 16 << 10;  // per node, of incarnations that were killed

std::string tail(const std::string& text, size_t bytes) {
  return text.size() <= bytes ? text : "..." + text.substr(text.size() - bytes);
}

}  // namespace

SoakCluster::SoakCluster(std::vector<std::string> router_flags, std::vector<NodeSpec> nodes)
    : specs_(std::move(nodes)), slots_(specs_.size()) {
  std::vector<std::string> args = {
      testing_serve::kDllm,  "serve",    "--role",     "router", "--model",
      testing_serve::kModel, "--listen", "127.0.0.1:0"};
  args.insert(args.end(), router_flags.begin(), router_flags.end());
  router_ = std::make_unique<ServingProcess>(args);
  ok_ = !router_->address().empty();
  if (!ok_) return;
  channel_ = grpc::CreateChannel(router_->address(), grpc::InsecureChannelCredentials());
  for (int i = 0; i < size() && ok_; ++i) ok_ = restart(i);
}

std::unique_ptr<v1::Generation::Stub> SoakCluster::stub() const {
  return v1::Generation::NewStub(channel_);
}

SoakCluster::Incarnation SoakCluster::start(int i, std::chrono::seconds timeout) const {
  const NodeSpec& s = specs_[i];
  std::vector<std::string> args = {
      testing_serve::kDllm,  "serve",    "--role",           s.role,       "--model",
      testing_serve::kModel, "--listen", "127.0.0.1:0",      "--router",   router_->address(),
      "--node-id",           s.id,       "--metrics-listen", "127.0.0.1:0"};
  args.insert(args.end(), s.flags.begin(), s.flags.end());
  Incarnation out;
  out.process = std::make_unique<ServingProcess>(args);
  if (out.process->address().empty()) return out;
  out.metrics_address = out.process->wait_for_line_after("metrics on ", std::chrono::seconds(1));
  out.registered = !out.process->wait_for_line_after("registered with router", timeout).empty();
  return out;
}

std::string SoakCluster::address(int i) const {
  std::lock_guard<std::mutex> lock(mu_);
  return slots_[i].process ? slots_[i].process->address() : "";
}

std::string SoakCluster::metrics_address(int i) const {
  std::lock_guard<std::mutex> lock(mu_);
  return slots_[i].process ? slots_[i].metrics_address : "";
}

pid_t SoakCluster::pid(int i) const {
  std::lock_guard<std::mutex> lock(mu_);
  return slots_[i].process ? slots_[i].process->pid() : -1;
}

std::vector<pid_t> SoakCluster::pids() const {
  std::vector<pid_t> out = {router_->pid()};
  std::lock_guard<std::mutex> lock(mu_);
  for (const Slot& s : slots_)
    if (s.process) out.push_back(s.process->pid());
  return out;
}

void SoakCluster::kill(int i) {
  std::lock_guard<std::mutex> lock(mu_);
  Slot& slot = slots_[i];
  if (!slot.process) return;
  slot.process->kill_hard();
  slot.past_logs = tail(slot.past_logs + slot.process->log() + "[killed]\n", kKeptLogBytes);
  slot.process.reset();
}

bool SoakCluster::restart(int i, std::chrono::seconds timeout) {
  if (pid(i) > 0) return true;
  Incarnation started = start(i, timeout);  // outside the lock: readers are not held up
  std::lock_guard<std::mutex> lock(mu_);
  Slot& slot = slots_[i];
  if (!started.registered) {
    slot.past_logs =
        tail(slot.past_logs + started.process->log() + "[did not start]\n", kKeptLogBytes);
    return false;  // `started` stops it (SIGTERM, reaped) unless it already exited
  }
  slot.process = std::move(started.process);
  slot.metrics_address = started.metrics_address;
  return true;
}

std::string SoakCluster::logs() const {
  std::string out = "--- router\n" + router_->log();
  std::lock_guard<std::mutex> lock(mu_);
  for (size_t i = 0; i < slots_.size(); ++i) {
    out += "--- " + specs_[i].id + "\n" + slots_[i].past_logs;
    if (slots_[i].process) out += slots_[i].process->log();
  }
  return out;
}

int64_t rss_kib(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) != 0) continue;
    std::istringstream fields(line.substr(6));
    int64_t kib = 0;
    fields >> kib;
    return kib;
  }
  return 0;
}

std::optional<double> scrape_sum(const std::string& metrics_address, const std::string& name,
                                 const std::map<std::string, std::string>& labels) {
  const size_t colon = metrics_address.rfind(':');
  int port = 0;
  if (colon == std::string::npos || !absl::SimpleAtoi(metrics_address.substr(colon + 1), &port))
    return std::nullopt;
  absl::StatusOr<testing::HttpResponse> page = testing::http_get(
      metrics_address.substr(0, colon), port, "/metrics", std::chrono::milliseconds(2000));
  if (!page.ok() || page->status != 200) return std::nullopt;
  double sum = 0;
  for (std::string_view line : testing::split(page->body, '\n')) {
    std::optional<testing::MetricSample> s = testing::parse_sample_line(line);
    if (!s || s->name != name) continue;
    bool match = true;
    for (const auto& [k, v] : labels) match &= s->labels.count(k) && s->labels.at(k) == v;
    if (match) sum += s->value;
  }
  return sum;
}

}  // namespace dllm::soak

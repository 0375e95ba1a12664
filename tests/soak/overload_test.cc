// Overload: a router with 2 prefill + 2 decode nodes on loopback, first measured at capacity
// (closed loop), then offered ~10x that rate open loop for --seconds. Checks: the queue limits
// answer RESOURCE_EXHAUSTED quickly (p99 under --reject-p99-ms); every admitted request
// completes with the reference tokens; requests whose short deadline expires or whose client
// cancels free their work (once idle: no K/V pages beyond the baseline, no lease, nothing
// running); and every process's RSS (VmRSS) stays within its bound above its idle RSS at start
// (what a build maps before any request: ~25 MiB on CPU, ~170 MiB where the CUDA libraries load)
// and stops growing.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <map>
#include <mutex>
#include <random>
#include <thread>

#include "absl/strings/str_cat.h"
#include "tests/soak/request_check.h"
#include "tests/soak/request_mix.h"
#include "tests/soak/soak_cluster.h"
#include "tests/soak/soak_options.h"

namespace dllm::soak {
namespace {

using Clock = std::chrono::steady_clock;

double seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())))];
}

// How a request of the overload phase behaves.
enum class Patience { kNormal, kShortDeadline, kCancelsAfterFirstBlock };

struct Results {
  std::mutex mu;
  int sent = 0, completed = 0, rejected = 0, expired = 0, cancelled = 0, failed = 0;
  std::vector<double> reject_ms;           // RESOURCE_EXHAUSTED answers, latency
  std::map<std::string, int> rejected_by;  // router | prefill node | decode node
  std::vector<double> completed_s;
  std::vector<std::string> problems;
};

// RSS of every process, sampled.
class RssSampler {
 public:
  RssSampler(const SoakCluster& cluster, std::chrono::milliseconds period)
      : cluster_(cluster), thread_([this, period] {
          while (!stop_.load()) {
            sample();
            std::this_thread::sleep_for(period);
          }
        }) {}
  ~RssSampler() {
    stop_.store(true);
    thread_.join();
  }
  void sample() {
    const std::vector<pid_t> pids = cluster_.pids();
    std::lock_guard<std::mutex> lock(mu_);
    for (size_t i = 0; i < pids.size(); ++i) series_[i].push_back(rss_kib(pids[i]) / 1024.0);
  }
  // MiB, per process (router first): the samples so far.
  std::map<size_t, std::vector<double>> series() {
    std::lock_guard<std::mutex> lock(mu_);
    return series_;
  }

 private:
  const SoakCluster& cluster_;
  std::mutex mu_;
  std::map<size_t, std::vector<double>> series_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

void send_one(v1::Generation::Stub& stub, v1::GenerateRequest request, const std::string& expected,
              Patience patience, Results* out) {
  const Clock::time_point t0 = Clock::now();
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + (patience == Patience::kShortDeadline
                                                               ? std::chrono::milliseconds(150)
                                                               : std::chrono::milliseconds(60000)));
  auto reader = stub.Generate(&context, request);
  std::vector<v1::GenerateResponse> responses;
  v1::GenerateResponse r;
  while (reader->Read(&r)) {
    responses.push_back(r);
    if (patience == Patience::kCancelsAfterFirstBlock) context.TryCancel();
  }
  const grpc::Status st = reader->Finish();
  const double elapsed = seconds(Clock::now() - t0);
  std::lock_guard<std::mutex> lock(out->mu);
  std::string problem;
  if (st.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED) {
    ++out->rejected;
    out->reject_ms.push_back(1000 * elapsed);
    const std::string& m = st.error_message();
    ++out->rejected_by[m.rfind("router", 0) == 0                     ? "router"
                       : m.find("prefill node") != std::string::npos ? "prefill"
                       : m.find("decode node") != std::string::npos  ? "decode"
                                                                     : "other"];
  } else if (st.ok()) {
    problem = check_stream(responses, request.request_id(), expected);
    if (problem.empty()) ++out->completed, out->completed_s.push_back(elapsed);
  } else if (st.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED &&
             patience == Patience::kShortDeadline) {
    ++out->expired;
  } else if (st.error_code() == grpc::StatusCode::CANCELLED &&
             patience == Patience::kCancelsAfterFirstBlock) {
    ++out->cancelled;
  } else {
    problem = absl::StrCat("status ", st.error_code(), ": ", st.error_message());
  }
  if (problem.empty()) return;
  ++out->failed;
  if (out->problems.size() < 20)
    out->problems.push_back(absl::StrCat(request.request_id(), ": ", problem));
}

int run(const SoakOptions& opt) {
  const std::vector<RequestShape> shapes = soak_shapes();
  const std::vector<std::string> expected = reference_answers(shapes, 2);
  for (size_t i = 0; i < shapes.size(); ++i)
    if (expected[i].empty())
      return std::fprintf(stderr, "no reference for %s\n", shapes[i].name.c_str()), 1;

  const std::string waiting = absl::StrCat(opt.get_int("max-waiting"));
  std::vector<NodeSpec> nodes;
  for (const char* role : {"prefill", "decode"})
    for (int i = 0; i < 2; ++i)
      // No chunk cache on the prefill nodes: once idle, every node's K/V pool is back to where it
      // started, so a page kept by an expired or cancelled request shows.
      nodes.push_back({role,
                       absl::StrCat(role, "-", i),
                       {"--threads", "1", "--kv-pool-mb", "64", "--max-waiting", waiting,
                        "--chunk-cache-pages", "0"}});
  SoakCluster cluster({"--node-timeout-ms", "1000", "--heartbeat-ms", "100", "--max-inflight",
                       absl::StrCat(opt.get_int("max-inflight"))},
                      nodes);
  if (!cluster.ok())
    return std::fprintf(stderr, "cluster did not start\n%s", cluster.logs().c_str()), 1;
  RssSampler rss(cluster, std::chrono::milliseconds(200));
  std::vector<int64_t> baseline_pages;
  for (int i = 0; i < cluster.size(); ++i)
    baseline_pages.push_back(testing_serve::node_load(cluster.address(i), i < 2).kv_pages_used());

  // 1. Capacity: closed loop, enough clients to fill both decode nodes' batches.
  std::atomic<int> next{0};
  auto request_for = [&](int i, std::mt19937_64& rng, int* shape) {
    std::uniform_real_distribution<double> u(0.0, 1.0);
    *shape = static_cast<int>(&pick_shape(shapes, u(rng)) - shapes.data());
    v1::GenerateRequest r = shapes[*shape].request;
    r.set_request_id(absl::StrCat("overload-", i));
    return r;
  };
  Results warm;
  {
    const Clock::time_point end =
        Clock::now() + std::chrono::seconds(opt.get_int("capacity-seconds"));
    std::vector<std::thread> clients;
    for (int c = 0; c < opt.get_int("max-inflight"); ++c)
      clients.emplace_back([&, c] {
        auto stub = cluster.stub();
        std::mt19937_64 rng(1000 + c);
        while (Clock::now() < end) {
          int shape = 0;
          v1::GenerateRequest r = request_for(next.fetch_add(1), rng, &shape);
          send_one(*stub, r, expected[shape], Patience::kNormal, &warm);
        }
      });
    for (std::thread& t : clients) t.join();
  }
  const double capacity = warm.completed / opt.get("capacity-seconds");
  if (warm.failed > 0 || capacity <= 0) {
    std::printf("overload: capacity run failed: %d failed, %d completed\n", warm.failed,
                warm.completed);
    for (const std::string& p : warm.problems) std::printf("  %s\n", p.c_str());
    return 1;
  }
  const std::map<size_t, std::vector<double>> before = rss.series();

  // 2. Overload: open loop at `factor` x capacity.
  const double rate = opt.get("factor") * capacity;
  const int duration = opt.get_int("seconds");
  const int total = static_cast<int>(rate * duration);
  Results load;
  std::atomic<int> scheduled{0};
  const Clock::time_point t0 = Clock::now();
  std::atomic<int> late{0};
  {
    std::vector<std::thread> senders;
    for (int c = 0; c < opt.get_int("senders"); ++c)
      senders.emplace_back([&, c] {
        auto stub = cluster.stub();
        std::mt19937_64 rng(c);
        for (int k; (k = scheduled.fetch_add(1)) < total;) {
          const Clock::time_point due =
              t0 + std::chrono::microseconds(static_cast<int64_t>(1e6 * k / rate));
          if (Clock::now() > due + std::chrono::milliseconds(50)) late.fetch_add(1);
          std::this_thread::sleep_until(due);
          int shape = 0;
          v1::GenerateRequest r = request_for(1000000 + k, rng, &shape);
          const Patience patience = k % 10 == 3   ? Patience::kShortDeadline
                                    : k % 20 == 7 ? Patience::kCancelsAfterFirstBlock
                                                  : Patience::kNormal;
          send_one(*stub, r, expected[shape], patience, &load);
        }
      });
    for (std::thread& t : senders) t.join();
  }
  const double wall = seconds(Clock::now() - t0);

  // 3. Idle again: everything the overload took is given back.
  std::string leftover;
  for (int attempt = 0; attempt < 50; ++attempt) {
    leftover.clear();
    for (int i = 0; i < cluster.size(); ++i) {
      const v1::NodeLoad l = testing_serve::node_load(cluster.address(i), i < 2);
      if (l.running() + l.waiting() + l.held_leases() > 0 || l.kv_pages_used() != baseline_pages[i])
        absl::StrAppend(&leftover, " ", cluster.spec(i).id, ": ", l.running(), " running, ",
                        l.waiting(), " waiting, ", l.held_leases(), " leases, ", l.kv_pages_used(),
                        " K/V pages (", baseline_pages[i], " at the start);");
    }
    if (leftover.empty()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  rss.sample();
  const std::map<size_t, std::vector<double>> after = rss.series();

  const double reject_p99 = percentile(load.reject_ms, 0.99);
  std::printf(
      "overload: capacity %.1f requests/s (closed loop, %d clients, %d s); offered %.0f/s "
      "(%.0fx) open loop for %.1f s: %d requests (%d sent late by >50 ms)\n",
      capacity, opt.get_int("max-inflight"), opt.get_int("capacity-seconds"), rate,
      opt.get("factor"), wall, total, late.load());
  std::printf(
      "  admitted and completed: %d (%.1f/s; p50 %.2f s, p99 %.2f s); deadline expired: %d; "
      "cancelled: %d; failed or wrong: %d\n",
      load.completed, load.completed / wall, percentile(load.completed_s, 0.5),
      percentile(load.completed_s, 0.99), load.expired, load.cancelled, load.failed);
  std::printf("  rejected RESOURCE_EXHAUSTED: %d (p50 %.1f ms, p99 %.1f ms, max %.1f ms; by",
              load.rejected, percentile(load.reject_ms, 0.5), reject_p99,
              percentile(load.reject_ms, 1.0));
  for (const auto& [who, n] : load.rejected_by) std::printf(" %s %d", who.c_str(), n);
  std::printf(")\n");
  bool rss_ok = true;
  const double growth_mb = opt.get("rss-growth-mb");
  for (const auto& [i, series] : after) {
    const bool router = i == 0;
    const double above = opt.get(router ? "router-rss-above-start-mb" : "node-rss-above-start-mb");
    const double bound = series.front() + above;
    const double peak = *std::max_element(series.begin(), series.end());
    // Growth: the peak of the overload's second half against the peak up to its first half.
    const size_t start = before.count(i) ? before.at(i).size() : 0;
    const size_t half = start + (series.size() - start) / 2;
    const double first = *std::max_element(series.begin(), series.begin() + half);
    const double second = *std::max_element(series.begin() + half, series.end());
    const bool ok = peak <= bound && second <= first + growth_mb;
    rss_ok &= ok;
    std::printf(
        "  RSS %-9s start %.1f MiB, peak %.1f MiB (bound start + %.0f), first-half peak %.1f, "
        "second-half peak %.1f (growth allowed %.0f)%s\n",
        router ? "router" : cluster.spec(static_cast<int>(i) - 1).id.c_str(), series.front(), peak,
        above, first, second, growth_mb, ok ? "" : "  <-- over");
  }
  std::printf("  left held when idle:%s\n", leftover.empty() ? " nothing" : leftover.c_str());
  for (const std::string& p : load.problems) std::printf("  %s\n", p.c_str());
  const bool pass = load.failed == 0 && load.rejected > 0 && load.completed > 0 &&
                    reject_p99 < opt.get("reject-p99-ms") && rss_ok && leftover.empty();
  std::printf("overload: %s\n", pass ? "PASSED" : "FAILED");
  return pass ? 0 : 1;
}

}  // namespace
}  // namespace dllm::soak

int main(int argc, char** argv) {
  dllm::soak::SoakOptions options({{"seconds", 60},
                                   {"capacity-seconds", 5},
                                   {"factor", 10},
                                   {"senders", 128},
                                   {"max-inflight", 16},
                                   {"max-waiting", 8},
                                   {"reject-p99-ms", 50},
                                   {"router-rss-above-start-mb", 64},
                                   // 64 MiB K/V pool + 64 MiB
                                   {"node-rss-above-start-mb", 128},
                                   {"rss-growth-mb", 8}});
  if (!options.parse(argc, argv)) return 2;
  return dllm::soak::run(options);
}

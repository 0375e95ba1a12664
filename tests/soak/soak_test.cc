// Soak with faults: 2 prefill + 2 decode nodes and a router on loopback; N requests of a mixed
// shape (dense prompts of many lengths, Prefilling-dLLM reuse moving K/V over UCX, reprefill,
// prefilling+focus), several at once, while a fault injector kill -9s and restarts a random node
// every few seconds and the decode nodes drop a fraction of K/V pulls. Every request must end
// with exactly the tokens of `dllm generate` (an undisturbed single process), directly or after
// the client retried a retriable status (UNAVAILABLE, RESOURCE_EXHAUSTED, ABORTED): zero lost,
// zero wrong. Exit status 0 when so; a summary goes to stdout.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <map>
#include <mutex>
#include <random>
#include <thread>

#include "absl/strings/str_cat.h"
#include "tests/soak/fault_injector.h"
#include "tests/soak/request_check.h"
#include "tests/soak/request_mix.h"
#include "tests/soak/soak_cluster.h"
#include "tests/soak/soak_options.h"

namespace dllm::soak {
namespace {

using Clock = std::chrono::steady_clock;

double seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

// What the clients saw, all requests together.
struct Tally {
  std::mutex mu;
  int completed = 0, completed_after_retry = 0, lost = 0, wrong = 0, max_attempts = 0;
  std::map<std::string, int> retried;                   // status code name → client retries
  std::vector<double> latencies;                        // first send to completion, seconds
  std::vector<std::pair<double, std::string>> slowest;  // latency, what the request went through
  std::vector<std::string> problems;  // the first few lost / wrong requests, explained
};

const char* code_name(grpc::StatusCode c) {
  switch (c) {
    case grpc::StatusCode::OK:
      return "OK";
    case grpc::StatusCode::UNAVAILABLE:
      return "UNAVAILABLE";
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      return "RESOURCE_EXHAUSTED";
    case grpc::StatusCode::ABORTED:
      return "ABORTED";
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return "DEADLINE_EXCEEDED";
    case grpc::StatusCode::CANCELLED:
      return "CANCELLED";
    case grpc::StatusCode::INTERNAL:
      return "INTERNAL";
    case grpc::StatusCode::UNKNOWN:
      return "UNKNOWN";
    case grpc::StatusCode::INVALID_ARGUMENT:
      return "INVALID_ARGUMENT";
    default:
      return "OTHER";
  }
}

// One request to its end: retried with backoff while the status is retriable.
void run_request(int index, const RequestShape& shape, const std::string& expected,
                 v1::Generation::Stub& stub, const SoakOptions& opt, Tally* tally) {
  v1::GenerateRequest request = shape.request;
  request.set_request_id(absl::StrCat("soak-", index));  // the same id on every retry
  const int max_attempts = opt.get_int("max-client-attempts");
  const auto deadline = std::chrono::milliseconds(opt.get_int("deadline-ms"));
  const Clock::time_point t0 = Clock::now();
  std::mt19937 rng(static_cast<uint32_t>(index));
  std::string outcome;  // "" = completed
  std::string history;  // per attempt: its status and seconds
  int attempt = 1;
  for (;; ++attempt) {
    GenerateResult r = run_generate(stub, request, deadline);
    absl::StrAppend(&history, attempt > 1 ? ", " : "", code_name(r.status.error_code()), " ",
                    absl::SixDigits(seconds(r.latency)), " s");
    if (r.status.ok()) {
      const std::string wrong = check_stream(r.responses, request.request_id(), expected);
      outcome = wrong.empty() ? "" : "WRONG: " + wrong;
      break;
    }
    const bool retriable = is_retriable(r.status.error_code());
    {
      std::lock_guard<std::mutex> lock(tally->mu);
      if (retriable) ++tally->retried[code_name(r.status.error_code())];
    }
    if (!retriable || attempt == max_attempts) {
      outcome = absl::StrCat("LOST: ", code_name(r.status.error_code()), " after ", attempt,
                             " attempts: ", r.status.error_message());
      break;
    }
    const int backoff = std::min(1000, 25 << std::min(attempt, 6));
    std::this_thread::sleep_for(std::chrono::milliseconds(backoff / 2 + rng() % (backoff / 2)));
  }
  std::lock_guard<std::mutex> lock(tally->mu);
  tally->max_attempts = std::max(tally->max_attempts, attempt);
  if (outcome.empty()) {
    ++tally->completed;
    tally->completed_after_retry += attempt > 1;
    const double latency = seconds(Clock::now() - t0);
    tally->latencies.push_back(latency);
    tally->slowest.push_back(
        {latency, absl::StrCat("request ", index, " (", shape.name, "): ", history)});
    std::sort(tally->slowest.rbegin(), tally->slowest.rend());
    if (tally->slowest.size() > 3) tally->slowest.pop_back();
    return;
  }
  ++(outcome.rfind("WRONG", 0) == 0 ? tally->wrong : tally->lost);
  if (tally->problems.size() < 20)
    tally->problems.push_back(absl::StrCat("request ", index, " (", shape.name, "): ", outcome));
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())))];
}

int run(const SoakOptions& opt) {
  const std::vector<RequestShape> shapes = soak_shapes();
  const Clock::time_point t_ref = Clock::now();
  const std::vector<std::string> expected = reference_answers(shapes, 2);
  for (size_t i = 0; i < shapes.size(); ++i)
    if (expected[i].empty()) {
      std::fprintf(stderr, "soak: no reference answer for '%s'\n", shapes[i].name.c_str());
      return 1;
    }
  std::fprintf(stderr, "soak: %zu reference answers in %.1f s\n", shapes.size(),
               seconds(Clock::now() - t_ref));

  const std::string drop = absl::StrCat(opt.get("drop-probability"));
  const std::vector<std::string> node_flags = {"--threads", "1", "--kv-pool-mb", "64"};
  std::vector<NodeSpec> nodes;
  for (const char* role : {"prefill", "decode"})
    for (int i = 0; i < 2; ++i) {
      NodeSpec n{role, absl::StrCat(role, "-", i), node_flags};
      if (std::string(role) == "decode")
        n.flags.insert(n.flags.end(), {"--fault-drop-probability", drop});
      nodes.push_back(n);
    }
  // The router's node timeout and heartbeat are the product defaults (2 s, 500 ms).
  SoakCluster cluster({"--max-attempts", absl::StrCat(opt.get_int("router-attempts")),
                       "--metrics-listen", "127.0.0.1:0"},
                      nodes);
  if (!cluster.ok()) {
    std::fprintf(stderr, "soak: the cluster did not start\n%s\n", cluster.logs().c_str());
    return 1;
  }

  const int n_requests = opt.get_int("requests");
  const double rate = opt.get("rate");
  std::vector<int> shape_of(n_requests);
  {
    std::mt19937_64 rng(static_cast<uint64_t>(opt.get_int("seed")));
    std::uniform_real_distribution<double> u(0.0, 1.0);
    for (int& s : shape_of) s = static_cast<int>(&pick_shape(shapes, u(rng)) - shapes.data());
  }
  Tally tally;
  const Clock::time_point t0 = Clock::now();
  FaultInjector faults(
      &cluster, FaultInjectorOptions{
                    .kill_every = std::chrono::milliseconds(opt.get_int("kill-every-ms")),
                    .restart_after = std::chrono::milliseconds(opt.get_int("restart-after-ms")),
                    .seed = static_cast<uint64_t>(opt.get_int("seed"))});
  std::atomic<int> next{0}, finished{0};
  std::vector<std::thread> clients;
  const int concurrency = opt.get_int("concurrency");
  for (int c = 0; c < concurrency; ++c)
    clients.emplace_back([&] {
      auto stub = cluster.stub();
      for (int i; (i = next.fetch_add(1)) < n_requests;) {
        if (rate > 0)  // paced in bursts of `concurrency`, so that several run at once
          std::this_thread::sleep_until(t0 + std::chrono::microseconds(static_cast<int64_t>(
                                                 1e6 * (i - i % concurrency) / rate)));
        run_request(i, shapes[shape_of[i]], expected[shape_of[i]], *stub, opt, &tally);
        const int done = finished.fetch_add(1) + 1;
        if (done % 100 == 0)
          std::fprintf(stderr, "soak: %d/%d requests after %.0f s\n", done, n_requests,
                       seconds(Clock::now() - t0));
      }
    });
  for (std::thread& t : clients) t.join();
  const double wall = seconds(Clock::now() - t0);
  const FaultCounts counts = faults.stop();

  // Once idle, nothing is left held: no running or waiting work, no K/V lease on a prefill node,
  // no K/V page in a decode node's pool (prefill nodes keep their chunk cache's pages).
  std::string leftover;
  for (int attempt = 0; attempt < 50; ++attempt) {
    leftover.clear();
    for (int i = 0; i < cluster.size(); ++i) {
      const bool prefill = cluster.spec(i).role == "prefill";
      const v1::NodeLoad load = testing_serve::node_load(cluster.address(i), prefill);
      const int64_t pages = prefill ? 0 : load.kv_pages_used();
      if (load.running() + load.waiting() + load.held_leases() + pages > 0)
        absl::StrAppend(&leftover, " ", cluster.spec(i).id, ": ", load.running(), " running, ",
                        load.waiting(), " waiting, ", load.held_leases(), " leases, ", pages,
                        " K/V pages;");
    }
    if (leftover.empty()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  const std::string router_metrics =
      cluster.router().wait_for_line_after("metrics on ", std::chrono::seconds(1));
  auto router_retries = [&](const char* stage) {
    return scrape_sum(router_metrics, "dllm_router_retries_total", {{"stage", stage}}).value_or(-1);
  };

  int moving_kv = 0;
  for (int s : shape_of) moving_kv += shapes[s].moves_kv;
  int client_retries = 0;
  for (const auto& [code, n] : tally.retried) client_retries += n;
  std::printf("soak: %d requests (%zu shapes; %d move K/V over UCX), %d concurrent%s, %.1f s\n",
              n_requests, shapes.size(), moving_kv, opt.get_int("concurrency"),
              rate > 0 ? absl::StrCat(", paced at ", rate, "/s in bursts").c_str() : "", wall);
  std::printf(
      "  faults injected: %d node kills (%d prefill, %d decode; every ~%.1f s, down %d ms), "
      "%lld failed K/V pulls (drop p=%s on decode nodes, and pulls from killed prefill "
      "nodes)%s\n",
      counts.prefill_kills + counts.decode_kills, counts.prefill_kills, counts.decode_kills,
      opt.get("kill-every-ms") / 1000.0, opt.get_int("restart-after-ms"),
      static_cast<long long>(counts.failed_kv_pulls), drop.c_str(),
      counts.failed_kv_pulls_unread > 0
          ? absl::StrCat(" (+", counts.failed_kv_pulls_unread, " counters unread)").c_str()
          : "");
  std::printf(
      "  router retries (placed again): %.0f after a prefill failure or failed K/V pull, "
      "%.0f after a decode failure (resumed after the blocks the client had)\n",
      router_retries("prefill"), router_retries("decode"));
  std::printf("  client retries: %d (", client_retries);
  for (const auto& [code, n] : tally.retried) std::printf(" %s %d", code.c_str(), n);
  std::printf(" ), most attempts for one request: %d\n", tally.max_attempts);
  std::printf("  completed: %d (%d after a client retry), lost: %d, wrong: %d\n", tally.completed,
              tally.completed_after_retry, tally.lost, tally.wrong);
  std::printf("  latency: p50 %.3f s, p99 %.3f s, max %.3f s\n", percentile(tally.latencies, 0.5),
              percentile(tally.latencies, 0.99), percentile(tally.latencies, 1.0));
  for (const auto& [latency, what] : tally.slowest) std::printf("    slow: %s\n", what.c_str());
  std::printf("  left held when idle:%s\n", leftover.empty() ? " nothing" : leftover.c_str());
  for (const std::string& p : tally.problems) std::printf("  %s\n", p.c_str());
  std::fflush(stdout);

  const int min_kills = opt.get_int("min-kills");
  const bool pass = tally.lost == 0 && tally.wrong == 0 && tally.completed == n_requests &&
                    leftover.empty() && counts.restart_failures == 0 &&
                    counts.prefill_kills + counts.decode_kills >= min_kills;
  if (!pass) {
    std::printf("soak: FAILED\n");
    if (opt.get_int("print-logs")) std::printf("%s\n", cluster.logs().c_str());
    return 1;
  }
  std::printf("soak: PASSED\n");
  return 0;
}

}  // namespace
}  // namespace dllm::soak

int main(int argc, char** argv) {
  dllm::soak::SoakOptions options({{"requests", 1000},
                                   {"concurrency", 6},
                                   {"rate", 0},  // requests started per second; 0 = unpaced
                                   {"kill-every-ms", 3000},
                                   {"restart-after-ms", 500},
                                   {"min-kills", 1},
                                   {"drop-probability", 0.1},
                                   // Below the default 4, so that faults reach the clients too:
                                   // both the router's re-placement and the client's retry run.
                                   {"router-attempts", 2},
                                   {"max-client-attempts", 30},
                                   {"deadline-ms", 60000},
                                   {"seed", 1},
                                   {"print-logs", 1}});
  if (!options.parse(argc, argv)) return 2;
  return dllm::soak::run(options);
}

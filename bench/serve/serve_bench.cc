// dllm-bench-serve (`dllm-bench serve`): load against a router.
//  open loop  (--rate R): Poisson arrivals at R requests/s for --duration seconds, a mix of prompt
//             lengths; reports TTFT and per-block latency p50/p99, throughput, goodput under an SLO.
//  closed loop (--concurrency 1,2,4,...): N clients back to back; throughput vs concurrency.
// With --spawn P,D it starts its own router + P prefill + D decode nodes (bundled model, CPU).
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "dllm/v1/generation.grpc.pb.h"
#include "grpcpp/create_channel.h"

namespace {

using Clock = std::chrono::steady_clock;

struct Flags {
  std::string router;
  std::string spawn;  // "P,D"
  std::string model = "models/llada-tiny";
  std::string dllm = "build/bin/dllm";
  double rate = 0;  // open loop when > 0
  double duration = 10;
  std::vector<int> concurrency;
  std::vector<int> prompt_lengths = {16, 64, 256};
  int gen_length = 32, block_length = 8, steps = 32;
  double slo_ttft_ms = 500;
  int requests_per_client = 8;
  std::string policy;
};

struct Sample {
  bool ok = false;
  double ttft = 0, total = 0;
  double routing = 0;  // client latency minus the time inside the nodes
  int code = 0;        // grpc::StatusCode of the call
  std::vector<double> block_gaps;
  int tokens = 0;
};

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * (v.size() - 1) + 0.5))];
}

Sample one_request(dllm::v1::Generation::Stub& stub, const Flags& f, int prompt_len, uint64_t seed) {
  dllm::v1::GenerateRequest r;
  std::mt19937_64 rng(seed);
  for (int i = 0; i < prompt_len; ++i) r.mutable_ids()->add_ids(static_cast<int>(1 + rng() % 400));
  r.mutable_params()->set_gen_length(f.gen_length);
  r.mutable_params()->set_block_length(f.block_length);
  r.mutable_params()->set_steps(f.steps);
  r.set_policy(f.policy);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(300));
  const Clock::time_point t0 = Clock::now();
  Clock::time_point last = t0;
  Sample s;
  auto reader = stub.Generate(&ctx, r);
  dllm::v1::GenerateResponse m;
  bool first = true;
  while (reader->Read(&m)) {
    const Clock::time_point now = Clock::now();
    if (m.has_block()) {
      if (first) s.ttft = std::chrono::duration<double>(now - t0).count();
      else s.block_gaps.push_back(std::chrono::duration<double>(now - last).count());
      first = false;
      last = now;
    }
    if (m.has_done()) {
      s.tokens = m.done().usage().generated_tokens();
      s.routing = -m.done().timings().prefill_seconds() - m.done().timings().decode_seconds();
    }
  }
  const grpc::Status st = reader->Finish();
  s.ok = st.ok();
  s.code = st.error_code();
  s.total = std::chrono::duration<double>(Clock::now() - t0).count();
  s.routing += s.total;
  return s;
}

void report(const char* label, const Flags& f, const std::vector<Sample>& samples, double wall) {
  std::vector<double> ttft, gaps, total, routing;
  std::map<int, int> failures;  // status code → count
  for (const Sample& s : samples)
    if (!s.ok) ++failures[s.code];
  int ok = 0, good = 0;
  long tokens = 0;
  for (const Sample& s : samples) {
    if (!s.ok) continue;
    ++ok;
    tokens += s.tokens;
    ttft.push_back(s.ttft * 1e3);
    total.push_back(s.total * 1e3);
    routing.push_back(s.routing * 1e3);
    for (double g : s.block_gaps) gaps.push_back(g * 1e3);
    good += s.ttft * 1e3 <= f.slo_ttft_ms;
  }
  std::printf("| %-14s | %5zu | %5d | %8.2f | %9.1f | %8.2f | %8.2f | %8.2f | %8.2f | %6.1f%% | %7.3f | %7.3f |\n",
              label, samples.size(), ok, ok / wall, tokens / wall, percentile(ttft, 0.5),
              percentile(ttft, 0.99), percentile(gaps, 0.5), percentile(gaps, 0.99),
              samples.empty() ? 0.0 : 100.0 * good / samples.size(), percentile(routing, 0.5),
              percentile(routing, 0.99));
  for (auto [code, count] : failures)
    std::printf("  %s: %d requests failed with gRPC status %d\n", label, count, code);
}

void header() {
  std::printf("| %-14s | %5s | %5s | %8s | %9s | %8s | %8s | %8s | %8s | %7s | %7s | %7s |\n",
              "load", "sent", "ok", "req/s", "tok/s", "TTFT p50", "TTFT p99", "blk p50", "blk p99",
              "goodput", "rt p50", "rt p99");
  std::printf("(milliseconds; rt = routing overhead: client latency minus time inside the nodes)\n");
}

// A child `dllm serve` process; its address from its stderr.
struct Child {
  pid_t pid = -1;
  std::string log;
};

Child spawn(const std::vector<std::string>& args, const std::string& log) {
  Child c;
  c.log = log;
  c.pid = fork();
  if (c.pid == 0) {
    FILE* out = std::freopen(log.c_str(), "w", stderr);
    (void)out;
    std::vector<char*> argv;
    for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  return c;
}

std::string wait_for(const std::string& log, const std::string& marker) {
  for (int i = 0; i < 600; ++i) {
    std::ifstream in(log);
    std::string line;
    while (std::getline(in, line))
      if (size_t at = line.find(marker); at != std::string::npos) return line.substr(at + marker.size());
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return "";
}

bool parse_flags(int argc, char** argv, int first, Flags* f) {
  for (int i = first; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
    auto ints = [&](std::vector<int>* out) {
      out->clear();
      for (absl::string_view x : absl::StrSplit(next(), ',')) {
        int v = 0;
        if (!absl::SimpleAtoi(x, &v)) return false;
        out->push_back(v);
      }
      return true;
    };
    if (a == "--router") f->router = next();
    else if (a == "--spawn") f->spawn = next();
    else if (a == "--model") f->model = next();
    else if (a == "--dllm") f->dllm = next();
    else if (a == "--rate") f->rate = std::stod(next());
    else if (a == "--duration") f->duration = std::stod(next());
    else if (a == "--concurrency") { if (!ints(&f->concurrency)) return false; }
    else if (a == "--prompt-lengths") { if (!ints(&f->prompt_lengths)) return false; }
    else if (a == "--gen-length") f->gen_length = std::stoi(next());
    else if (a == "--block-length") f->block_length = std::stoi(next());
    else if (a == "--steps") f->steps = std::stoi(next());
    else if (a == "--slo-ttft-ms") f->slo_ttft_ms = std::stod(next());
    else if (a == "--requests-per-client") f->requests_per_client = std::stoi(next());
    else if (a == "--policy") f->policy = next();
    else {
      std::fprintf(stderr, "dllm-bench serve: unknown flag %s\n", a.c_str());
      return false;
    }
  }
  return (!f->router.empty() || !f->spawn.empty()) && (f->rate > 0 || !f->concurrency.empty());
}

}  // namespace

int main(int argc, char** argv) {
  Flags f;
  // `dllm-bench-serve serve ...` and `dllm-bench-serve ...` both work.
  const bool sub = argc > 1 && std::string(argv[1]) == "serve";
  if (!parse_flags(argc, argv, sub ? 2 : 1, &f)) {
    std::fprintf(stderr,
                 "usage: dllm-bench serve (--router HOST:PORT | --spawn P,D [--model DIR --dllm "
                 "BIN]) (--rate R --duration S | --concurrency 1,2,4) [--prompt-lengths 16,64,256] "
                 "[--gen-length N --block-length N --steps N] [--slo-ttft-ms MS] [--policy P]\n");
    return 2;
  }
  std::vector<Child> children;
  if (!f.spawn.empty()) {
    std::vector<std::string> pd = absl::StrSplit(f.spawn, ',');
    const int p = pd.size() == 2 ? std::stoi(pd[0]) : 1, d = pd.size() == 2 ? std::stoi(pd[1]) : 1;
    const std::string dir = "/tmp/dllm-bench-serve-" + std::to_string(getpid());
    std::system(("mkdir -p " + dir).c_str());
    children.push_back(spawn({f.dllm, "serve", "--role", "router", "--model", f.model, "--listen",
                              "127.0.0.1:0"}, dir + "/router.log"));
    f.router = wait_for(dir + "/router.log", "serving role router on ");
    for (int i = 0; i < p + d; ++i) {
      const std::string role = i < p ? "prefill" : "decode";
      const std::string log = dir + "/" + role + std::to_string(i) + ".log";
      children.push_back(spawn({f.dllm, "serve", "--role", role, "--model", f.model, "--router",
                                f.router, "--node-id", role + std::to_string(i), "--kv-pool-mb",
                                "256"}, log));
      wait_for(log, "registered with router");
    }
    std::fprintf(stderr, "dllm-bench serve: cluster of %d prefill + %d decode nodes, router %s\n",
                 p, d, f.router.c_str());
  }
  auto channel = grpc::CreateChannel(f.router, grpc::InsecureChannelCredentials());
  auto stub = dllm::v1::Generation::NewStub(channel);
  std::printf("prompt lengths {");
  for (int l : f.prompt_lengths) std::printf(" %d", l);
  std::printf(" }, gen %d, block %d, steps %d, SLO TTFT %.0f ms\n\n", f.gen_length, f.block_length,
              f.steps, f.slo_ttft_ms);
  header();
  if (f.rate > 0) {  // open loop
    std::mt19937_64 rng(42);
    std::exponential_distribution<double> gap(f.rate);
    std::vector<Sample> samples;
    std::mutex mu;
    std::vector<std::thread> threads;
    const Clock::time_point t0 = Clock::now();
    double at = 0;
    int n = 0;
    while (at < f.duration) {
      std::this_thread::sleep_until(t0 + std::chrono::duration<double>(at));
      const int len = f.prompt_lengths[n % f.prompt_lengths.size()];
      threads.emplace_back([&, len, n] {
        Sample s = one_request(*stub, f, len, static_cast<uint64_t>(n));
        std::lock_guard<std::mutex> lock(mu);
        samples.push_back(s);
      });
      ++n;
      at += gap(rng);
    }
    for (auto& t : threads) t.join();
    char label[32];
    std::snprintf(label, sizeof label, "%.1f req/s", f.rate);
    report(label, f, samples, std::chrono::duration<double>(Clock::now() - t0).count());
  }
  for (int c : f.concurrency) {  // closed loop
    std::vector<Sample> samples;
    std::mutex mu;
    std::vector<std::thread> threads;
    const Clock::time_point t0 = Clock::now();
    for (int i = 0; i < c; ++i)
      threads.emplace_back([&, i] {
        for (int k = 0; k < f.requests_per_client; ++k) {
          const int len = f.prompt_lengths[(i + k) % f.prompt_lengths.size()];
          Sample s = one_request(*stub, f, len, static_cast<uint64_t>(i * 1000 + k));
          std::lock_guard<std::mutex> lock(mu);
          samples.push_back(s);
        }
      });
    for (auto& t : threads) t.join();
    char label[32];
    std::snprintf(label, sizeof label, "%d clients", c);
    report(label, f, samples, std::chrono::duration<double>(Clock::now() - t0).count());
  }
  for (Child& c : children) kill(c.pid, SIGTERM);
  for (Child& c : children) waitpid(c.pid, nullptr, 0);
  return 0;
}

// The exporting side of the cuda_ipc tests: a process of its own that exposes device memory
// filled with known random bytes and hands the descriptors over a pipe.
//
// It is this test binary again, executed with kExporterFlag (see main() in the test): CUDA must
// never be initialised before a fork, and gtest runs every test in one process, so the parent
// spawns (fork + exec) instead of forking. Protocol, one line each way:
//   child → parent: "R <index> <descriptor as hex>" per region, then "READY"
//   parent → child: "unexpose <i>" | "realloc <i> <seed>" (free, allocate, fill, expose again:
//                    answers with one "R" line) | "quit"; each answered "OK" (or the R line)
#pragma once

#include <cuda_runtime_api.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "common/transfer/transport.h"

extern char** environ;

namespace dllm::transfer::cuda_ipc_test {

inline constexpr char kExporterFlag[] = "--cuda-ipc-exporter";
// Each region sits this far into its allocation: descriptors must carry the offset.
inline constexpr size_t kLeadBytes = 4096 + 64;

// Reproducible random bytes (splitmix64): the exporter fills, the puller compares.
inline std::vector<uint8_t> random_bytes(size_t n, uint64_t seed) {
  std::vector<uint8_t> out(n);
  uint64_t x = seed;
  size_t i = 0;
  for (; i < n; i += 8) {
    uint64_t z = (x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    std::memcpy(out.data() + i, &z, std::min<size_t>(8, n - i));
  }
  return out;
}

inline uint64_t region_seed(uint64_t seed, size_t index) { return seed * 1000003 + index; }

// ---- the child ----

struct ExportedRegion {
  void* allocation = nullptr;
  size_t bytes = 0;
  std::unique_ptr<Registration> registration;
};

inline bool fill_and_expose(Transport& t, ExportedRegion& r, size_t index, uint64_t seed) {
  if (cudaMalloc(&r.allocation, kLeadBytes + r.bytes + 4096) != cudaSuccess) return false;
  uint8_t* region = static_cast<uint8_t*>(r.allocation) + kLeadBytes;
  const std::vector<uint8_t> bytes = random_bytes(r.bytes, region_seed(seed, index));
  // A copy from pageable memory may return before its DMA lands: synchronize before exposing,
  // or a puller can read the bytes before they are there.
  if (cudaMemset(r.allocation, 0xab, kLeadBytes + r.bytes + 4096) != cudaSuccess ||
      cudaMemcpy(region, bytes.data(), r.bytes, cudaMemcpyHostToDevice) != cudaSuccess ||
      cudaDeviceSynchronize() != cudaSuccess)
    return false;
  absl::StatusOr<std::unique_ptr<Registration>> reg = t.expose(region, r.bytes);
  if (!reg.ok()) {
    std::cerr << "exporter: expose: " << reg.status() << "\n";
    return false;
  }
  r.registration = *std::move(reg);
  std::cout << "R " << index << " " << absl::BytesToHexString(r.registration->descriptor())
            << std::endl;
  return true;
}

// argv: kExporterFlag SEED SIZE... Returns the process's exit status.
inline int run_exporter(int argc, char** argv) {
  if (argc < 3) return 2;
  const uint64_t seed = std::stoull(argv[2]);
  absl::StatusOr<std::unique_ptr<Transport>> t = make_transport("cuda_ipc", {});
  if (!t.ok()) {
    std::cerr << "exporter: " << t.status() << "\n";
    return 3;
  }
  std::vector<ExportedRegion> regions(static_cast<size_t>(argc - 3));
  for (size_t i = 0; i < regions.size(); ++i) {
    regions[i].bytes = std::stoull(argv[3 + i]);
    if (!fill_and_expose(**t, regions[i], i, seed)) return 4;
  }
  std::cout << "READY" << std::endl;
  std::string line;
  while (std::getline(std::cin, line)) {
    std::istringstream in(line);
    std::string verb;
    size_t i = 0;
    in >> verb >> i;
    if (verb == "quit") break;
    if (i >= regions.size()) return 5;
    if (verb == "unexpose") {
      regions[i].registration.reset();
      std::cout << "OK" << std::endl;
    } else if (verb == "realloc") {
      uint64_t new_seed = 0;
      in >> new_seed;
      regions[i].registration.reset();
      cudaFree(regions[i].allocation);
      if (!fill_and_expose(**t, regions[i], i, new_seed)) return 6;
    } else {
      return 7;
    }
  }
  for (ExportedRegion& r : regions) r.registration.reset();
  t->reset();
  return 0;
}

// ---- the parent's handle on it ----

class ExporterProcess {
 public:
  ExporterProcess(uint64_t seed, const std::vector<size_t>& sizes) {
    int to_child[2], from_child[2];
    // Close-on-exec: a second exporter must not hold this one's pipes open.
    if (pipe2(to_child, O_CLOEXEC) != 0 || pipe2(from_child, O_CLOEXEC) != 0) return;
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, to_child[0], STDIN_FILENO);
    posix_spawn_file_actions_adddup2(&actions, from_child[1], STDOUT_FILENO);
    posix_spawn_file_actions_addclose(&actions, to_child[1]);
    posix_spawn_file_actions_addclose(&actions, from_child[0]);
    std::vector<std::string> args = {"/proc/self/exe", kExporterFlag, std::to_string(seed)};
    for (size_t s : sizes) args.push_back(std::to_string(s));
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    if (posix_spawn(&pid_, "/proc/self/exe", &actions, nullptr, argv.data(), environ) != 0)
      pid_ = -1;
    posix_spawn_file_actions_destroy(&actions);
    close(to_child[0]);
    close(from_child[1]);
    to_child_ = to_child[1];
    from_child_ = from_child[0];
    descriptors_.resize(sizes.size());
    for (std::string line; read_line(&line) && line != "READY";) take_region_line(line);
  }
  // Closing its stdin lets the child unexpose and exit on its own (removing its token table);
  // one that does not within a few seconds is killed.
  ~ExporterProcess() {
    if (to_child_ >= 0) close(to_child_);
    if (from_child_ >= 0) close(from_child_);
    if (pid_ <= 0 || reaped_) return;
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (waitpid(pid_, nullptr, WNOHANG) == 0) {
      if (std::chrono::steady_clock::now() > give_up) {
        kill(pid_, SIGKILL);
        waitpid(pid_, nullptr, 0);
        return;
      }
      usleep(2000);
    }
  }
  ExporterProcess(const ExporterProcess&) = delete;
  ExporterProcess& operator=(const ExporterProcess&) = delete;

  bool ready() const {
    for (const std::string& d : descriptors_)
      if (d.empty()) return false;
    return pid_ > 0 && !descriptors_.empty();
  }
  const std::string& descriptor(size_t i) const { return descriptors_.at(i); }

  bool unexpose(size_t i) { return command("unexpose " + std::to_string(i)) == "OK"; }
  // The region's allocation freed, a new one filled from `seed` and exposed.
  bool realloc(size_t i, uint64_t seed) {
    const std::string line = command("realloc " + std::to_string(i) + " " + std::to_string(seed));
    return take_region_line(line);
  }
  void kill_and_reap() {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    reaped_ = true;
  }

 private:
  std::string command(const std::string& text) {
    const std::string out = text + "\n";
    if (write(to_child_, out.data(), out.size()) != static_cast<ssize_t>(out.size())) return "";
    std::string line;
    return read_line(&line) ? line : "";
  }

  bool take_region_line(const std::string& line) {
    std::istringstream in(line);
    std::string tag, hex;
    size_t i = 0;
    in >> tag >> i >> hex;
    if (tag != "R" || i >= descriptors_.size()) return false;
    descriptors_[i] = absl::HexStringToBytes(hex);
    return true;
  }

  // A line from the child, waiting at most a minute (a broken child must not hang the test).
  bool read_line(std::string* line) {
    line->clear();
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    for (;;) {
      const size_t nl = buffered_.find('\n');
      if (nl != std::string::npos) {
        *line = buffered_.substr(0, nl);
        buffered_.erase(0, nl + 1);
        return true;
      }
      pollfd p{from_child_, POLLIN, 0};
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          give_up - std::chrono::steady_clock::now());
      if (left.count() <= 0 || poll(&p, 1, static_cast<int>(left.count())) <= 0) return false;
      char chunk[4096];
      const ssize_t n = read(from_child_, chunk, sizeof(chunk));
      if (n <= 0) return false;
      buffered_.append(chunk, static_cast<size_t>(n));
    }
  }

  pid_t pid_ = -1;
  int to_child_ = -1, from_child_ = -1;
  bool reaped_ = false;
  std::string buffered_;
  std::vector<std::string> descriptors_;
};

}  // namespace dllm::transfer::cuda_ipc_test

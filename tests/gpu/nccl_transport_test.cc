// The nccl transport on two GPUs: another process exposes memory on GPU 0 (device memory and a
// host buffer, which is staged), this one pulls on GPU 1. Skips with fewer than two GPUs (NCCL
// cannot put both ranks on one GPU): it is for issue #8's two-GPU machine.
//
// The exposing process is this binary again, run with kExposerFlag (CUDA must not be initialised
// before a fork). Protocol: the child prints "R <descriptor as hex>" for its device region, then
// for its host region, then "READY"; it exits when its stdin closes.
#include <cuda_runtime_api.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <future>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/escaping.h"
#include "common/transfer/transport.h"

extern char** environ;

namespace dllm::transfer {
namespace {

constexpr char kExposerFlag[] = "--nccl-exposer";
constexpr size_t kBytes = (size_t{96} << 20) + 4099;  // several 64 MiB pieces and an odd tail
constexpr int kExposeDevice = 0, kPullDevice = 1;

std::vector<uint8_t> random_bytes(size_t n, uint64_t seed) {
  std::vector<uint8_t> out(n);
  uint64_t x = seed;
  for (size_t i = 0; i < n; i += 8) {
    uint64_t z = (x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    std::memcpy(out.data() + i, &z, std::min<size_t>(8, n - i));
  }
  return out;
}

TransportOptions options_for(int device) {
  TransportOptions o;
  o.nccl_device = device;
  return o;
}

int run_exposer() {
  const std::vector<uint8_t> device_bytes = random_bytes(kBytes, 1), host = random_bytes(kBytes, 2);
  void* arena = nullptr;
  if (cudaSetDevice(kExposeDevice) != cudaSuccess || cudaMalloc(&arena, kBytes) != cudaSuccess ||
      cudaMemcpy(arena, device_bytes.data(), kBytes, cudaMemcpyHostToDevice) != cudaSuccess ||
      cudaDeviceSynchronize() != cudaSuccess)
    return 3;
  absl::StatusOr<std::unique_ptr<Transport>> t = make_transport("nccl", options_for(kExposeDevice));
  if (!t.ok()) {
    std::cerr << "exposer: " << t.status() << "\n";
    return 4;
  }
  auto on_device = (*t)->expose(arena, kBytes);
  auto on_host = (*t)->expose(host.data(), host.size());
  if (!on_device.ok() || !on_host.ok()) return 5;
  std::cout << "R " << absl::BytesToHexString((*on_device)->descriptor()) << "\nR "
            << absl::BytesToHexString((*on_host)->descriptor()) << "\nREADY" << std::endl;
  std::string line;
  while (std::getline(std::cin, line)) {
  }
  on_device->reset();
  on_host->reset();
  t->reset();
  cudaFree(arena);
  return 0;
}

class ExposerProcess {
 public:
  ExposerProcess() {
    int to_child[2], from_child[2];
    if (pipe2(to_child, O_CLOEXEC) != 0 || pipe2(from_child, O_CLOEXEC) != 0) return;
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, to_child[0], STDIN_FILENO);
    posix_spawn_file_actions_adddup2(&actions, from_child[1], STDOUT_FILENO);
    std::string self = "/proc/self/exe", flag = kExposerFlag;
    char* argv[] = {self.data(), flag.data(), nullptr};
    if (posix_spawn(&pid_, "/proc/self/exe", &actions, nullptr, argv, environ) != 0) pid_ = -1;
    posix_spawn_file_actions_destroy(&actions);
    close(to_child[0]);
    close(from_child[1]);
    to_child_ = to_child[1];
    FILE* in = fdopen(from_child[0], "r");
    char buf[4096];
    while (in != nullptr && std::fgets(buf, sizeof(buf), in) != nullptr) {
      std::string line(buf);
      while (!line.empty() && line.back() == '\n') line.pop_back();
      if (line == "READY") break;
      if (line.rfind("R ", 0) == 0) descriptors_.push_back(absl::HexStringToBytes(line.substr(2)));
    }
    if (in != nullptr) fclose(in);
  }
  ~ExposerProcess() {
    if (to_child_ >= 0) close(to_child_);
    if (pid_ > 0) waitpid(pid_, nullptr, 0);
  }
  void kill_and_reap() {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }
  // [0]: device memory, [1]: host memory.
  const std::vector<std::string>& descriptors() const { return descriptors_; }

 private:
  pid_t pid_ = -1;
  int to_child_ = -1;
  std::vector<std::string> descriptors_;
};

class NcclTransportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess || n < 2)
      GTEST_SKIP() << "nccl needs two GPUs (NCCL cannot put both ranks on one); " << n << " here";
    ASSERT_EQ(cudaSetDevice(kPullDevice), cudaSuccess);
  }
};

TEST_F(NcclTransportTest, PullsDeviceAndHostRegionsIntoDeviceAndHostMemory) {
  ExposerProcess child;
  ASSERT_EQ(child.descriptors().size(), 2u);
  absl::StatusOr<std::unique_ptr<Transport>> t = make_transport("nccl", options_for(kPullDevice));
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_TRUE((*t)->capabilities().device_memory);
  void* dst = nullptr;
  ASSERT_EQ(cudaMalloc(&dst, kBytes), cudaSuccess);
  for (int which = 0; which < 2; ++which) {
    const std::vector<uint8_t> expected = random_bytes(kBytes, which == 0 ? 1 : 2);
    const std::string& d = child.descriptors()[which];
    ASSERT_EQ(cudaMemset(dst, 0, kBytes), cudaSuccess);
    absl::Status s = (*t)->pull(d, 0, dst, kBytes, absl::Seconds(120));
    ASSERT_TRUE(s.ok()) << s;
    std::vector<uint8_t> got(kBytes);
    ASSERT_EQ(cudaMemcpy(got.data(), dst, kBytes, cudaMemcpyDeviceToHost), cudaSuccess);
    EXPECT_TRUE(got == expected) << "region " << which << " into device memory";
    std::vector<uint8_t> host(kBytes - 12345, 0);  // into host memory: staged
    s = (*t)->pull(d, 12345, host.data(), host.size(), absl::Seconds(60));
    ASSERT_TRUE(s.ok()) << s;
    EXPECT_TRUE(std::equal(host.begin(), host.end(), expected.begin() + 12345))
        << "region " << which << " into host memory";
  }
  cudaFree(dst);
}

TEST_F(NcclTransportTest, ConcurrentAsyncPullsAndMemoryOfAnotherGpu) {
  ExposerProcess child;
  ASSERT_EQ(child.descriptors().size(), 2u);
  absl::StatusOr<std::unique_ptr<Transport>> t = make_transport("nccl", options_for(kPullDevice));
  ASSERT_TRUE(t.ok()) << t.status();
  const std::vector<uint8_t> expected = random_bytes(kBytes, 1);
  constexpr int kPieces = 16;
  const size_t piece = kBytes / kPieces;
  void* dst = nullptr;
  ASSERT_EQ(cudaMalloc(&dst, kBytes), cudaSuccess);
  std::vector<std::future<absl::Status>> pulls;
  for (int k = 0; k < kPieces; ++k)
    pulls.push_back((*t)->pull_async(child.descriptors()[0], k * piece,
                                     static_cast<uint8_t*>(dst) + k * piece, piece,
                                     absl::Seconds(120)));
  for (auto& p : pulls) {
    absl::Status s = p.get();
    EXPECT_TRUE(s.ok()) << s;
  }
  std::vector<uint8_t> got(piece * kPieces);
  ASSERT_EQ(cudaMemcpy(got.data(), dst, got.size(), cudaMemcpyDeviceToHost), cudaSuccess);
  EXPECT_TRUE(std::equal(got.begin(), got.end(), expected.begin()));
  cudaFree(dst);

  void* elsewhere = nullptr;  // memory of GPU 0: not this transport's GPU
  ASSERT_EQ(cudaSetDevice(kExposeDevice), cudaSuccess);
  ASSERT_EQ(cudaMalloc(&elsewhere, 4096), cudaSuccess);
  ASSERT_EQ(cudaSetDevice(kPullDevice), cudaSuccess);
  absl::Status s = (*t)->pull(child.descriptors()[0], 0, elsewhere, 4096, absl::Seconds(10));
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_EQ((*t)->expose(elsewhere, 4096).status().code(), absl::StatusCode::kInvalidArgument);
  cudaFree(elsewhere);
}

TEST_F(NcclTransportTest, KilledExposerFailsTheNextPullsWithinTheTimeout) {
  ExposerProcess child;
  ASSERT_EQ(child.descriptors().size(), 2u);
  absl::StatusOr<std::unique_ptr<Transport>> t = make_transport("nccl", options_for(kPullDevice));
  ASSERT_TRUE(t.ok()) << t.status();
  void* dst = nullptr;
  ASSERT_EQ(cudaMalloc(&dst, kBytes), cudaSuccess);
  ASSERT_TRUE((*t)->pull(child.descriptors()[0], 0, dst, kBytes, absl::Seconds(120)).ok());
  child.kill_and_reap();
  for (int attempt = 0; attempt < 2; ++attempt) {
    const auto t0 = std::chrono::steady_clock::now();
    absl::Status s = (*t)->pull(child.descriptors()[0], 0, dst, kBytes, absl::Seconds(5));
    EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
    EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(6));
  }
  cudaFree(dst);
}

}  // namespace
}  // namespace dllm::transfer

int main(int argc, char** argv) {
  if (argc >= 2 && std::strcmp(argv[1], dllm::transfer::kExposerFlag) == 0)
    return dllm::transfer::run_exposer();
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}

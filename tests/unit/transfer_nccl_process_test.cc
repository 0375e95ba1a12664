// The nccl transport's protocol across processes (over the host-memory pair channel): a forked
// child exposes a buffer and hands its descriptor over a pipe; the parent pulls, then stops or
// kills the child and must get a clean error within the timeout. And the other way round: a
// puller killed mid-pull must not pin the exposer's region. Children are forked before the
// parent makes a transport of its own.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>

#include "transfer_nccl_test_util.h"
#include "transfer_test_util.h"

namespace dllm::transfer {
namespace {

using testing::make_host_nccl;
using testing::nccl_test_options;
using testing::random_bytes;
using Clock = std::chrono::steady_clock;

constexpr size_t kBytes = (size_t{4} << 20) + 5;
constexpr uint64_t kSeed = 91;

bool write_all(int fd, const void* p, size_t n) {
  const char* c = static_cast<const char*>(p);
  while (n > 0) {
    const ssize_t w = write(fd, c, n);
    if (w <= 0) return false;
    c += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

bool read_all(int fd, void* p, size_t n) {
  char* c = static_cast<char*>(p);
  while (n > 0) {
    const ssize_t r = read(fd, c, n);
    if (r <= 0) return false;
    c += r;
    n -= static_cast<size_t>(r);
  }
  return true;
}

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// The exposing child: never returns into the test framework.
[[noreturn]] void run_exposer(int descriptor_fd, int control_fd, absl::Duration pause) {
  auto exposer = make_host_nccl(nccl_test_options(), pause);
  if (exposer.transport == nullptr) _exit(3);
  const std::vector<uint8_t> buffer = random_bytes(kBytes, kSeed);
  absl::StatusOr<std::unique_ptr<Registration>> reg =
      exposer.transport->expose(buffer.data(), buffer.size());
  if (!reg.ok()) _exit(4);
  const std::string& d = (*reg)->descriptor();
  const uint32_t n = static_cast<uint32_t>(d.size());
  if (!write_all(descriptor_fd, &n, sizeof(n)) || !write_all(descriptor_fd, d.data(), n)) _exit(5);
  char byte;
  (void)!read(control_fd, &byte, 1);  // until the parent closes the pipe (or kills us)
  reg->reset();
  exposer.transport.reset();
  _exit(0);
}

class ExposerProcess {
 public:
  explicit ExposerProcess(absl::Duration pause = absl::ZeroDuration()) {
    int out[2], control[2];
    if (pipe(out) != 0 || pipe(control) != 0) return;
    pid_ = fork();
    if (pid_ == 0) {
      close(out[0]);
      close(control[1]);
      run_exposer(out[1], control[0], pause);
    }
    close(out[1]);
    close(control[0]);
    control_fd_ = control[1];
    uint32_t n = 0;
    if (read_all(out[0], &n, sizeof(n)) && n < (1u << 20)) {
      descriptor_.resize(n);
      if (!read_all(out[0], descriptor_.data(), n)) descriptor_.clear();
    }
    close(out[0]);
  }
  ~ExposerProcess() {
    if (control_fd_ >= 0) close(control_fd_);
    if (pid_ > 0 && !reaped_) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }
  const std::string& descriptor() const { return descriptor_; }
  // Returns once the child is stopped (a signal is delivered asynchronously).
  void stop() {
    kill(pid_, SIGSTOP);
    int status = 0;
    waitpid(pid_, &status, WUNTRACED);
  }
  void resume() { kill(pid_, SIGCONT); }
  void kill_and_reap() {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    reaped_ = true;
  }

 private:
  pid_t pid_ = -1;
  int control_fd_ = -1;
  bool reaped_ = false;
  std::string descriptor_;
};

TEST(NcclAcrossProcesses, PullsExactBytesThenFailsCleanlyWhenTheExposerIsKilled) {
  ExposerProcess child;
  ASSERT_FALSE(child.descriptor().empty()) << "the child did not publish a descriptor";
  auto puller = make_host_nccl();
  const std::vector<uint8_t> expected = random_bytes(kBytes, kSeed);
  std::vector<uint8_t> dst(kBytes);
  absl::Status s =
      puller.transport->pull(child.descriptor(), 0, dst.data(), dst.size(), absl::Seconds(60));
  ASSERT_TRUE(s.ok()) << s;
  ASSERT_TRUE(dst == expected);

  child.kill_and_reap();
  const absl::Duration timeout = absl::Seconds(3);
  for (int attempt = 0; attempt < 2; ++attempt) {  // the cached pair, then a fresh connect
    const Clock::time_point t0 = Clock::now();
    s = puller.transport->pull(child.descriptor(), 0, dst.data(), dst.size(), timeout);
    EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
    EXPECT_LT(seconds_since(t0), 2.0);
  }
}

TEST(NcclAcrossProcesses, ExposerKilledMidTransferFailsEveryPullCleanly) {
  ExposerProcess child(absl::Milliseconds(5));  // 4 MiB: about 320 ms on the wire
  ASSERT_FALSE(child.descriptor().empty());
  auto puller = make_host_nccl();
  const std::vector<uint8_t> expected = random_bytes(kBytes, kSeed);
  std::vector<std::vector<uint8_t>> dsts(4, std::vector<uint8_t>(kBytes));
  std::vector<std::future<absl::Status>> pulls;
  const Clock::time_point t0 = Clock::now();
  for (auto& dst : dsts)
    pulls.push_back(puller.transport->pull_async(child.descriptor(), 0, dst.data(), dst.size(),
                                                 absl::Seconds(20)));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  child.kill_and_reap();
  for (size_t k = 0; k < pulls.size(); ++k) {
    absl::Status s = pulls[k].get();
    EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << "pull " << k << ": " << s;
  }
  EXPECT_LT(seconds_since(t0), 3.0) << "a dead peer is noticed, not waited out";
}

TEST(NcclAcrossProcesses, StoppedExposerTimesOutThenRecoversWhenResumed) {
  ExposerProcess child;
  ASSERT_FALSE(child.descriptor().empty());
  auto puller = make_host_nccl();
  const std::vector<uint8_t> expected = random_bytes(kBytes, kSeed);
  std::vector<uint8_t> dst(kBytes);
  ASSERT_TRUE(
      puller.transport->pull(child.descriptor(), 0, dst.data(), dst.size(), absl::Seconds(60))
          .ok());

  child.stop();  // alive (the kernel keeps its sockets) but never answers
  const Clock::time_point t0 = Clock::now();
  absl::Status s = puller.transport->pull(child.descriptor(), 0, dst.data(), dst.size(),
                                          absl::Milliseconds(300));
  EXPECT_EQ(s.code(), absl::StatusCode::kDeadlineExceeded) << s;
  EXPECT_LT(seconds_since(t0), 2.0);

  child.resume();
  std::fill(dst.begin(), dst.end(), 0);
  s = puller.transport->pull(child.descriptor(), 0, dst.data(), dst.size(), absl::Seconds(60));
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_TRUE(dst == expected);
  EXPECT_EQ(puller.pairs_joined->load(), 2) << "the aborted pair was replaced";
}

// The parent exposes on a slow link; a child pulls and is killed mid-pull. The exposer notices
// the closed connection and lets go of the region: unexposing does not wait out its long grace.
TEST(NcclAcrossProcesses, PullerKilledMidPullDoesNotPinTheRegion) {
  int to_child[2], to_parent[2];
  ASSERT_EQ(pipe(to_child), 0);
  ASSERT_EQ(pipe(to_parent), 0);
  const pid_t pid = fork();
  if (pid == 0) {
    close(to_child[1]);
    close(to_parent[0]);
    uint32_t n = 0;
    std::string d;
    if (!read_all(to_child[0], &n, sizeof(n)) || n > (1u << 20)) _exit(3);
    d.resize(n);
    if (!read_all(to_child[0], d.data(), n)) _exit(3);
    auto puller = make_host_nccl();
    std::vector<uint8_t> dst(kBytes);
    const char started = 1;
    std::future<absl::Status> pull =
        puller.transport->pull_async(d, 0, dst.data(), dst.size(), absl::Seconds(60));
    (void)!write(to_parent[1], &started, 1);
    pull.wait();
    _exit(0);
  }
  close(to_child[0]);
  close(to_parent[1]);
  auto exposer = make_host_nccl(nccl_test_options(absl::Seconds(30)), absl::Milliseconds(20));
  const std::vector<uint8_t> buffer = random_bytes(kBytes, kSeed);  // about 1.3 s on the wire
  absl::StatusOr<std::unique_ptr<Registration>> reg =
      exposer.transport->expose(buffer.data(), buffer.size());
  ASSERT_TRUE(reg.ok());
  const std::string& d = (*reg)->descriptor();
  const uint32_t n = static_cast<uint32_t>(d.size());
  ASSERT_TRUE(write_all(to_child[1], &n, sizeof(n)) && write_all(to_child[1], d.data(), n));
  char started = 0;
  ASSERT_TRUE(read_all(to_parent[0], &started, 1));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // set up and sending by now
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
  close(to_child[1]);
  close(to_parent[0]);
  const Clock::time_point t0 = Clock::now();
  reg->reset();
  EXPECT_LT(seconds_since(t0), 2.0);
}

}  // namespace
}  // namespace dllm::transfer

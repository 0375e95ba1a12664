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
#include "transfer_process_test_util.h"
#include "transfer_test_util.h"

namespace dllm::transfer {
namespace {

using testing::ExposerProcess;
using testing::make_host_nccl;
using testing::nccl_test_options;
using testing::publish_and_wait;
using testing::random_bytes;
using testing::read_all;
using testing::read_descriptor;
using testing::write_descriptor;
using Clock = std::chrono::steady_clock;

constexpr size_t kBytes = (size_t{4} << 20) + 5;
constexpr uint64_t kSeed = 91;

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
  if (!publish_and_wait(descriptor_fd, control_fd, (*reg)->descriptor())) _exit(5);
  reg->reset();
  exposer.transport.reset();
  _exit(0);
}

ExposerProcess start_exposer(absl::Duration pause = absl::ZeroDuration()) {
  return ExposerProcess([pause](int descriptor_fd, int control_fd) {
    run_exposer(descriptor_fd, control_fd, pause);
  });
}

TEST(NcclAcrossProcesses, PullsExactBytesThenFailsCleanlyWhenTheExposerIsKilled) {
  ExposerProcess child = start_exposer();
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
  ExposerProcess child = start_exposer(absl::Milliseconds(5));  // 4 MiB: about 320 ms on the wire
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
  ExposerProcess child = start_exposer();
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
    const std::string d = read_descriptor(to_child[0]);
    if (d.empty()) _exit(3);
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
  ASSERT_TRUE(write_descriptor(to_child[1], (*reg)->descriptor()));
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

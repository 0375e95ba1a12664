// The ucx transport across processes: a forked child exposes a buffer and hands its descriptor
// over a pipe; the parent pulls it, then stops or kills the child and must get a clean error
// within the timeout (never a hang). The child is forked before the parent touches UCX.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>

#include "common/transfer/transport.h"
#include "transfer_process_test_util.h"
#include "transfer_test_util.h"

namespace dllm::transfer {
namespace {

using testing::ExposerProcess;
using testing::make_or_die;
using testing::publish_and_wait;
using testing::random_bytes;
using testing::read_all;
using testing::read_descriptor;
using testing::ucx_options;
using testing::write_all;
using testing::write_descriptor;

constexpr size_t kBytes = (size_t{16} << 20) + 5;
constexpr uint64_t kSeed = 77;

// The exposing process: never returns into the test framework.
[[noreturn]] void run_exposer(int descriptor_fd, int control_fd, UcxProtocol protocol) {
  absl::StatusOr<std::unique_ptr<Transport>> t = make_transport("ucx", ucx_options(protocol));
  if (!t.ok()) _exit(3);
  const std::vector<uint8_t> buffer = random_bytes(kBytes, kSeed);
  absl::StatusOr<std::unique_ptr<Registration>> reg = (*t)->expose(buffer.data(), buffer.size());
  if (!reg.ok()) _exit(4);
  if (!publish_and_wait(descriptor_fd, control_fd, (*reg)->descriptor())) _exit(5);
  reg->reset();
  t->reset();
  _exit(0);
}

ExposerProcess start_exposer(UcxProtocol protocol) {
  return ExposerProcess([protocol](int descriptor_fd, int control_fd) {
    run_exposer(descriptor_fd, control_fd, protocol);
  });
}

const char* protocol_name(UcxProtocol p) {
  return p == UcxProtocol::kRma ? "Rma" : "ActiveMessage";
}

class UcxAcrossProcesses : public ::testing::TestWithParam<UcxProtocol> {};

TEST_P(UcxAcrossProcesses, PullsExactBytesThenFailsCleanlyWhenTheOwnerIsKilled) {
  ExposerProcess child = start_exposer(GetParam());
  ASSERT_FALSE(child.descriptor().empty()) << "the child did not publish a descriptor";
  auto puller = make_or_die("ucx", ucx_options(GetParam()));
  const std::vector<uint8_t> expected = random_bytes(kBytes, kSeed);
  std::vector<uint8_t> dst(kBytes);
  absl::Status s = puller->pull(child.descriptor(), 0, dst.data(), dst.size(), absl::Seconds(60));
  ASSERT_TRUE(s.ok()) << s;
  ASSERT_TRUE(dst == expected);
  std::vector<uint8_t> part(1000);
  ASSERT_TRUE(
      puller->pull(child.descriptor(), 12345, part.data(), part.size(), absl::Seconds(10)).ok());
  EXPECT_TRUE(std::equal(part.begin(), part.end(), expected.begin() + 12345));

  child.kill_and_reap();
  const absl::Duration timeout = absl::Seconds(3);
  for (int attempt = 0; attempt < 2; ++attempt) {  // the cached endpoint, then a fresh one
    const auto t0 = std::chrono::steady_clock::now();
    s = puller->pull(child.descriptor(), 0, dst.data(), dst.size(), timeout);
    const auto took = std::chrono::steady_clock::now() - t0;
    EXPECT_TRUE(s.code() == absl::StatusCode::kUnavailable ||
                s.code() == absl::StatusCode::kDeadlineExceeded)
        << s;
    EXPECT_LT(took, absl::ToChronoNanoseconds(timeout) + std::chrono::seconds(1));
  }
}

TEST_P(UcxAcrossProcesses, StoppedOwnerTimesOutThenRecoversWhenResumed) {
  ExposerProcess child = start_exposer(GetParam());
  ASSERT_FALSE(child.descriptor().empty());
  auto puller = make_or_die("ucx", ucx_options(GetParam()));
  const std::vector<uint8_t> expected = random_bytes(kBytes, kSeed);
  std::vector<uint8_t> dst(kBytes);
  ASSERT_TRUE(puller->pull(child.descriptor(), 0, dst.data(), dst.size(), absl::Seconds(60)).ok());

  child.signal(SIGSTOP);  // alive (the kernel keeps its sockets) but never answers
  const auto t0 = std::chrono::steady_clock::now();
  absl::Status s =
      puller->pull(child.descriptor(), 0, dst.data(), dst.size(), absl::Milliseconds(500));
  const auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_EQ(s.code(), absl::StatusCode::kDeadlineExceeded) << s;
  EXPECT_LT(took, std::chrono::milliseconds(1500));

  child.signal(SIGCONT);
  std::fill(dst.begin(), dst.end(), 0);
  s = puller->pull(child.descriptor(), 0, dst.data(), dst.size(), absl::Seconds(60));
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_TRUE(dst == expected);
}

TEST_P(UcxAcrossProcesses, OwnerKilledMidTransferFailsEveryPullCleanly) {
  ExposerProcess child = start_exposer(GetParam());
  ASSERT_FALSE(child.descriptor().empty());
  auto puller = make_or_die("ucx", ucx_options(GetParam()));
  const std::vector<uint8_t> expected = random_bytes(kBytes, kSeed);
  std::vector<std::vector<uint8_t>> dsts(8, std::vector<uint8_t>(kBytes));
  std::vector<std::future<absl::Status>> pulls;
  const auto t0 = std::chrono::steady_clock::now();
  for (auto& dst : dsts)
    pulls.push_back(
        puller->pull_async(child.descriptor(), 0, dst.data(), dst.size(), absl::Seconds(5)));
  std::this_thread::sleep_for(std::chrono::milliseconds(15));
  child.kill_and_reap();
  for (size_t k = 0; k < pulls.size(); ++k) {
    absl::Status s = pulls[k].get();
    EXPECT_TRUE(s.ok() || s.code() == absl::StatusCode::kUnavailable ||
                s.code() == absl::StatusCode::kDeadlineExceeded)
        << s;
    if (s.ok()) {
      EXPECT_TRUE(dsts[k] == expected);
    }
  }
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(6));
}

// The other way round: the child pulls without pause, the parent owns the region. Stopping the
// child mid-transfer leaves replies that will never be read; unexposing must still return
// (the owner cuts those connections after the grace period).
TEST(UcxActiveMessageOwner, UnexposeDoesNotWaitForeverOnAStoppedPuller) {
  int to_child[2], to_parent[2];
  ASSERT_EQ(pipe(to_child), 0);
  ASSERT_EQ(pipe(to_parent), 0);
  const pid_t pid = fork();
  if (pid == 0) {
    close(to_child[1]);
    close(to_parent[0]);
    const std::string d = read_descriptor(to_child[0]);
    if (d.empty()) _exit(2);
    auto t = make_transport("ucx", ucx_options(UcxProtocol::kActiveMessage));
    if (!t.ok()) _exit(3);
    std::vector<uint8_t> dst(kBytes);
    for (bool told = false;;) {
      if (!(*t)->pull(d, 0, dst.data(), dst.size(), absl::Seconds(60)).ok()) _exit(0);
      if (!told) told = write_all(to_parent[1], "r", 1);
    }
  }
  close(to_child[0]);
  close(to_parent[1]);
  TransportOptions options = ucx_options(UcxProtocol::kActiveMessage);
  options.ucx_unexpose_grace = absl::Milliseconds(300);
  auto owner = make_or_die("ucx", options);
  const std::vector<uint8_t> src = random_bytes(kBytes, kSeed);
  auto reg = owner->expose(src.data(), src.size());
  ASSERT_TRUE(reg.ok());
  ASSERT_TRUE(write_descriptor(to_child[1], (*reg)->descriptor()));
  char ready = 0;
  ASSERT_TRUE(read_all(to_parent[0], &ready, 1));  // the child's first pull succeeded
  std::this_thread::sleep_for(std::chrono::milliseconds(3));
  kill(pid, SIGSTOP);
  const auto t0 = std::chrono::steady_clock::now();
  reg->reset();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(2));
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
  close(to_child[1]);
  close(to_parent[0]);
}

INSTANTIATE_TEST_SUITE_P(Protocols, UcxAcrossProcesses,
                         ::testing::Values(UcxProtocol::kActiveMessage, UcxProtocol::kRma),
                         [](const ::testing::TestParamInfo<UcxProtocol>& info) {
                           return std::string(protocol_name(info.param));
                         });

}  // namespace

// Names the case in ctest's list instead of a byte dump (found by ADL on UcxProtocol).
void PrintTo(UcxProtocol p, std::ostream* os) { *os << protocol_name(p); }

}  // namespace dllm::transfer

// The nccl transport's pull protocol in one process, over the host-memory pair channel (the
// NCCL channel needs two GPUs; tests/gpu/nccl_transport_test runs it there): pair set-up and
// caching, exact bytes, concurrent pulls, unexposing mid-pull, timeouts that abort the pair,
// out-of-range and foreign descriptors, a server that never answers, and make_transport("nccl").
#include <gtest/gtest.h>

#include <chrono>
#include <thread>
#include <vector>

#include "common/transfer/nccl_descriptor.h"
#include "common/transfer/tcp_socket.h"
#include "common/transfer/transport.h"
#include "transfer_nccl_test_util.h"
#include "transfer_test_util.h"

namespace dllm::transfer {
namespace {

using testing::make_host_nccl;
using testing::make_or_die;
using testing::nccl_test_options;
using testing::random_bytes;
using Clock = std::chrono::steady_clock;

constexpr size_t kBytes = (size_t{5} << 20) + 3;  // several 1 MiB pieces and a short one

std::unique_ptr<Registration> expose_or_die(Transport& t, const std::vector<uint8_t>& buffer) {
  absl::StatusOr<std::unique_ptr<Registration>> r = t.expose(buffer.data(), buffer.size());
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() ? std::move(*r) : nullptr;
}

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

TEST(NcclDescriptor, RoundTripsAndRejectsDamage) {
  const NcclDescriptor d{
      .control_host = "127.0.0.1", .control_port = 4242, .instance = 77, .region = 5, .size = 1000};
  const std::string bytes = encode_nccl_descriptor(d);
  absl::StatusOr<NcclDescriptor> back = decode_nccl_descriptor(bytes);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->control_host, "127.0.0.1");
  EXPECT_EQ(back->control_port, 4242);
  EXPECT_EQ(back->instance, 77u);
  EXPECT_EQ(back->region, 5u);
  EXPECT_EQ(back->size, 1000u);
  for (size_t i = 0; i < bytes.size(); ++i) {
    std::string damaged = bytes;
    damaged[i] ^= 0x10;
    EXPECT_EQ(decode_nccl_descriptor(damaged).status().code(), absl::StatusCode::kInvalidArgument)
        << "byte " << i;
  }
  EXPECT_EQ(decode_nccl_descriptor(bytes.substr(0, bytes.size() - 1)).status().code(),
            absl::StatusCode::kInvalidArgument);
  NcclDescriptor empty = d;
  empty.size = 0;
  EXPECT_EQ(decode_nccl_descriptor(encode_nccl_descriptor(empty)).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(NcclTransport, PullsExactBytesInPiecesOverOneCachedPair) {
  auto exposer = make_host_nccl();
  auto puller = make_host_nccl();
  ASSERT_NE(exposer.transport, nullptr);
  EXPECT_EQ(exposer.transport->name(), "nccl");
  EXPECT_TRUE(exposer.transport->capabilities().cross_process);
  EXPECT_FALSE(exposer.transport->capabilities().device_memory);  // the host channel
  const std::vector<uint8_t> buffer = random_bytes(kBytes, 1);
  auto reg = expose_or_die(*exposer.transport, buffer);
  ASSERT_NE(reg, nullptr);
  EXPECT_EQ(reg->size(), kBytes);

  std::vector<uint8_t> dst(kBytes);
  absl::Status s =
      puller.transport->pull(reg->descriptor(), 0, dst.data(), dst.size(), absl::Seconds(30));
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_TRUE(dst == buffer);
  for (size_t offset : {size_t{0}, size_t{1}, size_t{12345}, kBytes - 1000}) {
    std::vector<uint8_t> part(1000, 0);
    s = puller.transport->pull(reg->descriptor(), offset, part.data(), part.size(),
                               absl::Seconds(30));
    ASSERT_TRUE(s.ok()) << s;
    EXPECT_TRUE(std::equal(part.begin(), part.end(), buffer.begin() + offset)) << offset;
  }
  EXPECT_TRUE(puller.transport->pull(reg->descriptor(), kBytes, nullptr, 0, absl::Seconds(1)).ok());
  EXPECT_EQ(puller.pairs_joined->load(), 1) << "one communicator per exposer/puller pair";

  // A second puller gets a pair of its own.
  auto other = make_host_nccl();
  std::fill(dst.begin(), dst.end(), 0);
  ASSERT_TRUE(
      other.transport->pull(reg->descriptor(), 0, dst.data(), dst.size(), absl::Seconds(30)).ok());
  EXPECT_TRUE(dst == buffer);
  EXPECT_EQ(other.pairs_joined->load(), 1);
  EXPECT_EQ(puller.pairs_joined->load(), 1);
}

TEST(NcclTransport, OutOfRangeNullAndForeignDescriptors) {
  auto exposer = make_host_nccl();
  auto puller = make_host_nccl();
  const std::vector<uint8_t> buffer = random_bytes(4096, 2);
  auto reg = expose_or_die(*exposer.transport, buffer);
  std::vector<uint8_t> dst(8192);
  const std::string& d = reg->descriptor();
  const absl::Duration t = absl::Seconds(5);
  EXPECT_EQ(puller.transport->pull(d, 0, dst.data(), 4097, t).code(),
            absl::StatusCode::kOutOfRange);
  EXPECT_EQ(puller.transport->pull(d, 4097, dst.data(), 0, t).code(),
            absl::StatusCode::kOutOfRange);
  EXPECT_EQ(puller.transport->pull(d, 1, dst.data(), ~size_t{0}, t).code(),
            absl::StatusCode::kOutOfRange);
  EXPECT_EQ(puller.transport->pull(d, 0, nullptr, 10, t).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(exposer.transport->expose(nullptr, 10).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(exposer.transport->expose(buffer.data(), 0).status().code(),
            absl::StatusCode::kInvalidArgument);

  // Another transport's descriptor, garbage, and ours pulled by another transport.
  auto local = make_or_die("local");
  absl::StatusOr<std::unique_ptr<Registration>> local_reg = local->expose(buffer.data(), 64);
  ASSERT_TRUE(local_reg.ok());
  absl::Status s = puller.transport->pull((*local_reg)->descriptor(), 0, dst.data(), 8, t);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_NE(s.message().find("'local'"), std::string::npos) << s;
  EXPECT_EQ(puller.transport->pull("not a descriptor", 0, dst.data(), 8, t).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(puller.transport->pull("", 0, dst.data(), 8, t).code(),
            absl::StatusCode::kInvalidArgument);
  s = local->pull(d, 0, dst.data(), 8, t);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_NE(s.message().find("'nccl'"), std::string::npos) << s;
  auto ucx = make_or_die("ucx");
  EXPECT_EQ(ucx->pull(d, 0, dst.data(), 8, t).code(), absl::StatusCode::kInvalidArgument);
}

// The exposer checks ranges itself: a descriptor that claims more than the region holds (a
// well-formed one from a confused peer) is OutOfRange from the server, and the pair stays up.
TEST(NcclTransport, ExposerChecksTheRangeAndTheInstance) {
  auto exposer = make_host_nccl();
  auto puller = make_host_nccl();
  const std::vector<uint8_t> buffer = random_bytes(4096, 3);
  auto reg = expose_or_die(*exposer.transport, buffer);
  absl::StatusOr<NcclDescriptor> d = decode_nccl_descriptor(reg->descriptor());
  ASSERT_TRUE(d.ok());
  NcclDescriptor bigger = *d;
  bigger.size = 8192;
  std::vector<uint8_t> dst(8192);
  absl::Status s = puller.transport->pull(encode_nccl_descriptor(bigger), 4000, dst.data(), 200,
                                          absl::Seconds(5));
  EXPECT_EQ(s.code(), absl::StatusCode::kOutOfRange) << s;
  ASSERT_TRUE(
      puller.transport->pull(reg->descriptor(), 0, dst.data(), 4096, absl::Seconds(5)).ok());
  EXPECT_EQ(puller.pairs_joined->load(), 1);

  NcclDescriptor unknown_region = *d;
  unknown_region.region += 1000;
  s = puller.transport->pull(encode_nccl_descriptor(unknown_region), 0, dst.data(), 10,
                             absl::Seconds(5));
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;

  // Another server now listens where the descriptor points (a restarted process).
  NcclDescriptor stale = *d;
  stale.instance ^= 1;
  s = puller.transport->pull(encode_nccl_descriptor(stale), 0, dst.data(), 10, absl::Seconds(5));
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
  EXPECT_NE(s.message().find("gone"), std::string::npos) << s;
}

TEST(NcclTransport, ConcurrentPullsFromManyThreads) {
  auto exposer = make_host_nccl(nccl_test_options(absl::Milliseconds(500), 256 << 10));
  auto puller = make_host_nccl();
  const std::vector<uint8_t> a = random_bytes(3 << 20, 4), b = random_bytes((1 << 20) + 17, 5);
  auto reg_a = expose_or_die(*exposer.transport, a);
  auto reg_b = expose_or_die(*exposer.transport, b);
  constexpr int kThreads = 8, kPulls = 12;
  std::atomic<int> bad{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937_64 rng(100 + t);
      for (int i = 0; i < kPulls; ++i) {
        const bool use_a = (rng() & 1) != 0;
        const std::vector<uint8_t>& src = use_a ? a : b;
        const size_t offset = rng() % src.size();
        const size_t bytes = rng() % (src.size() - offset) + 1;
        std::vector<uint8_t> dst(bytes);
        const absl::Status s = puller.transport->pull((use_a ? reg_a : reg_b)->descriptor(), offset,
                                                      dst.data(), bytes, absl::Seconds(60));
        if (!s.ok() || !std::equal(dst.begin(), dst.end(), src.begin() + offset)) ++bad;
      }
    });
  }
  // And a burst of asynchronous pulls from this thread meanwhile.
  std::vector<std::vector<uint8_t>> dsts(16, std::vector<uint8_t>(a.size()));
  std::vector<std::future<absl::Status>> pulls;
  for (auto& dst : dsts)
    pulls.push_back(puller.transport->pull_async(reg_a->descriptor(), 0, dst.data(), dst.size(),
                                                 absl::Seconds(60)));
  for (size_t k = 0; k < pulls.size(); ++k) {
    absl::Status s = pulls[k].get();
    EXPECT_TRUE(s.ok()) << s;
    EXPECT_TRUE(dsts[k] == a);
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(bad.load(), 0);
  EXPECT_EQ(puller.pairs_joined->load(), 1);
}

TEST(NcclTransport, UnexposedRegionIsUnavailable) {
  auto exposer = make_host_nccl();
  auto puller = make_host_nccl();
  const std::vector<uint8_t> buffer = random_bytes(1 << 16, 6);
  auto reg = expose_or_die(*exposer.transport, buffer);
  const std::string descriptor = reg->descriptor();
  std::vector<uint8_t> dst(buffer.size());
  ASSERT_TRUE(puller.transport->pull(descriptor, 0, dst.data(), dst.size(), absl::Seconds(5)).ok());
  reg.reset();
  absl::Status s = puller.transport->pull(descriptor, 0, dst.data(), dst.size(), absl::Seconds(5));
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
  EXPECT_EQ(puller.pairs_joined->load(), 1) << "a refusal keeps the pair";
}

// A pull still sending when its region is unexposed: unexposing waits out the grace, then aborts
// that pair; the pull fails Unavailable and the next pull sets up a new pair.
TEST(NcclTransport, UnexposeMidPullAbortsThePairAfterTheGrace) {
  // 4 MiB in 64 KiB chunks, 10 ms each: about 640 ms on the wire.
  auto exposer = make_host_nccl(nccl_test_options(absl::Milliseconds(50)), absl::Milliseconds(10));
  auto puller = make_host_nccl();
  const std::vector<uint8_t> buffer = random_bytes(4 << 20, 7), small = random_bytes(1000, 8);
  auto reg = expose_or_die(*exposer.transport, buffer);
  auto small_reg = expose_or_die(*exposer.transport, small);
  std::vector<uint8_t> dst(buffer.size());
  std::future<absl::Status> pull =
      puller.transport->pull_async(reg->descriptor(), 0, dst.data(), dst.size(), absl::Seconds(30));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  const Clock::time_point t0 = Clock::now();
  reg.reset();
  EXPECT_LT(seconds_since(t0), 2.0) << "unexposing waits the grace and an abort, no more";
  EXPECT_GE(seconds_since(t0), 0.04);
  ASSERT_EQ(pull.wait_for(std::chrono::seconds(5)), std::future_status::ready);
  absl::Status s = pull.get();
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;

  std::vector<uint8_t> small_dst(small.size());
  s = puller.transport->pull(small_reg->descriptor(), 0, small_dst.data(), small_dst.size(),
                             absl::Seconds(10));
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_TRUE(small_dst == small);
  EXPECT_EQ(puller.pairs_joined->load(), 2) << "the aborted pair was replaced";
}

TEST(NcclTransport, UnexposeWaitsForASendWithinTheGrace) {
  // 1 MiB in 64 KiB chunks, 5 ms each: about 80 ms on the wire; the grace is far longer.
  auto exposer = make_host_nccl(nccl_test_options(absl::Seconds(10)), absl::Milliseconds(5));
  auto puller = make_host_nccl();
  const std::vector<uint8_t> buffer = random_bytes(1 << 20, 9);
  auto reg = expose_or_die(*exposer.transport, buffer);
  std::vector<uint8_t> dst(buffer.size());
  std::future<absl::Status> pull =
      puller.transport->pull_async(reg->descriptor(), 0, dst.data(), dst.size(), absl::Seconds(30));
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  const Clock::time_point t0 = Clock::now();
  reg.reset();
  EXPECT_LT(seconds_since(t0), 5.0);
  absl::Status s = pull.get();
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_TRUE(dst == buffer);
}

// A pull past its timeout aborts its pair (and returns in time); the exposer lets go of the
// region when the puller closes, and the next pull sets up a new pair.
TEST(NcclTransport, TimeoutAbortsThePairAndTheNextPullMakesANewOne) {
  auto exposer = make_host_nccl(nccl_test_options(absl::Seconds(30)), absl::Milliseconds(20));
  auto puller = make_host_nccl();
  const std::vector<uint8_t> buffer = random_bytes(2 << 20, 10);  // about 640 ms on the wire
  auto reg = expose_or_die(*exposer.transport, buffer);
  std::vector<uint8_t> warm(10);
  ASSERT_TRUE(
      puller.transport->pull(reg->descriptor(), 0, warm.data(), warm.size(), absl::Seconds(10))
          .ok());
  std::vector<uint8_t> dst(buffer.size());
  Clock::time_point t0 = Clock::now();
  absl::Status s =
      puller.transport->pull(reg->descriptor(), 0, dst.data(), dst.size(), absl::Milliseconds(150));
  EXPECT_EQ(s.code(), absl::StatusCode::kDeadlineExceeded) << s;
  EXPECT_LT(seconds_since(t0), 1.5);

  std::vector<uint8_t> part(1000);
  s = puller.transport->pull(reg->descriptor(), 500, part.data(), part.size(), absl::Seconds(10));
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_TRUE(std::equal(part.begin(), part.end(), buffer.begin() + 500));
  EXPECT_EQ(puller.pairs_joined->load(), 2);

  // The exposer's hold ended with the aborted pull: unexposing does not wait the 30 s grace.
  t0 = Clock::now();
  reg.reset();
  EXPECT_LT(seconds_since(t0), 2.0);
}

TEST(NcclTransport, PullQueuedBehindASlowOneFailsAtItsOwnDeadline) {
  auto exposer = make_host_nccl(nccl_test_options(), absl::Milliseconds(10));
  auto puller = make_host_nccl();
  const std::vector<uint8_t> buffer = random_bytes(1 << 20, 11);  // about 160 ms on the wire
  auto reg = expose_or_die(*exposer.transport, buffer);
  std::vector<uint8_t> big(buffer.size()), small(10);
  std::future<absl::Status> slow =
      puller.transport->pull_async(reg->descriptor(), 0, big.data(), big.size(), absl::Seconds(30));
  std::future<absl::Status> queued = puller.transport->pull_async(
      reg->descriptor(), 0, small.data(), small.size(), absl::Milliseconds(20));
  absl::Status s = queued.get();
  EXPECT_EQ(s.code(), absl::StatusCode::kDeadlineExceeded) << s;
  s = slow.get();
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_TRUE(big == buffer);
  EXPECT_EQ(puller.pairs_joined->load(), 1);
}

TEST(NcclTransport, NobodyListeningIsUnavailable) {
  NcclDescriptor d{
      .control_host = "127.0.0.1", .control_port = 0, .instance = 1, .region = 1, .size = 100};
  {
    uint16_t port = 0;
    absl::StatusOr<UniqueFd> fd = listen_tcp("127.0.0.1", 0, &port);
    ASSERT_TRUE(fd.ok());
    d.control_port = port;
  }  // closed: nobody listens there now
  auto puller = make_host_nccl();
  std::vector<uint8_t> dst(100);
  const Clock::time_point t0 = Clock::now();
  absl::Status s =
      puller.transport->pull(encode_nccl_descriptor(d), 0, dst.data(), 100, absl::Seconds(5));
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
  EXPECT_LT(seconds_since(t0), 2.0);
}

TEST(NcclTransport, ServerThatNeverAnswersTimesOut) {
  uint16_t port = 0;
  absl::StatusOr<UniqueFd> listener = listen_tcp("127.0.0.1", 0, &port);
  ASSERT_TRUE(listener.ok());  // the kernel accepts connections; nobody ever answers
  const NcclDescriptor d{
      .control_host = "127.0.0.1", .control_port = port, .instance = 1, .region = 1, .size = 100};
  auto puller = make_host_nccl();
  std::vector<uint8_t> dst(100);
  const Clock::time_point t0 = Clock::now();
  absl::Status s = puller.transport->pull(encode_nccl_descriptor(d), 0, dst.data(), 100,
                                          absl::Milliseconds(200));
  EXPECT_EQ(s.code(), absl::StatusCode::kDeadlineExceeded) << s;
  EXPECT_LT(seconds_since(t0), 2.0);
}

TEST(NcclTransport, ShuttingDownCancelsPullsAndRegistrationsOutliveTheTransport) {
  auto exposer = make_host_nccl(nccl_test_options(), absl::Milliseconds(20));
  auto puller = make_host_nccl();
  const std::vector<uint8_t> buffer = random_bytes(2 << 20, 12);
  auto reg = expose_or_die(*exposer.transport, buffer);
  std::vector<uint8_t> dst(buffer.size()), second(buffer.size());
  std::future<absl::Status> in_flight =
      puller.transport->pull_async(reg->descriptor(), 0, dst.data(), dst.size(), absl::Seconds(30));
  std::future<absl::Status> queued = puller.transport->pull_async(
      reg->descriptor(), 0, second.data(), second.size(), absl::Seconds(30));
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  const Clock::time_point t0 = Clock::now();
  puller.transport.reset();
  EXPECT_LT(seconds_since(t0), 2.0);
  EXPECT_EQ(in_flight.get().code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(queued.get().code(), absl::StatusCode::kCancelled);

  exposer.transport.reset();  // the registration keeps the server until it goes
  reg.reset();
}

TEST(NcclTransport, MakeTransportAnswersByBuild) {
  absl::StatusOr<std::unique_ptr<Transport>> t = make_transport("nccl", {});
#if DLLM_TRANSFER_HAVE_NCCL
  // Built: made where libnccl and a GPU are, FailedPrecondition (saying why) where not.
  if (t.ok()) {
    EXPECT_EQ((*t)->name(), "nccl");
    EXPECT_TRUE((*t)->capabilities().device_memory);
    EXPECT_TRUE((*t)->capabilities().cross_process);
  } else {
    EXPECT_EQ(t.status().code(), absl::StatusCode::kFailedPrecondition) << t.status();
    EXPECT_NE(t.status().message().find("nccl"), std::string::npos) << t.status();
  }
#else
  EXPECT_EQ(t.status().code(), absl::StatusCode::kUnimplemented) << t.status();
  EXPECT_NE(t.status().message().find("nccl transport is not built"), std::string::npos)
      << t.status();
#endif
  EXPECT_EQ(make_transport("nccl2", {}).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace dllm::transfer

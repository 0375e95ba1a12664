// The ucx transport in one process (two Transports, real UCX over tcp loopback), for both pull
// protocols: exact bytes for awkward sizes, offsets, concurrency, dead regions, timeouts.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <random>
#include <thread>

#include "common/transfer/descriptor.h"
#include "common/transfer/transport.h"
#include "transfer_test_util.h"

namespace dllm::transfer {
namespace {

using testing::make_or_die;
using testing::random_bytes;
using testing::ucx_options;

struct Setup {
  UcxProtocol protocol;
  size_t piece_bytes;
  const char* name;
};

// Names the case in ctest's list instead of a byte dump.
void PrintTo(const Setup& setup, std::ostream* os) { *os << setup.name; }

class UcxTransportTest : public ::testing::TestWithParam<Setup> {
 protected:
  void SetUp() override {
    exposer_ = make_or_die("ucx", ucx_options(GetParam().protocol, GetParam().piece_bytes));
    puller_ = make_or_die("ucx", ucx_options(GetParam().protocol, GetParam().piece_bytes));
    ASSERT_NE(exposer_, nullptr);
    ASSERT_NE(puller_, nullptr);
  }
  std::unique_ptr<Transport> exposer_, puller_;
};

TEST_P(UcxTransportTest, RandomBytesOfAwkwardSizesArriveExactly) {
  const size_t sizes[] = {
      1, 7, 4097, (size_t{1} << 20) + 3, 3 * (size_t{1} << 20) - 1, size_t{64} << 20};
  uint64_t seed = 10;
  for (size_t n : sizes) {
    const std::vector<uint8_t> src = random_bytes(n, ++seed);
    auto reg = exposer_->expose(src.data(), src.size());
    ASSERT_TRUE(reg.ok()) << reg.status();
    std::vector<uint8_t> dst(n, 0);
    absl::Status s = puller_->pull((*reg)->descriptor(), 0, dst.data(), n, absl::Seconds(60));
    ASSERT_TRUE(s.ok()) << "size " << n << ": " << s;
    ASSERT_TRUE(dst == src) << "size " << n;
  }
}

TEST_P(UcxTransportTest, PullsSubrangesAtOffsets) {
  const std::vector<uint8_t> src = random_bytes((size_t{2} << 20) + 11, 5);
  auto reg = exposer_->expose(src.data(), src.size());
  ASSERT_TRUE(reg.ok());
  const std::pair<size_t, size_t> ranges[] = {
      {0, 1}, {1, 1}, {src.size() - 1, 1}, {12345, 1 << 20}, {3, src.size() - 3}};
  for (auto [offset, n] : ranges) {
    std::vector<uint8_t> dst(n);
    ASSERT_TRUE(
        puller_->pull((*reg)->descriptor(), offset, dst.data(), n, absl::InfiniteDuration()).ok());
    EXPECT_TRUE(std::equal(dst.begin(), dst.end(), src.begin() + offset)) << offset << "+" << n;
  }
}

TEST_P(UcxTransportTest, RangeAndDescriptorErrors) {
  std::vector<uint8_t> src(100, 9), dst(200);
  auto reg = exposer_->expose(src.data(), src.size());
  ASSERT_TRUE(reg.ok());
  const std::string& d = (*reg)->descriptor();
  EXPECT_EQ(puller_->pull(d, 0, dst.data(), 101, absl::Seconds(5)).code(),
            absl::StatusCode::kOutOfRange);
  EXPECT_EQ(puller_->pull(d, 101, dst.data(), 0, absl::Seconds(5)).code(),
            absl::StatusCode::kOutOfRange);
  EXPECT_EQ(puller_->pull(d, 1, dst.data(), SIZE_MAX, absl::Seconds(5)).code(),
            absl::StatusCode::kOutOfRange);
  EXPECT_TRUE(puller_->pull(d, 100, dst.data(), 0, absl::Seconds(5)).ok());
  // A local descriptor, a truncated one, and noise.
  auto local = make_or_die("local");
  auto local_reg = local->expose(src.data(), src.size());
  ASSERT_TRUE(local_reg.ok());
  absl::Status s = puller_->pull((*local_reg)->descriptor(), 0, dst.data(), 1, absl::Seconds(5));
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("'local'"), std::string::npos) << s;
  EXPECT_EQ(puller_->pull(d.substr(0, d.size() - 1), 0, dst.data(), 1, absl::Seconds(5)).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(puller_->pull("noise", 0, dst.data(), 1, absl::Seconds(5)).code(),
            absl::StatusCode::kInvalidArgument);
  // And the local transport refuses the ucx descriptor.
  s = local->pull(d, 0, dst.data(), 1, absl::Seconds(5));
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("'ucx'"), std::string::npos) << s;
}

TEST_P(UcxTransportTest, ManyConcurrentPullsFromEightThreads) {
  const std::vector<uint8_t> src = random_bytes(size_t{4} << 20, 6);
  auto reg = exposer_->expose(src.data(), src.size());
  ASSERT_TRUE(reg.ok());
  const std::string d = (*reg)->descriptor();
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937_64 rng(100 + t);
      std::vector<std::future<absl::Status>> inflight;
      std::vector<std::vector<uint8_t>> dsts;
      std::vector<std::pair<size_t, size_t>> ranges;
      for (int k = 0; k < 12; ++k) {
        const size_t offset = rng() % src.size();
        const size_t n = 1 + rng() % std::min<size_t>(src.size() - offset, 700'000);
        dsts.emplace_back(n);
        ranges.emplace_back(offset, n);
      }
      for (size_t k = 0; k < dsts.size(); ++k)  // all in flight at once
        inflight.push_back(puller_->pull_async(d, ranges[k].first, dsts[k].data(), ranges[k].second,
                                               absl::Seconds(60)));
      for (size_t k = 0; k < dsts.size(); ++k) {
        absl::Status s = inflight[k].get();
        if (!s.ok() || !std::equal(dsts[k].begin(), dsts[k].end(), src.begin() + ranges[k].first))
          ++failures;
      }
    });
  }
  for (std::thread& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
}

TEST_P(UcxTransportTest, DescriptorOfADeadRegistrationFailsCleanly) {
  std::vector<uint8_t> src = random_bytes(1 << 16, 7);
  auto reg = exposer_->expose(src.data(), src.size());
  ASSERT_TRUE(reg.ok());
  const std::string d = (*reg)->descriptor();
  std::vector<uint8_t> dst(src.size());
  ASSERT_TRUE(puller_->pull(d, 0, dst.data(), dst.size(), absl::Seconds(10)).ok());
  reg->reset();
  src.clear();
  src.shrink_to_fit();  // the memory is gone too: nothing may read it now
  absl::Status s = puller_->pull(d, 0, dst.data(), dst.size(), absl::Seconds(10));
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
  // The slot is reused by the next region; the old descriptor must not reach it.
  std::vector<uint8_t> next(1 << 16, 0xee);
  auto reg2 = exposer_->expose(next.data(), next.size());
  ASSERT_TRUE(reg2.ok());
  EXPECT_EQ(puller_->pull(d, 0, dst.data(), dst.size(), absl::Seconds(10)).code(),
            absl::StatusCode::kUnavailable);
  EXPECT_TRUE(
      puller_->pull((*reg2)->descriptor(), 0, dst.data(), dst.size(), absl::Seconds(10)).ok());
  EXPECT_EQ(dst, next);
}

TEST_P(UcxTransportTest, TimeoutIsDeadlineExceededAndTheNextPullWorks) {
  const std::vector<uint8_t> src = random_bytes(size_t{64} << 20, 8);
  auto reg = exposer_->expose(src.data(), src.size());
  ASSERT_TRUE(reg.ok());
  std::vector<uint8_t> dst(src.size());
  const auto t0 = std::chrono::steady_clock::now();
  absl::Status s =
      puller_->pull((*reg)->descriptor(), 0, dst.data(), dst.size(), absl::Milliseconds(2));
  const auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_EQ(s.code(), absl::StatusCode::kDeadlineExceeded) << s;
  EXPECT_LT(took, std::chrono::seconds(2));
  // The timed-out pull's connection was cut; the next pull reconnects.
  std::fill(dst.begin(), dst.end(), 0);
  s = puller_->pull((*reg)->descriptor(), 0, dst.data(), dst.size(), absl::Seconds(60));
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_TRUE(dst == src);
}

TEST_P(UcxTransportTest, OnePullerManyOwnersAndItsOwnRegions) {
  auto third = make_or_die("ucx", ucx_options(GetParam().protocol, GetParam().piece_bytes));
  const std::vector<uint8_t> a = random_bytes(5000, 21), b = random_bytes(7000, 22);
  auto ra = exposer_->expose(a.data(), a.size());
  auto rb = third->expose(b.data(), b.size());
  auto own = puller_->expose(b.data(), b.size());  // a transport pulling its own region
  ASSERT_TRUE(ra.ok() && rb.ok() && own.ok());
  std::vector<uint8_t> da(a.size()), db(b.size()), dself(b.size());
  EXPECT_TRUE(puller_->pull((*ra)->descriptor(), 0, da.data(), da.size(), absl::Seconds(10)).ok());
  EXPECT_TRUE(puller_->pull((*rb)->descriptor(), 0, db.data(), db.size(), absl::Seconds(10)).ok());
  EXPECT_TRUE(
      puller_->pull((*own)->descriptor(), 0, dself.data(), dself.size(), absl::Seconds(10)).ok());
  EXPECT_EQ(da, a);
  EXPECT_EQ(db, b);
  EXPECT_EQ(dself, b);
}

TEST_P(UcxTransportTest, RegistrationOutlivesItsTransport) {
  std::vector<uint8_t> src(64, 1);
  auto reg = exposer_->expose(src.data(), src.size());
  ASSERT_TRUE(reg.ok());
  exposer_.reset();  // the engine stays up for the registration
  std::vector<uint8_t> dst(64);
  EXPECT_TRUE(puller_->pull((*reg)->descriptor(), 0, dst.data(), 64, absl::Seconds(10)).ok());
  reg->reset();
}

INSTANTIATE_TEST_SUITE_P(
    Protocols, UcxTransportTest,
    ::testing::Values(Setup{UcxProtocol::kActiveMessage, size_t{1} << 20, "ActiveMessage"},
                      Setup{UcxProtocol::kActiveMessage, 4096, "ActiveMessageSmallPieces"},
                      Setup{UcxProtocol::kRma, size_t{1} << 20, "Rma"},
                      Setup{UcxProtocol::kRma, 4096, "RmaSmallPieces"}),
    [](const ::testing::TestParamInfo<Setup>& info) { return std::string(info.param.name); });

// Only the active-message protocol can promise this: the owner holds a region while replies
// read it, so unexposing under load neither crashes nor hands out bytes of freed memory.
TEST(UcxActiveMessage, UnexposingWhilePullsAreInFlight) {
  auto exposer = make_or_die("ucx", ucx_options(UcxProtocol::kActiveMessage, 64 << 10));
  auto puller = make_or_die("ucx", ucx_options(UcxProtocol::kActiveMessage, 64 << 10));
  for (int round = 0; round < 5; ++round) {
    auto src = std::make_unique<std::vector<uint8_t>>(random_bytes(size_t{8} << 20, round));
    auto reg = exposer->expose(src->data(), src->size());
    ASSERT_TRUE(reg.ok());
    std::vector<std::vector<uint8_t>> dsts(4, std::vector<uint8_t>(src->size()));
    std::vector<std::future<absl::Status>> pulls;
    for (auto& dst : dsts)
      pulls.push_back(
          puller->pull_async((*reg)->descriptor(), 0, dst.data(), dst.size(), absl::Seconds(30)));
    std::this_thread::sleep_for(std::chrono::milliseconds(2 * round));
    reg->reset();  // returns only once no reply reads the region
    const std::vector<uint8_t> expected = *src;
    src.reset();
    for (size_t k = 0; k < pulls.size(); ++k) {
      absl::Status s = pulls[k].get();
      EXPECT_TRUE(s.ok() || s.code() == absl::StatusCode::kUnavailable) << s;
      if (s.ok()) {
        EXPECT_TRUE(dsts[k] == expected);
      }
    }
  }
}

TEST(UcxAuto, PicksActiveMessagesForTcpOnly) {
  std::vector<uint8_t> src(8, 1);
  auto t = make_or_die("ucx", ucx_options(UcxProtocol::kAuto));
  EXPECT_TRUE(t->capabilities().cross_process);
  auto reg = t->expose(src.data(), src.size());
  ASSERT_TRUE(reg.ok());
  // Header (6 bytes) then the protocol byte: 1 = active messages.
  EXPECT_EQ((*reg)->descriptor()[6], 1);
}

TEST(UcxTransport, BadTlsIsAClearError) {
  TransportOptions o;
  o.ucx_tls = "no_such_transport";
  absl::StatusOr<std::unique_ptr<Transport>> t = make_transport("ucx", o);
  EXPECT_FALSE(t.ok());
}

}  // namespace
}  // namespace dllm::transfer

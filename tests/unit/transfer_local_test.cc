// The local transport: round trips, offsets, range and descriptor checks, unexposed regions.
#include <gtest/gtest.h>

#include <thread>

#include "common/transfer/descriptor.h"
#include "common/transfer/transport.h"
#include "transfer_test_util.h"

namespace dllm::transfer {
namespace {

using testing::make_or_die;
using testing::random_bytes;

TEST(LocalTransport, RoundTripBetweenTwoTransports) {
  auto exposer = make_or_die("local");
  auto puller = make_or_die("local");
  EXPECT_EQ(exposer->name(), "local");
  EXPECT_FALSE(exposer->capabilities().cross_process);
  const std::vector<uint8_t> src = random_bytes(100'003, 1);
  auto reg = exposer->expose(src.data(), src.size());
  ASSERT_TRUE(reg.ok()) << reg.status();
  EXPECT_EQ((*reg)->size(), src.size());
  std::vector<uint8_t> dst(src.size());
  ASSERT_TRUE(puller->pull((*reg)->descriptor(), 0, dst.data(), dst.size(), absl::Seconds(5)).ok());
  EXPECT_EQ(dst, src);
}

TEST(LocalTransport, PullsAtOffsets) {
  auto t = make_or_die("local");
  const std::vector<uint8_t> src = random_bytes(4096, 2);
  auto reg = t->expose(src.data(), src.size());
  ASSERT_TRUE(reg.ok());
  for (size_t offset : {size_t{0}, size_t{1}, size_t{777}, size_t{4095}}) {
    const size_t n = src.size() - offset;
    std::vector<uint8_t> dst(n);
    ASSERT_TRUE(t->pull((*reg)->descriptor(), offset, dst.data(), n, absl::Seconds(1)).ok());
    EXPECT_TRUE(std::equal(dst.begin(), dst.end(), src.begin() + offset)) << offset;
  }
  // An empty pull at the very end is in range.
  EXPECT_TRUE(t->pull((*reg)->descriptor(), src.size(), nullptr, 0, absl::Seconds(1)).ok());
}

TEST(LocalTransport, PastTheEndIsOutOfRange) {
  auto t = make_or_die("local");
  std::vector<uint8_t> src(64, 7), dst(128);
  auto reg = t->expose(src.data(), src.size());
  ASSERT_TRUE(reg.ok());
  const std::string& d = (*reg)->descriptor();
  EXPECT_EQ(t->pull(d, 0, dst.data(), 65, absl::Seconds(1)).code(), absl::StatusCode::kOutOfRange);
  EXPECT_EQ(t->pull(d, 60, dst.data(), 5, absl::Seconds(1)).code(), absl::StatusCode::kOutOfRange);
  EXPECT_EQ(t->pull(d, 65, dst.data(), 0, absl::Seconds(1)).code(), absl::StatusCode::kOutOfRange);
  // offset + bytes overflows size_t: still a clean OutOfRange.
  EXPECT_EQ(t->pull(d, 8, dst.data(), SIZE_MAX, absl::Seconds(1)).code(),
            absl::StatusCode::kOutOfRange);
}

TEST(LocalTransport, RejectsForeignAndMalformedDescriptors) {
  auto t = make_or_die("local");
  std::vector<uint8_t> dst(16);
  absl::Status s = t->pull("", 0, dst.data(), 1, absl::Seconds(1));
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  s = t->pull("garbage bytes that are no descriptor", 0, dst.data(), 1, absl::Seconds(1));
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  // A well-formed descriptor of another transport names both transports.
  const std::string ucx = DescriptorWriter(DescriptorKind::kUcx).u64(1).finish();
  s = t->pull(ucx, 0, dst.data(), 1, absl::Seconds(1));
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("'ucx'"), std::string::npos) << s;
  EXPECT_NE(s.message().find("'local'"), std::string::npos) << s;
  // Truncated local descriptor.
  std::vector<uint8_t> src(8);
  auto reg = t->expose(src.data(), src.size());
  ASSERT_TRUE(reg.ok());
  const std::string cut = (*reg)->descriptor().substr(0, (*reg)->descriptor().size() - 3);
  EXPECT_EQ(t->pull(cut, 0, dst.data(), 1, absl::Seconds(1)).code(),
            absl::StatusCode::kInvalidArgument);
  // A flipped bit anywhere fails the checksum.
  std::string flipped = (*reg)->descriptor();
  flipped[9] ^= 0x10;
  EXPECT_EQ(t->pull(flipped, 0, dst.data(), 1, absl::Seconds(1)).code(),
            absl::StatusCode::kInvalidArgument);
  // A well-formed local descriptor made by another process (another process token).
  const std::string other =
      DescriptorWriter(DescriptorKind::kLocal).u64(0x1234).u64(1).u64(8).finish();
  s = t->pull(other, 0, dst.data(), 1, absl::Seconds(1));
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("another process"), std::string::npos) << s;
}

TEST(LocalTransport, UnexposedRegionIsUnavailable) {
  auto t = make_or_die("local");
  std::vector<uint8_t> src(32, 1), dst(32);
  auto reg = t->expose(src.data(), src.size());
  ASSERT_TRUE(reg.ok());
  const std::string d = (*reg)->descriptor();
  reg->reset();
  EXPECT_EQ(t->pull(d, 0, dst.data(), dst.size(), absl::Seconds(1)).code(),
            absl::StatusCode::kUnavailable);
}

TEST(LocalTransport, ExposeRejectsEmptyRegions) {
  auto t = make_or_die("local");
  uint8_t byte = 0;
  EXPECT_EQ(t->expose(nullptr, 8).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(t->expose(&byte, 0).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(LocalTransport, ConcurrentPullsWhileUnexposing) {
  auto t = make_or_die("local");
  const std::vector<uint8_t> src = random_bytes(1 << 20, 3);
  auto reg = t->expose(src.data(), src.size());
  ASSERT_TRUE(reg.ok());
  const std::string d = (*reg)->descriptor();
  std::vector<std::thread> threads;
  std::atomic<int> ok{0}, gone{0}, other{0};
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&] {
      std::vector<uint8_t> dst(src.size());
      for (int k = 0; k < 50; ++k) {
        absl::Status s = t->pull(d, 0, dst.data(), dst.size(), absl::Seconds(1));
        if (s.ok() && dst == src)
          ++ok;
        else if (s.code() == absl::StatusCode::kUnavailable)
          ++gone;
        else
          ++other;
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  reg->reset();  // waits for copies in progress; later pulls fail cleanly
  for (std::thread& th : threads) th.join();
  EXPECT_EQ(other.load(), 0);
  EXPECT_EQ(ok.load() + gone.load(), 200);
}

}  // namespace
}  // namespace dllm::transfer

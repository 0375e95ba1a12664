// The fault hook and the factory's argument checks.
#include <gtest/gtest.h>

#include "common/transfer/transport.h"
#include "transfer_test_util.h"

namespace dllm::transfer {
namespace {

using testing::make_or_die;

int failed_pulls(Transport& t, const std::string& descriptor, int n) {
  std::vector<uint8_t> dst(16);
  int failed = 0;
  for (int i = 0; i < n; ++i) {
    absl::Status s = t.pull(descriptor, 0, dst.data(), dst.size(), absl::Seconds(5));
    if (!s.ok()) {
      EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
      EXPECT_EQ(s.message(), "injected transfer fault");
      ++failed;
    }
  }
  return failed;
}

class FaultHook : public ::testing::TestWithParam<std::string> {};

TEST_P(FaultHook, ProbabilityOneFailsEveryPullAndZeroNone) {
  std::vector<uint8_t> src(16, 3);
  TransportOptions options;
  options.fault_drop_probability = 1.0;
  auto dropping = make_or_die(GetParam(), options);
  options.fault_drop_probability = 0.0;
  auto clean = make_or_die(GetParam(), options);
  auto reg = clean->expose(src.data(), src.size());
  ASSERT_TRUE(reg.ok()) << reg.status();
  EXPECT_EQ(dropping->name(), GetParam());  // the hook is invisible otherwise
  EXPECT_EQ(failed_pulls(*dropping, (*reg)->descriptor(), 20), 20);
  EXPECT_EQ(failed_pulls(*clean, (*reg)->descriptor(), 20), 0);
}

INSTANTIATE_TEST_SUITE_P(Transports, FaultHook, ::testing::Values("local", "ucx"));

TEST(FaultHook, SameSeedDropsTheSamePulls) {
  std::vector<uint8_t> src(16, 3);
  auto owner = make_or_die("local");
  auto reg = owner->expose(src.data(), src.size());
  ASSERT_TRUE(reg.ok());
  auto pattern = [&](uint64_t seed) {
    TransportOptions o;
    o.fault_drop_probability = 0.5;
    o.fault_seed = seed;
    auto t = make_or_die("local", o);
    std::string bits;
    std::vector<uint8_t> dst(16);
    for (int i = 0; i < 64; ++i)
      bits.push_back(t->pull((*reg)->descriptor(), 0, dst.data(), 16, absl::Seconds(1)).ok() ? '1'
                                                                                             : '0');
    return bits;
  };
  const std::string a = pattern(42);
  EXPECT_EQ(a, pattern(42));
  EXPECT_NE(a, pattern(43));
  EXPECT_NE(a.find('0'), std::string::npos);
  EXPECT_NE(a.find('1'), std::string::npos);
}

TEST(MakeTransport, RejectsBadArguments) {
  EXPECT_EQ(make_transport("nccl2", {}).status().code(), absl::StatusCode::kInvalidArgument);
  TransportOptions o;
  o.fault_drop_probability = 1.5;
  EXPECT_EQ(make_transport("local", o).status().code(), absl::StatusCode::kInvalidArgument);
  o.fault_drop_probability = -0.1;
  EXPECT_EQ(make_transport("local", o).status().code(), absl::StatusCode::kInvalidArgument);
#if !DLLM_TRANSFER_HAVE_CUDA_IPC
  EXPECT_EQ(make_transport("cuda_ipc", {}).status().code(), absl::StatusCode::kUnimplemented);
#endif
}

}  // namespace
}  // namespace dllm::transfer

// The cuda_ipc transport between two processes on one GPU: an exporting process (this binary
// again, cuda_ipc_exporter_process.h) exposes device memory; this one pulls byte ranges into its
// own device memory and compares them exactly; then unexposed regions, a killed exporter and
// foreign descriptors must fail with the right code, within the timeout. Skipped without a GPU.
#include <cuda_runtime_api.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <future>
#include <random>
#include <string_view>
#include <thread>

#include "common/transfer/cuda_ipc_descriptor.h"
#include "common/transfer/transport.h"
#include "cuda_ipc_exporter_process.h"

namespace dllm::transfer {
namespace {

using cuda_ipc_test::ExporterProcess;
using cuda_ipc_test::random_bytes;
using cuda_ipc_test::region_seed;

constexpr uint64_t kSeed = 2025;
constexpr size_t kMiB = size_t{1} << 20;

// An owning cudaMalloc buffer.
class DeviceBuffer {
 public:
  explicit DeviceBuffer(size_t bytes) : bytes_(bytes) {
    if (cudaMalloc(&ptr_, bytes) != cudaSuccess) ptr_ = nullptr;
  }
  ~DeviceBuffer() { cudaFree(ptr_); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  uint8_t* get() const { return static_cast<uint8_t*>(ptr_); }
  std::vector<uint8_t> to_host(size_t bytes) const {
    std::vector<uint8_t> out(bytes);
    EXPECT_EQ(cudaMemcpy(out.data(), ptr_, bytes, cudaMemcpyDeviceToHost), cudaSuccess);
    return out;
  }
  // Synchronized: the transport copies on streams of its own, which a memset on the legacy
  // stream does not order against.
  void poison() const {
    cudaMemset(ptr_, 0x5a, bytes_);
    cudaDeviceSynchronize();
  }

 private:
  void* ptr_ = nullptr;
  size_t bytes_;
};

bool same_bytes(const std::vector<uint8_t>& got, const std::vector<uint8_t>& want, size_t offset) {
  return offset + got.size() <= want.size() &&
         std::memcmp(got.data(), want.data() + offset, got.size()) == 0;
}

// What a pulled buffer holds, when it is not what it should: which known bytes it matches.
std::string describe(const std::vector<uint8_t>& got,
                     const std::vector<std::pair<std::string, std::vector<uint8_t>>>& candidates) {
  std::string out;
  for (const auto& [name, bytes] : candidates)
    if (same_bytes(got, bytes, 0)) out += " equals " + name + ";";
  if (std::all_of(got.begin(), got.end(), [](uint8_t b) { return b == 0x5a; }))
    out += " is all poison;";
  const auto& want = candidates.front().second;
  for (size_t i = 0; i < got.size() && i < want.size(); ++i) {
    if (got[i] != want[i]) {
      out += " first differs from " + candidates.front().first + " at byte " + std::to_string(i);
      break;
    }
  }
  return out;
}

// The puller's CUDA context still works (a fault in a copy would have poisoned it for good).
void expect_context_healthy() {
  DeviceBuffer a(kMiB), b(kMiB);
  ASSERT_NE(a.get(), nullptr);
  EXPECT_EQ(cudaMemcpy(b.get(), a.get(), kMiB, cudaMemcpyDeviceToDevice), cudaSuccess);
  EXPECT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  EXPECT_EQ(cudaGetLastError(), cudaSuccess);
}

bool is_clean_failure(const absl::Status& s) {
  return s.code() == absl::StatusCode::kUnavailable ||
         s.code() == absl::StatusCode::kDeadlineExceeded;
}

class CudaIpcTransportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    int devices = 0;
    if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
      cudaGetLastError();
      GTEST_SKIP() << "no CUDA device visible: GPU test skipped";
    }
    absl::StatusOr<std::unique_ptr<Transport>> t = make_transport("cuda_ipc", {});
    ASSERT_TRUE(t.ok()) << t.status();
    puller_ = *std::move(t);
  }
  std::unique_ptr<Transport> puller_;
};

TEST_F(CudaIpcTransportTest, PullsEveryRegionAndRangeExactly) {
  const std::vector<size_t> sizes = {1, 4097, kMiB + 3, 16 * kMiB, 64 * kMiB + 1, 256 * kMiB};
  ExporterProcess exporter(kSeed, sizes);
  ASSERT_TRUE(exporter.ready()) << "the exporting process published no descriptors";
  EXPECT_TRUE(puller_->capabilities().cross_process && puller_->capabilities().device_memory);
  std::mt19937_64 rng(7);
  DeviceBuffer dst(256 * kMiB + 4096);
  ASSERT_NE(dst.get(), nullptr);
  for (size_t i = 0; i < sizes.size(); ++i) {
    SCOPED_TRACE(::testing::Message() << "region of " << sizes[i] << " bytes");
    const std::vector<uint8_t> want = random_bytes(sizes[i], region_seed(kSeed, i));
    dst.poison();
    absl::Status s =
        puller_->pull(exporter.descriptor(i), 0, dst.get(), sizes[i], absl::Seconds(30));
    ASSERT_TRUE(s.ok()) << s;
    EXPECT_TRUE(same_bytes(dst.to_host(sizes[i]), want, 0)) << "whole region";
    for (int k = 0; k < 12; ++k) {  // unaligned ranges, some at the very end
      const size_t offset =
          k % 4 == 3 ? sizes[i] - 1 - rng() % std::min<size_t>(sizes[i], 64) : rng() % sizes[i];
      const size_t bytes = 1 + rng() % (sizes[i] - offset);
      dst.poison();
      s = puller_->pull(exporter.descriptor(i), offset, dst.get() + 3, bytes, absl::Seconds(30));
      ASSERT_TRUE(s.ok()) << s;
      std::vector<uint8_t> got(bytes);
      ASSERT_EQ(cudaMemcpy(got.data(), dst.get() + 3, bytes, cudaMemcpyDeviceToHost), cudaSuccess);
      EXPECT_TRUE(same_bytes(got, want, offset)) << "range [" << offset << ", +" << bytes << ")";
    }
  }
  // Into host memory too (a decode node on the CPU backend pulls there).
  const std::vector<uint8_t> want = random_bytes(sizes[3], region_seed(kSeed, 3));
  std::vector<uint8_t> host(sizes[3], 0);
  ASSERT_TRUE(
      puller_->pull(exporter.descriptor(3), 0, host.data(), host.size(), absl::Seconds(30)).ok());
  EXPECT_TRUE(host == want);
}

TEST_F(CudaIpcTransportTest, ConcurrentAsyncPullsFromManyThreads) {
  const std::vector<size_t> sizes = {64 * kMiB, 8 * kMiB + 5};
  ExporterProcess exporter(kSeed + 1, sizes);
  ASSERT_TRUE(exporter.ready());
  constexpr int kPulls = 16;
  DeviceBuffer dst(kPulls * 8 * kMiB);
  ASSERT_NE(dst.get(), nullptr);
  dst.poison();
  std::vector<std::future<absl::Status>> pulls(kPulls);
  std::vector<size_t> offsets(kPulls);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int k = t; k < kPulls; k += 4) {
        const size_t region = k % 2;
        offsets[k] = region == 0 ? k * 3 * kMiB + k : k * 1000;
        pulls[k] = puller_->pull_async(exporter.descriptor(region), offsets[k],
                                       dst.get() + k * 8 * kMiB, 7 * kMiB, absl::Seconds(30));
      }
    });
  }
  for (std::thread& t : threads) t.join();
  const std::vector<uint8_t> want[2] = {random_bytes(sizes[0], region_seed(kSeed + 1, 0)),
                                        random_bytes(sizes[1], region_seed(kSeed + 1, 1))};
  const std::vector<uint8_t> all = dst.to_host(kPulls * 8 * kMiB);
  for (int k = 0; k < kPulls; ++k) {
    absl::Status s = pulls[k].get();
    ASSERT_TRUE(s.ok()) << "pull " << k << ": " << s;
    EXPECT_EQ(std::memcmp(all.data() + k * 8 * kMiB, want[k % 2].data() + offsets[k], 7 * kMiB), 0)
        << "pull " << k;
  }
  // A zero-byte pull is OK without a destination; past the end is OutOfRange.
  EXPECT_TRUE(puller_->pull(exporter.descriptor(1), sizes[1], nullptr, 0, absl::Seconds(1)).ok());
  EXPECT_EQ(puller_->pull(exporter.descriptor(1), 1, dst.get(), sizes[1], absl::Seconds(1)).code(),
            absl::StatusCode::kOutOfRange);
  EXPECT_EQ(
      puller_->pull(exporter.descriptor(1), sizes[1] + 1, dst.get(), 0, absl::Seconds(1)).code(),
      absl::StatusCode::kOutOfRange);
}

std::string with_size(const std::string& descriptor, uint64_t new_size);
std::string handle_of(const std::string& descriptor);

TEST_F(CudaIpcTransportTest, UnexposedRegionIsUnavailableAndReallocatedMemoryIsNew) {
  const std::vector<size_t> sizes = {2 * kMiB, 3 * kMiB};
  ExporterProcess exporter(kSeed + 2, sizes);
  ASSERT_TRUE(exporter.ready());
  DeviceBuffer dst(3 * kMiB);
  const std::string first = exporter.descriptor(0);
  ASSERT_TRUE(puller_->pull(first, 0, dst.get(), sizes[0], absl::Seconds(10)).ok());
  ASSERT_TRUE(exporter.unexpose(0));
  absl::Status s = puller_->pull(first, 0, dst.get(), sizes[0], absl::Seconds(10));
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
  EXPECT_EQ(puller_->pull_async(first, 5, dst.get(), 10, absl::Seconds(10)).get().code(),
            absl::StatusCode::kUnavailable);
  s = puller_->pull(exporter.descriptor(1), 0, dst.get(), sizes[1], absl::Seconds(10));
  EXPECT_TRUE(s.ok()) << "the other region is still exposed: " << s;

  // Freed and allocated again: the old descriptor stays dead, the new one reads the new bytes
  // (the puller must not serve it from the old allocation's cached mapping).
  ASSERT_TRUE(exporter.realloc(0, kSeed + 99));
  std::cout << "[          ] the new allocation's IPC handle is "
            << (handle_of(first) == handle_of(exporter.descriptor(0)) ? "the same as" : "not")
            << " the freed one's\n";
  EXPECT_EQ(puller_->pull(first, 0, dst.get(), sizes[0], absl::Seconds(10)).code(),
            absl::StatusCode::kUnavailable);
  dst.poison();
  s = puller_->pull(exporter.descriptor(0), 0, dst.get(), sizes[0], absl::Seconds(10));
  ASSERT_TRUE(s.ok()) << s;
  const std::vector<uint8_t> got = dst.to_host(sizes[0]);
  const std::vector<uint8_t> fresh = random_bytes(sizes[0], region_seed(kSeed + 99, 0));
  EXPECT_TRUE(same_bytes(got, fresh, 0)) << describe(
      got, {{"the new bytes", fresh},
            {"the freed allocation's", random_bytes(sizes[0], region_seed(kSeed + 2, 0))},
            {"region 1's", random_bytes(sizes[0], region_seed(kSeed + 2, 1))}});

  // Again and again: where the allocator puts the new allocation varies.
  for (uint64_t round = 0; round < 10; ++round) {
    const std::string before = exporter.descriptor(0);
    ASSERT_TRUE(exporter.realloc(0, kSeed + 100 + round));
    EXPECT_EQ(puller_->pull(before, 0, dst.get(), sizes[0], absl::Seconds(10)).code(),
              absl::StatusCode::kUnavailable);
    dst.poison();
    s = puller_->pull(exporter.descriptor(0), 0, dst.get(), sizes[0], absl::Seconds(10));
    ASSERT_TRUE(s.ok()) << s;
    const std::vector<uint8_t> now = dst.to_host(sizes[0]);
    const std::vector<uint8_t> want = random_bytes(sizes[0], region_seed(kSeed + 100 + round, 0));
    EXPECT_TRUE(same_bytes(now, want, 0))
        << "round " << round
        << describe(now, {{"the new bytes", want},
                          {"the previous allocation's",
                           random_bytes(sizes[0], region_seed(kSeed + 100 + round - 1, 0))}});
  }
}

// Small allocations, which cudaMalloc may carve from one block (CUDA IPC then shares the block):
// each pull gives its own region's bytes or fails FailedPrecondition, never another's bytes.
TEST_F(CudaIpcTransportTest, SmallAllocationsNeverPullAnothersBytes) {
  const std::vector<size_t> sizes(8, 64 * 1024);
  ExporterProcess exporter(kSeed + 7, sizes);
  ASSERT_TRUE(exporter.ready());
  DeviceBuffer dst(sizes[0]);
  int refused = 0;
  for (int round = 0; round < 2; ++round) {  // the second with the mappings cached
    for (size_t i = 0; i < sizes.size(); ++i) {
      dst.poison();
      absl::Status s =
          puller_->pull(exporter.descriptor(i), 0, dst.get(), sizes[i], absl::Seconds(5));
      if (s.code() == absl::StatusCode::kFailedPrecondition) {
        ++refused;
        continue;
      }
      ASSERT_TRUE(s.ok()) << s;
      const std::vector<uint8_t> got = dst.to_host(sizes[i]);
      const std::vector<uint8_t> want = random_bytes(sizes[i], region_seed(kSeed + 7, i));
      EXPECT_TRUE(same_bytes(got, want, 0))
          << "region " << i << " round " << round
          << describe(got, {{"its bytes", want},
                            {"region 0's", random_bytes(sizes[0], region_seed(kSeed + 7, 0))}});
    }
  }
  std::cout << "[          ] " << refused << " of " << 2 * sizes.size()
            << " pulls of small allocations refused (shared IPC block)\n";
}

TEST_F(CudaIpcTransportTest, KilledExporterFailsTheNextPullWithinTheTimeout) {
  const std::vector<size_t> sizes = {32 * kMiB};
  ExporterProcess exporter(kSeed + 3, sizes);
  ASSERT_TRUE(exporter.ready());
  DeviceBuffer dst(sizes[0]);
  ASSERT_TRUE(
      puller_->pull(exporter.descriptor(0), 0, dst.get(), sizes[0], absl::Seconds(10)).ok());
  exporter.kill_and_reap();
  const absl::Duration timeout = absl::Seconds(3);
  for (int attempt = 0; attempt < 2; ++attempt) {  // with the cached mapping, then without
    const auto t0 = std::chrono::steady_clock::now();
    absl::Status s = puller_->pull(exporter.descriptor(0), 0, dst.get(), sizes[0], timeout);
    EXPECT_TRUE(is_clean_failure(s)) << s;
    EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(4));
  }
  expect_context_healthy();
}

TEST_F(CudaIpcTransportTest, ExporterKilledMidPullsFailsEachCleanly) {
  const std::vector<size_t> sizes = {256 * kMiB};
  ExporterProcess exporter(kSeed + 4, sizes);
  ASSERT_TRUE(exporter.ready());
  // About 400 ms of copies queued (on an H100), so that the exporter dies while they run: the
  // kernel releases its lock only after the CUDA driver has torn its context down, and reaping
  // a killed exporter took 125 ms there. Pulls into one buffer all write the same bytes.
  constexpr int kBuffers = 4, kPulls = 2048;
  std::vector<std::unique_ptr<DeviceBuffer>> dsts;
  for (int k = 0; k < kBuffers; ++k) dsts.push_back(std::make_unique<DeviceBuffer>(sizes[0]));
  ASSERT_TRUE(puller_->pull(exporter.descriptor(0), 0, dsts[0]->get(), 1, absl::Seconds(5)).ok());
  std::vector<std::future<absl::Status>> pulls;
  const auto t0 = std::chrono::steady_clock::now();
  for (int k = 0; k < kPulls; ++k)
    pulls.push_back(puller_->pull_async(exporter.descriptor(0), 0, dsts[k % kBuffers]->get(),
                                        sizes[0], absl::Seconds(5)));
  const auto kill_start = std::chrono::steady_clock::now();
  exporter.kill_and_reap();
  const auto reaped_after = std::chrono::steady_clock::now() - kill_start;
  const std::vector<uint8_t> want = random_bytes(sizes[0], region_seed(kSeed + 4, 0));
  int failed = 0;
  bool buffer_ok[kBuffers] = {true, true, true, true};
  for (int k = 0; k < kPulls; ++k) {
    absl::Status s = pulls[k].get();
    EXPECT_TRUE(s.ok() || is_clean_failure(s)) << s;
    if (!s.ok()) {
      ++failed;
      buffer_ok[k % kBuffers] = false;
    }
  }
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(6));
  for (int b = 0; b < kBuffers; ++b) {
    if (buffer_ok[b]) {
      EXPECT_TRUE(same_bytes(dsts[b]->to_host(sizes[0]), want, 0)) << b;
    }
  }
  absl::Status after =
      puller_->pull(exporter.descriptor(0), 0, dsts[0]->get(), 1, absl::Seconds(1));
  EXPECT_TRUE(is_clean_failure(after)) << after;
  std::cout << "[          ] " << failed << " of " << kPulls
            << " pulls in flight failed when the exporter was killed (reaped after "
            << std::chrono::duration<double, std::milli>(reaped_after).count() << " ms)\n";
  expect_context_healthy();
}

// A descriptor claiming more than its allocation holds (the checksum is no signature: any peer
// can write one).
std::string with_size(const std::string& descriptor, uint64_t new_size) {
  absl::StatusOr<CudaIpcDescriptor> d = decode_cuda_ipc_descriptor(descriptor);
  if (!d.ok()) return "";
  d->size = new_size;
  return encode_cuda_ipc_descriptor(*d);
}

std::string handle_of(const std::string& descriptor) {
  absl::StatusOr<CudaIpcDescriptor> d = decode_cuda_ipc_descriptor(descriptor);
  return d.ok() ? d->handle : "";
}

TEST_F(CudaIpcTransportTest, ForeignAndMalformedDescriptorsAreInvalidArgument) {
  const std::vector<size_t> sizes = {kMiB};
  ExporterProcess exporter(kSeed + 5, sizes);
  ASSERT_TRUE(exporter.ready());
  DeviceBuffer dst(64 * kMiB);
  const std::string& good = exporter.descriptor(0);

  std::vector<uint8_t> host(64, 1);
  auto local = make_transport("local", {});
  ASSERT_TRUE(local.ok());
  auto local_reg = (*local)->expose(host.data(), host.size());
  ASSERT_TRUE(local_reg.ok());
  absl::Status s = puller_->pull((*local_reg)->descriptor(), 0, dst.get(), 1, absl::Seconds(1));
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_NE(s.message().find("local"), std::string_view::npos) << s;

  std::string flipped = good;
  flipped[flipped.size() / 2] ^= 0x10;
  for (const std::string& bad : {std::string(), std::string("not a descriptor at all"),
                                 good.substr(0, good.size() - 9), flipped})
    EXPECT_EQ(puller_->pull(bad, 0, dst.get(), 1, absl::Seconds(1)).code(),
              absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(puller_->pull(good, 0, dst.get(), sizes[0], absl::Seconds(5)).ok());
}

TEST_F(CudaIpcTransportTest, ExposesDeviceMemoryOnlyAndPullsItsOwnRegions) {
  std::vector<uint8_t> host(4096, 3);
  EXPECT_EQ(puller_->expose(host.data(), host.size()).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(puller_->expose(nullptr, 16).status().code(), absl::StatusCode::kInvalidArgument);
  DeviceBuffer src(8 * kMiB), dst(8 * kMiB);
  EXPECT_EQ(puller_->expose(src.get(), 0).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(puller_->expose(src.get() + 16, 8 * kMiB).status().code(),
            absl::StatusCode::kInvalidArgument)
      << "a region past its allocation's end";

  // Same process: CUDA cannot open its own IPC handles, the transport copies directly.
  const std::vector<uint8_t> want = random_bytes(8 * kMiB, 11);
  ASSERT_EQ(cudaMemcpy(src.get(), want.data(), want.size(), cudaMemcpyHostToDevice), cudaSuccess);
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  auto reg = puller_->expose(src.get() + 100, 5 * kMiB);
  ASSERT_TRUE(reg.ok()) << reg.status();
  auto other = make_transport("cuda_ipc", {});
  ASSERT_TRUE(other.ok());
  for (Transport* t : {puller_.get(), other->get()}) {
    dst.poison();
    absl::Status s = t->pull((*reg)->descriptor(), 7, dst.get(), 5 * kMiB - 7, absl::Seconds(5));
    ASSERT_TRUE(s.ok()) << s;
    EXPECT_TRUE(same_bytes(dst.to_host(5 * kMiB - 7), want, 107));
  }
  const std::string d = (*reg)->descriptor();
  reg->reset();
  EXPECT_EQ((*other)->pull(d, 0, dst.get(), 16, absl::Seconds(1)).code(),
            absl::StatusCode::kUnavailable);

  // Stream-ordered pool memory cannot be shared through legacy CUDA IPC handles.
  void* pooled = nullptr;
  if (cudaMallocAsync(&pooled, kMiB, nullptr) == cudaSuccess && cudaDeviceSynchronize() == 0) {
    auto r = puller_->expose(pooled, kMiB);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << r.status();
    cudaFreeAsync(pooled, nullptr);
    cudaDeviceSynchronize();
  }
  expect_context_healthy();
}

// Last in this file: were the check missing, the copy would fault and poison this process's
// CUDA context for every test after it.
TEST_F(CudaIpcTransportTest, DescriptorClaimingMoreThanItsAllocationIsInvalidArgument) {
  const std::vector<size_t> sizes = {kMiB};
  ExporterProcess exporter(kSeed + 6, sizes);
  ASSERT_TRUE(exporter.ready());
  DeviceBuffer dst(64 * kMiB);
  const std::string greedy = with_size(exporter.descriptor(0), 64 * kMiB);
  ASSERT_FALSE(greedy.empty());
  absl::Status s = puller_->pull(greedy, 0, dst.get(), 64 * kMiB, absl::Seconds(5));
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  expect_context_healthy();
  EXPECT_TRUE(puller_->pull(exporter.descriptor(0), 0, dst.get(), kMiB, absl::Seconds(5)).ok());
}

}  // namespace
}  // namespace dllm::transfer

int main(int argc, char** argv) {
  if (argc >= 2 && std::string_view(argv[1]) == dllm::transfer::cuda_ipc_test::kExporterFlag)
    return dllm::transfer::cuda_ipc_test::run_exporter(argc, argv);
  signal(SIGPIPE, SIG_IGN);  // a dead exporter's pipe is an error to report, not a crash
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}

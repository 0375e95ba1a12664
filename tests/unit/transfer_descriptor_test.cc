// Descriptor framing and the ucx payload: round trips, and every kind of damage is
// InvalidArgument (descriptors come off the network).
#include <gtest/gtest.h>

#include "common/transfer/descriptor.h"
#include "common/transfer/ucx_descriptor.h"

namespace dllm::transfer {
namespace {

absl::StatusCode open_code(const std::string& d, DescriptorKind kind = DescriptorKind::kLocal) {
  return DescriptorReader::open(d, kind).status().code();
}

TEST(Descriptor, RoundTripsEveryFieldType) {
  const std::string d =
      DescriptorWriter(DescriptorKind::kLocal).u8(7).u32(70000).u64(~0ull).bytes("abc").finish();
  absl::StatusOr<DescriptorReader> r = DescriptorReader::open(d, DescriptorKind::kLocal);
  ASSERT_TRUE(r.ok()) << r.status();
  uint8_t a = 0;
  uint32_t b = 0;
  uint64_t c = 0;
  std::string s;
  EXPECT_TRUE(r->u8(&a) && r->u32(&b) && r->u64(&c) && r->bytes(&s, 16));
  EXPECT_EQ(a, 7);
  EXPECT_EQ(b, 70000u);
  EXPECT_EQ(c, ~0ull);
  EXPECT_EQ(s, "abc");
  EXPECT_TRUE(r->finish().ok());
}

TEST(Descriptor, DamageIsInvalidArgument) {
  const std::string good = DescriptorWriter(DescriptorKind::kLocal).u64(1).u64(2).finish();
  ASSERT_EQ(open_code(good), absl::StatusCode::kOk);
  EXPECT_EQ(open_code(""), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(open_code(good.substr(0, good.size() - 1)), absl::StatusCode::kInvalidArgument);
  for (size_t i = 0; i < good.size(); ++i) {  // every single-bit flip is caught
    std::string bad = good;
    bad[i] ^= 0x01;
    EXPECT_EQ(open_code(bad), absl::StatusCode::kInvalidArgument) << "byte " << i;
  }
  // The wrong transport names both.
  absl::Status s = DescriptorReader::open(good, DescriptorKind::kUcx).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("'local'"), std::string::npos) << s;
  EXPECT_NE(s.message().find("'ucx'"), std::string::npos) << s;
}

TEST(Descriptor, ReadsPastTheEndAndLeftoversFail) {
  const std::string d = DescriptorWriter(DescriptorKind::kLocal).u32(5).bytes("xy").finish();
  {
    auto r = DescriptorReader::open(d, DescriptorKind::kLocal);
    ASSERT_TRUE(r.ok());
    uint64_t wide = 0;
    std::string s;
    EXPECT_TRUE(r->u64(&wide));  // 4 + 4 bytes happen to be there
    EXPECT_TRUE(r->u8(reinterpret_cast<uint8_t*>(&wide)));
    EXPECT_FALSE(r->bytes(&s, 100));  // nothing left
    EXPECT_EQ(r->finish().code(), absl::StatusCode::kInvalidArgument);
  }
  {
    auto r = DescriptorReader::open(d, DescriptorKind::kLocal);
    ASSERT_TRUE(r.ok());
    uint32_t n = 0;
    EXPECT_TRUE(r->u32(&n));
    EXPECT_EQ(r->finish().code(), absl::StatusCode::kInvalidArgument);  // "xy" left over
  }
  {
    auto r = DescriptorReader::open(d, DescriptorKind::kLocal);
    ASSERT_TRUE(r.ok());
    uint32_t n = 0;
    std::string s;
    EXPECT_TRUE(r->u32(&n));
    EXPECT_FALSE(r->bytes(&s, 1));  // longer than allowed
    EXPECT_EQ(r->finish().code(), absl::StatusCode::kInvalidArgument);
  }
}

TEST(UcxDescriptor, RoundTripsAndValidates) {
  UcxDescriptor d;
  d.protocol = UcxProtocol::kRma;
  d.worker_address = std::string("\x01\x02\x03worker", 9);
  d.slot = 3;
  d.token = 99;
  d.size = 4096;
  d.remote_address = 0x7f0000001000;
  d.rkey = "rk";
  d.token_address = 0x7f0000002000;
  d.table_rkey = "tk";
  absl::StatusOr<UcxDescriptor> back = decode_ucx_descriptor(encode_ucx_descriptor(d));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->protocol, UcxProtocol::kRma);
  EXPECT_EQ(back->worker_address, d.worker_address);
  EXPECT_EQ(back->slot, 3u);
  EXPECT_EQ(back->token, 99u);
  EXPECT_EQ(back->size, 4096u);
  EXPECT_EQ(back->remote_address, d.remote_address);
  EXPECT_EQ(back->rkey, "rk");
  EXPECT_EQ(back->token_address, d.token_address);
  EXPECT_EQ(back->table_rkey, "tk");

  UcxDescriptor no_rkeys = d;
  no_rkeys.rkey.clear();
  EXPECT_EQ(decode_ucx_descriptor(encode_ucx_descriptor(no_rkeys)).status().code(),
            absl::StatusCode::kInvalidArgument);
  no_rkeys.protocol = UcxProtocol::kActiveMessage;  // active messages need no rkeys
  EXPECT_TRUE(decode_ucx_descriptor(encode_ucx_descriptor(no_rkeys)).ok());
  UcxDescriptor empty = d;
  empty.worker_address.clear();
  EXPECT_EQ(decode_ucx_descriptor(encode_ucx_descriptor(empty)).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(
      decode_ucx_descriptor(DescriptorWriter(DescriptorKind::kUcx).u8(1).finish()).status().code(),
      absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace dllm::transfer

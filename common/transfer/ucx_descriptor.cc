#include "common/transfer/ucx_descriptor.h"

#include "common/transfer/descriptor.h"

namespace dllm::transfer {
namespace {

constexpr size_t kMaxBlob = 64 << 10;  // worker addresses and rkeys are well under this
constexpr uint8_t kWireActiveMessage = 1;
constexpr uint8_t kWireRma = 2;

}  // namespace

std::string encode_ucx_descriptor(const UcxDescriptor& d) {
  const uint8_t protocol = d.protocol == UcxProtocol::kRma ? kWireRma : kWireActiveMessage;
  return DescriptorWriter(DescriptorKind::kUcx)
      .u8(protocol)
      .bytes(d.worker_address)
      .u32(d.slot)
      .u64(d.token)
      .u64(d.size)
      .u64(d.remote_address)
      .bytes(d.rkey)
      .u64(d.token_address)
      .bytes(d.table_rkey)
      .finish();
}

absl::StatusOr<UcxDescriptor> decode_ucx_descriptor(std::string_view bytes) {
  absl::StatusOr<DescriptorReader> r = DescriptorReader::open(bytes, DescriptorKind::kUcx);
  if (!r.ok()) return r.status();
  UcxDescriptor d;
  uint8_t protocol = 0;
  r->u8(&protocol);
  r->bytes(&d.worker_address, kMaxBlob);
  r->u32(&d.slot);
  r->u64(&d.token);
  r->u64(&d.size);
  r->u64(&d.remote_address);
  r->bytes(&d.rkey, kMaxBlob);
  r->u64(&d.token_address);
  r->bytes(&d.table_rkey, kMaxBlob);
  if (absl::Status s = r->finish(); !s.ok()) return s;
  if (protocol != kWireActiveMessage && protocol != kWireRma)
    return absl::InvalidArgumentError("malformed ucx transfer descriptor (unknown protocol)");
  d.protocol = protocol == kWireRma ? UcxProtocol::kRma : UcxProtocol::kActiveMessage;
  if (d.worker_address.empty() || d.token == 0 || d.size == 0)
    return absl::InvalidArgumentError("malformed ucx transfer descriptor (empty fields)");
  if (d.protocol == UcxProtocol::kRma && (d.rkey.empty() || d.table_rkey.empty()))
    return absl::InvalidArgumentError("malformed ucx transfer descriptor (RMA without rkeys)");
  return d;
}

}  // namespace dllm::transfer

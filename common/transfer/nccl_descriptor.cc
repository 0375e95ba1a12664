#include "common/transfer/nccl_descriptor.h"

#include "common/transfer/descriptor.h"

namespace dllm::transfer {
namespace {

constexpr size_t kMaxHost = 255;  // a DNS name or an address

}  // namespace

std::string encode_nccl_descriptor(const NcclDescriptor& d) {
  return DescriptorWriter(DescriptorKind::kNccl)
      .bytes(d.control_host)
      .u32(d.control_port)
      .u64(d.instance)
      .u64(d.region)
      .u64(d.size)
      .finish();
}

absl::StatusOr<NcclDescriptor> decode_nccl_descriptor(std::string_view bytes) {
  absl::StatusOr<DescriptorReader> r = DescriptorReader::open(bytes, DescriptorKind::kNccl);
  if (!r.ok()) return r.status();
  NcclDescriptor d;
  uint32_t port = 0;
  r->bytes(&d.control_host, kMaxHost);
  r->u32(&port);
  r->u64(&d.instance);
  r->u64(&d.region);
  r->u64(&d.size);
  if (absl::Status s = r->finish(); !s.ok()) return s;
  if (d.control_host.empty() || port == 0 || port > 65535 || d.instance == 0 || d.region == 0 ||
      d.size == 0)
    return absl::InvalidArgumentError("malformed nccl transfer descriptor (empty fields)");
  d.control_port = static_cast<uint16_t>(port);
  return d;
}

}  // namespace dllm::transfer

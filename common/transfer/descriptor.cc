// Layout: "DLXF", a version byte, a kind byte, the payload, then an FNV-1a 64 checksum of all
// that. The checksum turns a flipped bit into InvalidArgument before UCX ever parses a worker
// address or rkey out of the payload.
#include "common/transfer/descriptor.h"

#include <cstring>

#include "absl/strings/str_cat.h"

namespace dllm::transfer {
namespace {

constexpr char kMagic[4] = {'D', 'L', 'X', 'F'};
constexpr uint8_t kVersion = 1;
constexpr size_t kHeaderBytes = sizeof(kMagic) + 2;
constexpr size_t kChecksumBytes = 8;

uint64_t fnv1a64(std::string_view bytes) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (char c : bytes) {
    h ^= static_cast<uint8_t>(c);
    h *= 0x100000001b3ull;
  }
  return h;
}

template <typename T>
void put_le(std::string& out, T v) {
  for (size_t i = 0; i < sizeof(T); ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

template <typename T>
T get_le(const char* p) {
  T v = 0;
  for (size_t i = 0; i < sizeof(T); ++i) v |= static_cast<T>(static_cast<uint8_t>(p[i])) << (8 * i);
  return v;
}

bool known_kind(uint8_t k) {
  return k == static_cast<uint8_t>(DescriptorKind::kLocal) ||
         k == static_cast<uint8_t>(DescriptorKind::kUcx) ||
         k == static_cast<uint8_t>(DescriptorKind::kCudaIpc) ||
         k == static_cast<uint8_t>(DescriptorKind::kNccl);
}

}  // namespace

const char* descriptor_kind_name(DescriptorKind kind) {
  switch (kind) {
    case DescriptorKind::kLocal:
      return "local";
    case DescriptorKind::kUcx:
      return "ucx";
    case DescriptorKind::kCudaIpc:
      return "cuda_ipc";
    case DescriptorKind::kNccl:
      return "nccl";
  }
  return "unknown";
}

DescriptorWriter::DescriptorWriter(DescriptorKind kind) {
  out_.append(kMagic, sizeof(kMagic));
  out_.push_back(static_cast<char>(kVersion));
  out_.push_back(static_cast<char>(kind));
}

std::string DescriptorWriter::finish() {
  put_le(out_, fnv1a64(out_));
  return std::move(out_);
}

DescriptorWriter& DescriptorWriter::u8(uint8_t v) {
  out_.push_back(static_cast<char>(v));
  return *this;
}
DescriptorWriter& DescriptorWriter::u32(uint32_t v) {
  put_le(out_, v);
  return *this;
}
DescriptorWriter& DescriptorWriter::u64(uint64_t v) {
  put_le(out_, v);
  return *this;
}
DescriptorWriter& DescriptorWriter::bytes(std::string_view v) {
  put_le(out_, static_cast<uint32_t>(v.size()));
  out_.append(v);
  return *this;
}

absl::StatusOr<DescriptorReader> DescriptorReader::open(std::string_view d,
                                                        DescriptorKind expected) {
  const char* want = descriptor_kind_name(expected);
  if (d.size() < kHeaderBytes + kChecksumBytes ||
      std::memcmp(d.data(), kMagic, sizeof(kMagic)) != 0)
    return absl::InvalidArgumentError(absl::StrCat("not a transfer descriptor (", d.size(),
                                                   " bytes, bad header); the ", want,
                                                   " transport cannot pull it"));
  const uint8_t version = static_cast<uint8_t>(d[4]);
  if (version != kVersion)
    return absl::InvalidArgumentError(absl::StrCat("transfer descriptor version ", version,
                                                   " is not supported (this build reads ", kVersion,
                                                   ")"));
  const uint8_t kind = static_cast<uint8_t>(d[5]);
  if (!known_kind(kind))
    return absl::InvalidArgumentError(
        absl::StrCat("transfer descriptor names an unknown transport (kind ", kind, ")"));
  if (kind != static_cast<uint8_t>(expected))
    return absl::InvalidArgumentError(absl::StrCat(
        "transfer descriptor is for the '", descriptor_kind_name(static_cast<DescriptorKind>(kind)),
        "' transport; this transport is '", want, "'"));
  const std::string_view body = d.substr(0, d.size() - kChecksumBytes);
  if (get_le<uint64_t>(d.data() + body.size()) != fnv1a64(body))
    return absl::InvalidArgumentError(absl::StrCat(
        "corrupt ", want, " transfer descriptor (checksum mismatch over ", d.size(), " bytes)"));
  return DescriptorReader(body.substr(kHeaderBytes), expected);
}

bool DescriptorReader::take(size_t n, const char** p) {
  if (failed_ || rest_.size() < n) {
    failed_ = true;
    return false;
  }
  *p = rest_.data();
  rest_.remove_prefix(n);
  return true;
}

bool DescriptorReader::u8(uint8_t* v) {
  const char* p = nullptr;
  if (!take(1, &p)) return false;
  *v = static_cast<uint8_t>(*p);
  return true;
}
bool DescriptorReader::u32(uint32_t* v) {
  const char* p = nullptr;
  if (!take(4, &p)) return false;
  *v = get_le<uint32_t>(p);
  return true;
}
bool DescriptorReader::u64(uint64_t* v) {
  const char* p = nullptr;
  if (!take(8, &p)) return false;
  *v = get_le<uint64_t>(p);
  return true;
}
bool DescriptorReader::bytes(std::string* v, size_t max_len) {
  uint32_t n = 0;
  if (!u32(&n)) return false;
  if (n > max_len) {
    failed_ = true;
    return false;
  }
  const char* p = nullptr;
  if (!take(n, &p)) return false;
  v->assign(p, n);
  return true;
}

absl::Status DescriptorReader::finish() const {
  if (failed_)
    return absl::InvalidArgumentError(absl::StrCat("malformed ", descriptor_kind_name(kind_),
                                                   " transfer descriptor (truncated or corrupt)"));
  if (!rest_.empty())
    return absl::InvalidArgumentError(absl::StrCat("malformed ", descriptor_kind_name(kind_),
                                                   " transfer descriptor (", rest_.size(),
                                                   " trailing bytes)"));
  return absl::OkStatus();
}

}  // namespace dllm::transfer

// Descriptor framing shared by all back ends: a header naming the transport, a payload each back
// end lays out with DescriptorWriter and parses with DescriptorReader, and a checksum.
// Descriptors arrive from the network, so every read is bounds-checked and a bad one is
// InvalidArgument, never UB.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace dllm::transfer {

enum class DescriptorKind : uint8_t { kLocal = 1, kUcx = 2, kCudaIpc = 3, kNccl = 4 };

const char* descriptor_kind_name(DescriptorKind kind);

// Little-endian fields after the header; strings carry a u32 length.
class DescriptorWriter {
 public:
  explicit DescriptorWriter(DescriptorKind kind);
  DescriptorWriter& u8(uint8_t v);
  DescriptorWriter& u32(uint32_t v);
  DescriptorWriter& u64(uint64_t v);
  DescriptorWriter& bytes(std::string_view v);
  std::string finish();  // appends the checksum; the writer is spent afterwards

 private:
  std::string out_;
};

class DescriptorReader {
 public:
  // InvalidArgument unless `descriptor` has a valid header of kind `expected`; the message names
  // both transports ("... is for the 'ucx' transport; this transport is 'local'").
  static absl::StatusOr<DescriptorReader> open(std::string_view descriptor,
                                               DescriptorKind expected);
  // Each read fails (returns false) once the payload is exhausted; later reads fail too.
  bool u8(uint8_t* v);
  bool u32(uint32_t* v);
  bool u64(uint64_t* v);
  // At most `max_len` bytes: a corrupt length must not make us allocate gigabytes.
  bool bytes(std::string* v, size_t max_len);
  // OK when every read succeeded and no bytes are left over.
  absl::Status finish() const;

 private:
  explicit DescriptorReader(std::string_view payload, DescriptorKind kind)
      : rest_(payload), kind_(kind) {}
  bool take(size_t n, const char** p);
  std::string_view rest_;
  DescriptorKind kind_;
  bool failed_ = false;
};

}  // namespace dllm::transfer

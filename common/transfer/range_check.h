// Argument checks every back end applies to a pull before touching the wire.
#pragma once

#include <cstddef>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace dllm::transfer {

// OutOfRange when [offset, offset + bytes) does not fit a region of `region_size` bytes
// (written so that offset + bytes cannot overflow); InvalidArgument for a null destination.
inline absl::Status check_pull_range(size_t region_size, size_t offset, size_t bytes,
                                     const void* dst) {
  if (offset > region_size || bytes > region_size - offset)
    return absl::OutOfRangeError(absl::StrCat(
        "pull of [", offset, ", +", bytes, ") is past the end of a ", region_size, "-byte region"));
  if (bytes > 0 && dst == nullptr) return absl::InvalidArgumentError("pull destination is null");
  return absl::OkStatus();
}

}  // namespace dllm::transfer

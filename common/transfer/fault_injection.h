// Fault hook for tests and chaos runs: a decorator that fails a seeded random fraction of pulls
// with Unavailable("injected transfer fault") before they reach the real back end.
#pragma once

#include <cstdint>
#include <memory>

#include "common/transfer/transport.h"

namespace dllm::transfer {

// `drop_probability` in [0, 1]; the same seed drops the same pulls (in submission order).
std::unique_ptr<Transport> wrap_with_fault_injection(std::unique_ptr<Transport> inner,
                                                     double drop_probability, uint64_t seed);

}  // namespace dllm::transfer

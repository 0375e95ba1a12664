// The `local` back end: both ends in one process (`dllm serve --role all`, tests). A pull is a
// memcpy under the region's lock, done on the caller's thread.
#pragma once

#include <memory>

#include "common/transfer/transport.h"

namespace dllm::transfer {

std::unique_ptr<Transport> make_local_transport();

}  // namespace dllm::transfer

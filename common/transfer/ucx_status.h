// UCX status codes as absl::Status, mapped once here.
#pragma once

#include <ucs/type/status.h>

#include <string_view>

#include "absl/status/status.h"

namespace dllm::transfer {

// `what` says which call failed ("ucp_ep_create", "pull from peer"). Connection-level failures
// (reset, timeout, unreachable, cancelled by a forced close) are Unavailable.
absl::Status ucx_status(ucs_status_t status, std::string_view what);

}  // namespace dllm::transfer

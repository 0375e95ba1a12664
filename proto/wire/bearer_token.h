// The shared secret of the public API: read from a file, sent as `authorization: Bearer <token>`
// (gRPC metadata or the HTTP header), compared in constant time. No message carries the token.
#pragma once

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace dllm::wire {

inline constexpr char kAuthorizationKey[] = "authorization";  // gRPC metadata keys are lower case

// The token in `path`, surrounding whitespace dropped. Missing file → NotFound; unreadable,
// empty, or holding a character a header cannot carry (non-printable ASCII, space) →
// InvalidArgument. `flag` names where the path came from.
absl::StatusOr<std::string> read_token_file(absl::string_view flag, const std::string& path);

// "Bearer <token>".
std::string bearer_header(absl::string_view token);

// OK when `authorization` (the header's value, "" when absent) carries `token`; otherwise
// UNAUTHENTICATED saying what was missing or wrong.
absl::Status check_bearer(absl::string_view authorization, absl::string_view token);

}  // namespace dllm::wire

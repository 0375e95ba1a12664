#include "proto/wire/bearer_token.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "proto/wire/tls_config.h"

namespace dllm::wire {
namespace {

// Time independent of where the first difference is (the length is not secret).
bool equal_in_constant_time(absl::string_view a, absl::string_view b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i)
    diff |= static_cast<unsigned char>(a[i]) ^ static_cast<unsigned char>(b[i]);
  return diff == 0;
}

}  // namespace

absl::StatusOr<std::string> read_token_file(absl::string_view flag, const std::string& path) {
  absl::StatusOr<std::string> content = read_credential_file(flag, path);
  if (!content.ok()) return content.status();
  const std::string token(absl::StripAsciiWhitespace(*content));
  if (token.empty())
    return absl::InvalidArgumentError(absl::StrCat(flag, ": '", path, "' holds no token"));
  for (char c : token)
    if (c <= ' ' || c > '~')
      return absl::InvalidArgumentError(absl::StrCat(
          flag, ": the token in '", path, "' must be one word of printable ASCII characters"));
  return token;
}

std::string bearer_header(absl::string_view token) { return absl::StrCat("Bearer ", token); }

absl::Status check_bearer(absl::string_view authorization, absl::string_view token) {
  if (authorization.empty())
    return absl::UnauthenticatedError(
        "this API needs a bearer token: send the header 'authorization: Bearer <token>'");
  // The scheme name is case-insensitive (RFC 9110); the token is not.
  constexpr absl::string_view kScheme = "bearer ";
  if (authorization.size() < kScheme.size() ||
      !absl::EqualsIgnoreCase(authorization.substr(0, kScheme.size()), kScheme))
    return absl::UnauthenticatedError("the authorization header is not 'Bearer <token>'");
  if (!equal_in_constant_time(absl::StripAsciiWhitespace(authorization.substr(kScheme.size())),
                              token))
    return absl::UnauthenticatedError("the bearer token is not valid");
  return absl::OkStatus();
}

}  // namespace dllm::wire

// Active-message protocol between a puller and the exposing side (UcxProtocol::kActiveMessage):
// the puller asks for one piece of a region, the owner answers with the bytes or a refusal.
// Headers travel as raw structs: both ends are the same build on little-endian hosts.
#pragma once

#include <cstdint>

namespace dllm::transfer::wire {

constexpr unsigned kPullRequestAm = 0x1d1;
constexpr unsigned kPullReplyAm = 0x1d2;

struct PullRequest {
  uint64_t request_id = 0;  // the puller's id for this piece, echoed in the reply
  uint64_t token = 0;       // the region's token from the descriptor
  uint64_t offset = 0;      // within the region
  uint64_t bytes = 0;
  uint32_t slot = 0;
  uint32_t reserved = 0;
};

enum class ReplyCode : uint32_t { kOk = 0, kNotExposed = 1, kOutOfRange = 2 };

struct PullReply {
  uint64_t request_id = 0;
  ReplyCode code = ReplyCode::kOk;  // kOk replies carry exactly the requested bytes
  uint32_t reserved = 0;
};

}  // namespace dllm::transfer::wire

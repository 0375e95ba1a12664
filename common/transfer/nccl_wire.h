// The nccl back end's control protocol, on one TCP connection per exposer/puller pair:
//
//   puller → exposer  Hello{instance, setup timeout}
//   exposer → puller  HelloReply{code, bootstrap size} + bootstrap bytes; both sides then set up
//                     the pair's channel (NCCL: ncclCommInitRank, 2 ranks) and keep it
//   then, one pull at a time:
//   puller → exposer  PullRequest{region, offset, bytes, timeout}
//   exposer → puller  PullReply{code, piece size}; on kOk the exposer holds the region and sends
//                     the range as messages of at most `piece_bytes`, which the puller receives
//                     into its destination. Either side cuts the connection (and aborts the
//                     channel) when the other goes quiet past the pull's timeout or closes.
//
// Headers travel as raw structs: both ends are the same build on little-endian hosts.
#pragma once

#include <cstdint>

namespace dllm::transfer::nccl_wire {

constexpr uint32_t kMagic = 0x434e4c44;  // "DLNC"
constexpr uint32_t kVersion = 1;
// Bootstrap bytes (NCCL's unique id is 128) and pieces past these are a protocol error.
constexpr uint32_t kMaxBootstrapBytes = 4096;
constexpr uint64_t kMaxPieceBytes = uint64_t{1} << 32;

struct Hello {
  uint32_t magic = kMagic;
  uint32_t version = kVersion;
  uint64_t instance = 0;  // the server the puller's descriptor names
  uint64_t setup_timeout_ms = 0;
};

enum class HelloCode : uint32_t { kOk = 0, kWrongInstance = 1, kSetupFailed = 2 };

struct HelloReply {
  uint32_t magic = kMagic;
  HelloCode code = HelloCode::kOk;
  uint32_t bootstrap_bytes = 0;
  uint32_t reserved = 0;
};

struct PullRequest {
  uint64_t request_id = 0;  // echoed in the reply
  uint64_t region = 0;
  uint64_t offset = 0;
  uint64_t bytes = 0;
  uint64_t timeout_ms = 0;  // the exposer gives up holding the region after this (and a margin)
};

enum class ReplyCode : uint32_t { kOk = 0, kNotExposed = 1, kOutOfRange = 2 };

struct PullReply {
  uint64_t request_id = 0;
  ReplyCode code = ReplyCode::kOk;
  uint32_t reserved = 0;
  uint64_t piece_bytes = 0;  // kOk: the range moves as messages of this size (the last shorter)
};

}  // namespace dllm::transfer::nccl_wire

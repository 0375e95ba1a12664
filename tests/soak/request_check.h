// What a client of the soak and overload runs checks of one Generate: the stream is blocks 0, 1,
// 2, ... each once, then one done whose ids are the blocks' ids and equal the reference; and which
// failure statuses a client may retry.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "absl/strings/str_join.h"
#include "dllm/v1/generation.grpc.pb.h"
#include "grpcpp/client_context.h"

namespace dllm::soak {

// UNAVAILABLE (no live node, a node died past the router's attempts), RESOURCE_EXHAUSTED (a
// queue limit), ABORTED (the prompt's K/V could not be pulled past the router's attempts).
inline bool is_retriable(grpc::StatusCode code) {
  return code == grpc::StatusCode::UNAVAILABLE || code == grpc::StatusCode::RESOURCE_EXHAUSTED ||
         code == grpc::StatusCode::ABORTED;
}

struct GenerateResult {
  grpc::Status status;
  std::vector<v1::GenerateResponse> responses;
  std::chrono::steady_clock::duration latency{};
};

inline GenerateResult run_generate(v1::Generation::Stub& stub, const v1::GenerateRequest& request,
                                   std::chrono::milliseconds deadline) {
  GenerateResult out;
  const auto t0 = std::chrono::steady_clock::now();
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + deadline);
  auto reader = stub.Generate(&context, request);
  v1::GenerateResponse response;
  while (reader->Read(&response)) out.responses.push_back(response);
  out.status = reader->Finish();
  out.latency = std::chrono::steady_clock::now() - t0;
  return out;
}

// "" when the stream of a successful Generate is right, else what is wrong with it.
inline std::string check_stream(const std::vector<v1::GenerateResponse>& responses,
                                const std::string& request_id, const std::string& expected_ids) {
  std::vector<int> from_blocks;
  int next_block = 0;
  for (size_t i = 0; i < responses.size(); ++i) {
    const v1::GenerateResponse& r = responses[i];
    if (r.request_id() != request_id) return "response for request '" + r.request_id() + "'";
    if (r.has_block()) {
      if (r.block().index() != next_block)
        return "block " + std::to_string(r.block().index()) + " where block " +
               std::to_string(next_block) + " was due";
      ++next_block;
      from_blocks.insert(from_blocks.end(), r.block().ids().begin(), r.block().ids().end());
    } else if (r.has_done()) {
      if (i + 1 != responses.size()) return "messages after done";
      const std::string ids = absl::StrJoin(r.done().ids(), ",");
      if (ids != expected_ids) return "ids " + ids + ", expected " + expected_ids;
      if (absl::StrJoin(from_blocks, ",") != ids) return "the blocks' ids differ from done's";
      return "";
    }
  }
  return "no done message";
}

}  // namespace dllm::soak

// The request shapes soak and overload runs send: dense prompts of mixed lengths (token ids and
// text), Prefilling-dLLM over documents in reuse mode (prompt K/V moves prefill → decode over
// UCX), reprefill mode and prefilling+focus; each with the `dllm generate` flags of the same
// request, whose answer is the reference.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "dllm/v1/generation.pb.h"

namespace dllm::soak {

struct RequestShape {
  std::string name;
  v1::GenerateRequest request;  // no request_id: the sender sets one
  std::string cli_flags;        // the same request for `dllm generate`
  int weight = 1;               // relative frequency in the mix
  bool moves_kv = false;        // reuse mode: K/V pulled from the prefill node
};

// The soak mix (about half the requests move K/V).
std::vector<RequestShape> soak_shapes();

// Picks a shape by weight from a uniform `u` in [0, 1).
const RequestShape& pick_shape(const std::vector<RequestShape>& shapes, double u);

// The reference answer of every shape (comma-separated ids, "" where `dllm generate` failed),
// computed by `dllm generate ... --print-ids` on `parallel` processes at once.
std::vector<std::string> reference_answers(const std::vector<RequestShape>& shapes, int parallel);

}  // namespace dllm::soak

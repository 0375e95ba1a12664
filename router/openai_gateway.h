// Translation between OpenAI's HTTP JSON API (/v1/completions, /v1/chat/completions,
// /v1/models) and dllm.v1.Generation: pure functions of bodies and protobuf messages.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "dllm/v1/generation.pb.h"
#include "grpcpp/support/status.h"

namespace dllm::router::openai {

enum class Endpoint { kCompletions, kChatCompletions };

struct ParsedRequest {
  v1::GenerateRequest generate;
  bool stream = false;
  bool include_usage = false;  // stream_options.include_usage: a last chunk with usage
};

// A request body → the GenerateRequest it asks for. Malformed JSON, wrong types, unsupported
// OpenAI features (n > 1, logprobs, stop sequences, tools, ...) and unknown fields inside the
// dllm extension objects are INVALID_ARGUMENT with a message naming the field; unknown
// top-level fields are ignored, as OpenAI-compatible servers do. Values the model checks
// (gen_length vs block_length, policy names, ...) are left to the server.
absl::StatusOr<ParsedRequest> parse_request(Endpoint endpoint, std::string_view body);

// What every response and chunk of one request repeats.
struct ResponseMeta {
  std::string id;       // "cmpl-<request id>" / "chatcmpl-<request id>"
  std::string model;    // the model that answered
  int64_t created = 0;  // unix seconds
};
ResponseMeta make_meta(Endpoint endpoint, const std::string& request_id, std::string model,
                       int64_t created);

// "stop" when the answer ended before the generation budget did (a stop token before the
// last block, or stop_after_eos_block), else "length". `last_block_text` is the text of the
// last streamed block.
std::string finish_reason(const v1::GenerationDone& done, std::string_view last_block_text);

// The non-streaming answer (text_completion / chat.completion) with usage.
std::string completion_body(Endpoint endpoint, const ResponseMeta& meta,
                            const v1::GenerationDone& done, std::string_view finish_reason);

// Server-Sent Events of a streamed answer, each "data: {...}\n\n".
std::string role_event(const ResponseMeta& meta);  // chat: the first chunk, {"role":"assistant"}
std::string text_event(Endpoint endpoint, const ResponseMeta& meta, std::string_view text);
std::string finish_event(Endpoint endpoint, const ResponseMeta& meta, std::string_view reason);
std::string usage_event(Endpoint endpoint, const ResponseMeta& meta,
                        const v1::GenerationDone& done);
std::string error_event(int http_status, std::string_view message, std::string_view code);
inline constexpr std::string_view kDoneEvent = "data: [DONE]\n\n";

// GET /v1/models and /v1/models/{id}.
std::string models_body(const v1::ListModelsResponse& models);
std::string model_body(const v1::ModelInfo& model);

// Errors: the HTTP status for a gRPC status, and the OpenAI error body
// {"error": {"message", "type", "param", "code"}}.
int http_status(grpc::StatusCode code);
std::string error_body(int http_status, std::string_view message, std::string_view code);
std::string grpc_code_name(grpc::StatusCode code);  // "invalid_argument", "not_found", ...

// The text a stream sends as blocks finish, kept a prefix of the final answer. A block's text
// is decoded on its own, so a UTF-8 character split across two blocks arrives as U+FFFD on
// both sides: a block ending in U+FFFD is held back, and from then on the rest waits for the
// whole answer (GenerationDone.text), which on_done() sends.
class StreamedAnswer {
 public:
  // What to send now for a finished block ("" = nothing).
  std::string on_block(std::string_view block_text);
  // What is left to send once the whole answer is known.
  std::string on_done(std::string_view answer);
  // The blocks sent text the answer does not start with (it cannot be taken back).
  bool diverged() const { return diverged_; }
  const std::string& sent() const { return sent_; }

 private:
  std::string sent_;
  bool holding_ = false;
  bool diverged_ = false;
};

}  // namespace dllm::router::openai

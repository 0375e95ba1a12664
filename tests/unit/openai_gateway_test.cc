// The OpenAI ↔ dllm.v1 translation: request bodies field by field, answer and chunk shapes,
// error mapping, and malformed or unsupported inputs refused with the field's name.
#include "router/openai_gateway.h"

#include <string>

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace dllm::router::openai {
namespace {

using Json = nlohmann::json;

v1::GenerateRequest parse_ok(Endpoint endpoint, const std::string& body) {
  absl::StatusOr<ParsedRequest> r = parse_request(endpoint, body);
  EXPECT_TRUE(r.ok()) << body << " → " << r.status();
  return r.ok() ? r->generate : v1::GenerateRequest();
}

// The message of a refused body (which must be INVALID_ARGUMENT).
std::string refusal(Endpoint endpoint, const std::string& body) {
  absl::StatusOr<ParsedRequest> r = parse_request(endpoint, body);
  EXPECT_FALSE(r.ok()) << body << " was accepted";
  if (r.ok()) return "";
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << body;
  return std::string(r.status().message());
}

TEST(OpenAiRequest, CompletionMapsEveryField) {
  absl::StatusOr<ParsedRequest> r = parse_request(Endpoint::kCompletions, R"({
    "model": "llada-tiny", "prompt": "Once upon", "max_tokens": 32, "temperature": 0.5,
    "top_p": 0.9, "seed": 1234567890123, "stream": true, "stream_options": {"include_usage": true},
    "block_length": 8, "steps": 16, "threshold": 0.9, "cache": "dual", "sampler": "random",
    "cfg_scale": 1.5, "top_k": 20, "alg_temp": 0.1, "eps": 0.01, "stop_after_eos_block": true,
    "policy": "prefilling+focus", "context": "the document",
    "prefilling": {"chunk_size": 64, "top_k": 2, "draft_tokens": 3, "score_batch": 4,
                   "chunk_mode": "reuse", "token_capacity": 16, "token_select": "per-head",
                   "chunk_bos": false, "bos_id": 7},
    "focus": {"rho": 0.3, "window": 4, "sink_layer": 1, "sinks": 2, "kv_block": 8,
              "kv_ratio": 0.5, "dense_tail": 1, "refresh": "frozen-prompt"},
    "user": "someone", "unknown_top_level_field": [1, 2]
  })");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->stream);
  EXPECT_TRUE(r->include_usage);
  const v1::GenerateRequest& g = r->generate;
  EXPECT_EQ(g.model(), "llada-tiny");
  EXPECT_EQ(g.text(), "Once upon");
  EXPECT_FALSE(g.chat());
  const v1::GenerationParams& p = g.params();
  EXPECT_EQ(p.gen_length(), 32);
  EXPECT_DOUBLE_EQ(p.temperature(), 0.5);
  EXPECT_DOUBLE_EQ(p.top_p(), 0.9);
  EXPECT_EQ(p.seed(), 1234567890123u);
  EXPECT_EQ(p.block_length(), 8);
  EXPECT_EQ(p.steps(), 16);
  EXPECT_DOUBLE_EQ(p.threshold(), 0.9);
  EXPECT_EQ(p.cache(), v1::CACHE_MODE_DUAL);
  EXPECT_EQ(p.sampler(), "random");
  EXPECT_DOUBLE_EQ(p.cfg_scale(), 1.5);
  EXPECT_EQ(p.top_k(), 20);
  EXPECT_DOUBLE_EQ(p.alg_temp(), 0.1);
  EXPECT_DOUBLE_EQ(p.eps(), 0.01);
  EXPECT_TRUE(p.stop_after_eos_block());
  EXPECT_EQ(g.policy(), "prefilling+focus");
  EXPECT_EQ(g.context(), "the document");
  const v1::PrefillingParams& pf = g.prefilling();
  EXPECT_EQ(pf.chunk_size(), 64);
  EXPECT_EQ(pf.top_k(), 2);
  EXPECT_EQ(pf.draft_tokens(), 3);
  EXPECT_EQ(pf.score_batch(), 4);
  EXPECT_EQ(pf.chunk_mode(), "reuse");
  EXPECT_EQ(pf.token_capacity(), 16);
  EXPECT_EQ(pf.token_select(), "per-head");
  ASSERT_TRUE(pf.has_chunk_bos());
  EXPECT_FALSE(pf.chunk_bos());
  EXPECT_EQ(pf.bos_id(), 7);
  const v1::FocusParams& fo = g.focus();
  EXPECT_DOUBLE_EQ(fo.rho(), 0.3);
  EXPECT_EQ(fo.window(), 4);
  EXPECT_EQ(fo.sink_layer(), 1);
  EXPECT_EQ(fo.sinks(), 2);
  EXPECT_EQ(fo.kv_block(), 8);
  EXPECT_FALSE(fo.has_kv_budget());
  EXPECT_DOUBLE_EQ(fo.kv_ratio(), 0.5);
  EXPECT_EQ(fo.dense_tail(), 1);
  EXPECT_EQ(fo.refresh(), "frozen-prompt");
}

TEST(OpenAiRequest, UnsetFieldsStayUnsetAndNullMeansUnset) {
  const v1::GenerateRequest g = parse_ok(
      Endpoint::kCompletions,
      R"({"prompt": "hi", "temperature": null, "seed": null, "stop": null, "n": 1, "logprobs": null,
          "echo": false, "presence_penalty": 0, "frequency_penalty": 0.0, "logit_bias": {},
          "best_of": 1, "suffix": ""})");
  EXPECT_EQ(g.text(), "hi");
  EXPECT_TRUE(g.model().empty());
  EXPECT_FALSE(g.params().has_gen_length());
  EXPECT_FALSE(g.params().has_block_length());
  EXPECT_FALSE(g.params().has_steps());
  EXPECT_FALSE(g.params().has_top_p());
  EXPECT_EQ(g.params().temperature(), 0.0);
  EXPECT_EQ(g.params().seed(), 0u);
  EXPECT_EQ(g.params().cache(), v1::CACHE_MODE_UNSPECIFIED);
  EXPECT_TRUE(g.policy().empty());
  EXPECT_FALSE(g.has_prefilling());
  EXPECT_FALSE(g.has_focus());
  absl::StatusOr<ParsedRequest> r = parse_request(Endpoint::kCompletions, R"({"prompt": "x"})");
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->stream);
  EXPECT_FALSE(r->include_usage);
}

TEST(OpenAiRequest, PromptForms) {
  EXPECT_EQ(parse_ok(Endpoint::kCompletions, R"({"prompt": ["one string"]})").text(), "one string");
  const v1::GenerateRequest ids = parse_ok(Endpoint::kCompletions, R"({"prompt": [1, 5, 9]})");
  ASSERT_TRUE(ids.has_ids());
  EXPECT_EQ(std::vector<int32_t>(ids.ids().ids().begin(), ids.ids().ids().end()),
            (std::vector<int32_t>{1, 5, 9}));
  const v1::GenerateRequest nested = parse_ok(Endpoint::kCompletions, R"({"prompt": [[4, 2]]})");
  EXPECT_EQ(nested.ids().ids_size(), 2);
  EXPECT_NE(refusal(Endpoint::kCompletions, R"({"prompt": ["a", "b"]})").find("`prompt`"),
            std::string::npos);
  EXPECT_NE(refusal(Endpoint::kCompletions, R"({"prompt": [1, -2]})").find("token ids"),
            std::string::npos);
  EXPECT_NE(refusal(Endpoint::kCompletions, R"({"prompt": 5})").find("`prompt`"),
            std::string::npos);
  EXPECT_NE(refusal(Endpoint::kCompletions, R"({"max_tokens": 5})").find("`prompt` is required"),
            std::string::npos);
}

TEST(OpenAiRequest, ChatUsesTheLastUserTurnAndTheSystemMessages) {
  const v1::GenerateRequest g = parse_ok(Endpoint::kChatCompletions, R"({
    "model": "m", "max_completion_tokens": 24,
    "messages": [{"role": "system", "content": "Be brief."},
                 {"role": "user", "content": "first question"},
                 {"role": "assistant", "content": "first answer"},
                 {"role": "developer", "content": [{"type": "text", "text": "No lists."}]},
                 {"role": "user", "content": [{"type": "text", "text": "second"},
                                              {"type": "text", "text": "question"}]}]})");
  EXPECT_TRUE(g.chat());
  EXPECT_EQ(g.text(), "second\nquestion");
  EXPECT_EQ(g.system(), "Be brief.\n\nNo lists.");
  EXPECT_EQ(g.params().gen_length(), 24);
  const v1::GenerateRequest plain =
      parse_ok(Endpoint::kChatCompletions, R"({"messages": [{"role": "user", "content": "hey"}]})");
  EXPECT_EQ(plain.text(), "hey");
  EXPECT_TRUE(plain.system().empty());
}

TEST(OpenAiRequest, ChatRefusals) {
  const Endpoint chat = Endpoint::kChatCompletions;
  for (
      const char* body :
      {R"({})", R"({"messages": []})", R"({"messages": {"role": "user"}})",
       R"({"messages": [{"content": "no role"}]})",
       R"({"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]})",
       R"({"messages": [{"role": "wizard", "content": "q"}]})",
       R"({"messages": [{"role": "user", "content": 5}]})",
       R"({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {}}]}]})",
       R"({"messages": [{"role": "user", "content": [{"type": 3}]}]})",
       R"({"prompt": "completion-style body"})"}) {
    EXPECT_NE(refusal(chat, body).find("`messages`"), std::string::npos) << body;
  }
  EXPECT_NE(
      refusal(Endpoint::kCompletions, R"({"prompt": "p", "messages": []})").find("`messages`"),
      std::string::npos);
}

TEST(OpenAiRequest, MalformedBodiesAndWrongTypesNameTheField) {
  const Endpoint c = Endpoint::kCompletions;
  EXPECT_NE(refusal(c, "{not json").find("not valid JSON"), std::string::npos);
  EXPECT_NE(refusal(c, "").find("not valid JSON"), std::string::npos);
  EXPECT_NE(refusal(c, "[1, 2]").find("JSON object"), std::string::npos);
  struct Case {
    const char* body;
    const char* field;
  };
  for (const Case& k : std::initializer_list<Case>{
           {R"({"prompt": "p", "max_tokens": "16"})", "`max_tokens` must be an integer"},
           {R"({"prompt": "p", "max_tokens": 16.5})", "`max_tokens` must be an integer"},
           {R"({"prompt": "p", "max_tokens": 0})", "`max_tokens` must be an integer in [1,"},
           {R"({"prompt": "p", "max_tokens": 99999999999})", "`max_tokens`"},
           {R"({"prompt": "p", "temperature": "hot"})", "`temperature` must be a number"},
           {R"({"prompt": "p", "temperature": -1})", "`temperature` must be >= 0"},
           {R"({"prompt": "p", "top_p": 1.5})", "`top_p` must be in [0, 1]"},
           {R"({"prompt": "p", "seed": -3})", "`seed` must be a non-negative integer"},
           {R"({"prompt": "p", "stream": "yes"})", "`stream` must be true or false"},
           {R"({"prompt": "p", "stream_options": {"include_usage": 1}})",
            "`stream_options.include_usage` must be true or false"},
           {R"({"prompt": "p", "model": 3})", "`model` must be a string"},
           {R"({"prompt": "p", "block_length": 0})", "`block_length`"},
           {R"({"prompt": "p", "cache": "bogus"})", "`cache` must be"},
           {R"({"prompt": "p", "policy": ["focus"]})", "`policy` must be a string"},
           {R"({"prompt": "p", "prefilling": 4})", "`prefilling` must be an object"},
           {R"({"prompt": "p", "prefilling": {"chunk_sise": 4}})",
            "`prefilling.chunk_sise` is not a known field"},
           {R"({"prompt": "p", "prefilling": {"chunk_size": "big"}})",
            "`prefilling.chunk_size` must be an integer"},
           {R"({"prompt": "p", "focus": {"rho": "x"}})", "`focus.rho` must be a number"},
           {R"({"prompt": "p", "focus": {"refresh": 1}})", "`focus.refresh` must be a string"},
           {R"({"prompt": "p", "n": 2})", "`n` must be 1"},
           {R"({"prompt": "p", "stop": ["\n"]})", "`stop` is not supported"},
           {R"({"prompt": "p", "logprobs": 5})", "`logprobs` is not supported"},
           {R"({"prompt": "p", "presence_penalty": 0.5})", "`presence_penalty` is not supported"},
           {R"({"prompt": "p", "response_format": {"type": "json_object"}})", "`response_format`"},
       }) {
    EXPECT_NE(refusal(c, k.body).find(k.field), std::string::npos)
        << k.body << " → " << refusal(c, k.body);
  }
}

v1::GenerationDone sample_done() {
  v1::GenerationDone done;
  done.set_text("a short answer");
  done.mutable_usage()->set_prompt_tokens(7);
  done.mutable_usage()->set_generated_tokens(16);
  done.mutable_usage()->set_forward_passes(12);
  done.mutable_timings()->set_total_seconds(0.25);
  return done;
}

TEST(OpenAiResponse, CompletionAndChatBodies) {
  const v1::GenerationDone done = sample_done();
  const ResponseMeta meta = make_meta(Endpoint::kCompletions, "r-9", "llada-tiny", 1700000000);
  EXPECT_EQ(meta.id, "cmpl-r-9");
  const Json c = Json::parse(completion_body(Endpoint::kCompletions, meta, done, "stop"));
  EXPECT_EQ(c["id"], "cmpl-r-9");
  EXPECT_EQ(c["object"], "text_completion");
  EXPECT_EQ(c["created"], 1700000000);
  EXPECT_EQ(c["model"], "llada-tiny");
  ASSERT_EQ(c["choices"].size(), 1u);
  EXPECT_EQ(c["choices"][0]["text"], "a short answer");
  EXPECT_EQ(c["choices"][0]["index"], 0);
  EXPECT_EQ(c["choices"][0]["finish_reason"], "stop");
  EXPECT_TRUE(c["choices"][0]["logprobs"].is_null());
  EXPECT_EQ(c["usage"],
            (Json{{"prompt_tokens", 7}, {"completion_tokens", 16}, {"total_tokens", 23}}));
  EXPECT_EQ(c["dllm"]["forward_passes"], 12);

  const ResponseMeta chat_meta = make_meta(Endpoint::kChatCompletions, "r-9", "m", 5);
  EXPECT_EQ(chat_meta.id, "chatcmpl-r-9");
  const Json h =
      Json::parse(completion_body(Endpoint::kChatCompletions, chat_meta, done, "length"));
  EXPECT_EQ(h["object"], "chat.completion");
  EXPECT_EQ(h["choices"][0]["message"],
            (Json{{"role", "assistant"}, {"content", "a short answer"}}));
  EXPECT_EQ(h["choices"][0]["finish_reason"], "length");
  EXPECT_EQ(h["usage"]["total_tokens"], 23);
}

// "data: {...}\n\n" → the JSON.
Json event_json(const std::string& event) {
  EXPECT_EQ(event.rfind("data: ", 0), 0u) << event;
  EXPECT_TRUE(event.size() >= 2 && event.substr(event.size() - 2) == "\n\n") << event;
  return Json::parse(event.substr(6));
}

TEST(OpenAiResponse, StreamChunks) {
  const ResponseMeta chat = make_meta(Endpoint::kChatCompletions, "s", "m", 5);
  const Json role = event_json(role_event(chat));
  EXPECT_EQ(role["object"], "chat.completion.chunk");
  EXPECT_EQ(role["choices"][0]["delta"], (Json{{"role", "assistant"}, {"content", ""}}));
  const Json delta = event_json(text_event(Endpoint::kChatCompletions, chat, "Hel"));
  EXPECT_EQ(delta["id"], "chatcmpl-s");
  EXPECT_EQ(delta["choices"][0]["delta"], (Json{{"content", "Hel"}}));
  EXPECT_TRUE(delta["choices"][0]["finish_reason"].is_null());
  const Json finish = event_json(finish_event(Endpoint::kChatCompletions, chat, "stop"));
  EXPECT_EQ(finish["choices"][0]["delta"], Json::object());
  EXPECT_EQ(finish["choices"][0]["finish_reason"], "stop");
  const Json usage = event_json(usage_event(Endpoint::kChatCompletions, chat, sample_done()));
  EXPECT_TRUE(usage["choices"].empty());
  EXPECT_EQ(usage["usage"]["completion_tokens"], 16);

  const ResponseMeta completion = make_meta(Endpoint::kCompletions, "s", "m", 5);
  const Json text = event_json(text_event(Endpoint::kCompletions, completion, "lo"));
  EXPECT_EQ(text["object"], "text_completion");
  EXPECT_EQ(text["choices"][0]["text"], "lo");
  const Json end = event_json(finish_event(Endpoint::kCompletions, completion, "length"));
  EXPECT_EQ(end["choices"][0]["text"], "");
  EXPECT_EQ(end["choices"][0]["finish_reason"], "length");
  EXPECT_EQ(kDoneEvent, "data: [DONE]\n\n");
}

TEST(OpenAiResponse, ModelsList) {
  v1::ListModelsResponse models;
  v1::ModelInfo* m = models.add_models();
  m->set_name("llada-tiny");
  m->set_family("llada");
  m->set_vocab_size(512);
  const Json list = Json::parse(models_body(models));
  EXPECT_EQ(list["object"], "list");
  ASSERT_EQ(list["data"].size(), 1u);
  EXPECT_EQ(list["data"][0]["id"], "llada-tiny");
  EXPECT_EQ(list["data"][0]["object"], "model");
  EXPECT_EQ(list["data"][0]["owned_by"], "dllm-serve");
  EXPECT_EQ(list["data"][0]["family"], "llada");
  EXPECT_EQ(Json::parse(model_body(*m))["vocab_size"], 512);
}

TEST(OpenAiErrors, GrpcCodesMapToHttpStatuses) {
  EXPECT_EQ(http_status(grpc::StatusCode::INVALID_ARGUMENT), 400);
  EXPECT_EQ(http_status(grpc::StatusCode::OUT_OF_RANGE), 400);
  EXPECT_EQ(http_status(grpc::StatusCode::NOT_FOUND), 404);
  EXPECT_EQ(http_status(grpc::StatusCode::UNAUTHENTICATED), 401);
  EXPECT_EQ(http_status(grpc::StatusCode::PERMISSION_DENIED), 403);
  EXPECT_EQ(http_status(grpc::StatusCode::RESOURCE_EXHAUSTED), 429);
  EXPECT_EQ(http_status(grpc::StatusCode::UNAVAILABLE), 503);
  EXPECT_EQ(http_status(grpc::StatusCode::DEADLINE_EXCEEDED), 504);
  EXPECT_EQ(http_status(grpc::StatusCode::CANCELLED), 499);
  EXPECT_EQ(http_status(grpc::StatusCode::INTERNAL), 500);
  EXPECT_EQ(http_status(grpc::StatusCode::UNKNOWN), 500);
  EXPECT_EQ(http_status(grpc::StatusCode::FAILED_PRECONDITION), 500);
  EXPECT_EQ(grpc_code_name(grpc::StatusCode::RESOURCE_EXHAUSTED), "resource_exhausted");
  EXPECT_EQ(grpc_code_name(grpc::StatusCode::UNAUTHENTICATED), "unauthenticated");
}

TEST(OpenAiErrors, ErrorBodyShape) {
  const Json e = Json::parse(error_body(404, "unknown model 'x'", "not_found"));
  EXPECT_EQ(e["error"]["message"], "unknown model 'x'");
  EXPECT_EQ(e["error"]["type"], "invalid_request_error");
  EXPECT_EQ(e["error"]["code"], "not_found");
  EXPECT_TRUE(e["error"].contains("param"));
  EXPECT_EQ(Json::parse(error_body(429, "busy", ""))["error"]["type"], "rate_limit_error");
  EXPECT_TRUE(Json::parse(error_body(429, "busy", ""))["error"]["code"].is_null());
  EXPECT_EQ(Json::parse(error_body(503, "down", "unavailable"))["error"]["type"], "server_error");
  const Json streamed = event_json(error_event(504, "too slow", "deadline_exceeded"));
  EXPECT_EQ(streamed["error"]["message"], "too slow");
  // Invalid UTF-8 in a message is replaced, not thrown.
  EXPECT_NE(error_body(400, "bad \xff byte", "").find("bad"), std::string::npos);
}

TEST(OpenAiFinishReason, StopWhenTheAnswerEndedBeforeTheLastBlock) {
  v1::GenerationDone done = sample_done();
  EXPECT_EQ(finish_reason(done, "text in the last block"), "length");
  EXPECT_EQ(finish_reason(done, ""), "stop");
  done.set_stopped_early(true);
  EXPECT_EQ(finish_reason(done, "text"), "stop");
}

TEST(OpenAiStreamedAnswer, BlocksThenTheRestOfTheAnswer) {
  StreamedAnswer a;
  EXPECT_EQ(a.on_block("Hello, "), "Hello, ");
  EXPECT_EQ(a.on_block(""), "");
  EXPECT_EQ(a.on_block("world"), "world");
  EXPECT_EQ(a.on_done("Hello, world"), "");
  EXPECT_FALSE(a.diverged());
  EXPECT_EQ(a.sent(), "Hello, world");
}

TEST(OpenAiStreamedAnswer, ACharacterSplitAcrossBlocksWaitsForTheAnswer) {
  // "é" = C3 A9 split over two blocks: each block decodes its half as U+FFFD.
  StreamedAnswer a;
  EXPECT_EQ(a.on_block("caf\xEF\xBF\xBD"), "caf");
  EXPECT_EQ(a.on_block("\xEF\xBF\xBD au lait"), "");  // held: the junction is unknown
  EXPECT_EQ(a.on_done("caf\xC3\xA9 au lait"), "\xC3\xA9 au lait");
  EXPECT_FALSE(a.diverged());
  EXPECT_EQ(a.sent(), "caf\xC3\xA9 au lait");
}

TEST(OpenAiStreamedAnswer, DivergenceIsReported) {
  StreamedAnswer a;
  EXPECT_EQ(a.on_block("abc"), "abc");
  EXPECT_EQ(a.on_done("xyz"), "");
  EXPECT_TRUE(a.diverged());
}

}  // namespace
}  // namespace dllm::router::openai

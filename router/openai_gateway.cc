// OpenAI JSON ↔ dllm.v1 messages. Parsing never throws: every value's type is checked first.
#include "router/openai_gateway.h"

#include <cmath>
#include <limits>
#include <optional>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "nlohmann/json.hpp"

namespace dllm::router::openai {
namespace {

using Json = nlohmann::ordered_json;  // fields in the order OpenAI's documentation shows

std::string dump(const Json& j) {
  // Replace, not throw, should a string ever carry invalid UTF-8.
  return j.dump(-1, ' ', false, Json::error_handler_t::replace);
}

// Reads typed fields of one JSON object. A null value counts as absent (clients send explicit
// nulls for unset options). The first problem, naming the field, goes to a status shared with
// the readers of nested objects, so a parser reads straight through and checks it once.
class Fields {
 public:
  Fields(const Json& object, std::string prefix, absl::Status* status)
      : object_(object), prefix_(std::move(prefix)), status_(status) {}

  const Json* find(const char* name) const {
    const auto it = object_.find(name);
    return it == object_.end() || it->is_null() ? nullptr : &*it;
  }
  std::optional<int64_t> integer(const char* name, int64_t min,
                                 int64_t max = std::numeric_limits<int32_t>::max()) {
    const Json* v = find(name);
    if (v == nullptr) return std::nullopt;
    if (!v->is_number_integer()) return fail(name, "must be an integer");
    // Non-negative numbers parse as unsigned, which may not fit an int64_t.
    const bool in_range = v->is_number_unsigned()
                              ? v->get<uint64_t>() <= static_cast<uint64_t>(max) &&
                                    (min <= 0 || v->get<uint64_t>() >= static_cast<uint64_t>(min))
                              : v->get<int64_t>() >= min && v->get<int64_t>() <= max;
    if (!in_range) return fail(name, absl::StrCat("must be an integer in [", min, ", ", max, "]"));
    return v->get<int64_t>();
  }
  std::optional<uint64_t> unsigned64(const char* name) {
    const Json* v = find(name);
    if (v == nullptr) return std::nullopt;
    if (!v->is_number_unsigned()) return fail(name, "must be a non-negative integer");
    return v->get<uint64_t>();
  }
  std::optional<double> number(const char* name, double min,
                               double max = std::numeric_limits<double>::infinity()) {
    const Json* v = find(name);
    if (v == nullptr) return std::nullopt;
    if (!v->is_number()) return fail(name, "must be a number");
    if (v->get<double>() < min || v->get<double>() > max)
      return fail(name, std::isinf(max) ? absl::StrCat("must be >= ", min)
                                        : absl::StrCat("must be in [", min, ", ", max, "]"));
    return v->get<double>();
  }
  std::optional<bool> boolean(const char* name) {
    const Json* v = find(name);
    if (v == nullptr) return std::nullopt;
    if (!v->is_boolean()) return fail(name, "must be true or false");
    return v->get<bool>();
  }
  std::optional<std::string> string(const char* name) {
    const Json* v = find(name);
    if (v == nullptr) return std::nullopt;
    if (!v->is_string()) return fail(name, "must be a string");
    return v->get<std::string>();
  }
  const Json* object(const char* name) {
    const Json* v = find(name);
    if (v == nullptr || v->is_object()) return v;
    fail(name, "must be an object");
    return nullptr;
  }
  // Every key is one of `known` (for the dllm extension objects, where a typo is a mistake).
  void only(std::initializer_list<absl::string_view> known) {
    for (const auto& [key, value] : object_.items()) {
      bool ok = false;
      for (absl::string_view k : known) ok |= key == k;
      if (!ok) fail(key.c_str(), "is not a known field");
    }
  }
  std::nullopt_t fail(const char* name, absl::string_view why) {
    if (status_->ok())
      *status_ = absl::InvalidArgumentError(absl::StrCat("`", prefix_, name, "` ", why));
    return std::nullopt;
  }
  // The same status for a nested object's fields, named "<prefix><name>.<field>".
  Fields nested(const Json& object, const char* name) const {
    return Fields(object, absl::StrCat(prefix_, name, "."), status_);
  }

 private:
  const Json& object_;
  const std::string prefix_;
  absl::Status* status_;
};

// obj[key] when it is a string, else `fallback` (Json::value() throws on a type mismatch).
std::string string_or(const Json& obj, const char* key, const char* fallback) {
  const auto it = obj.find(key);
  return it != obj.end() && it->is_string() ? it->get<std::string>() : fallback;
}

// null, false, 0, "", [] and {}: what clients send for an option they do not use.
bool is_neutral(const Json& v) {
  return v.is_null() || (v.is_boolean() && !v.get<bool>()) || (v.is_number() && v == 0) ||
         (v.is_string() && v.get_ref<const std::string&>().empty()) ||
         ((v.is_array() || v.is_object()) && v.empty());
}

// OpenAI options this server cannot honour: refused unless left neutral.
void refuse_unsupported(const Json& root, Endpoint endpoint, Fields& f) {
  // (tool_choice and function_call mean nothing without tools or functions, refused here.)
  static constexpr const char* kUnsupported[] = {"stop",
                                                 "logprobs",
                                                 "top_logprobs",
                                                 "echo",
                                                 "suffix",
                                                 "presence_penalty",
                                                 "frequency_penalty",
                                                 "logit_bias",
                                                 "tools",
                                                 "functions",
                                                 "audio",
                                                 "prediction"};
  for (const char* name : kUnsupported)
    if (root.contains(name) && !is_neutral(root[name]))
      f.fail(name, "is not supported by dllm-serve");
  for (const char* name : {"n", "best_of"})
    if (root.contains(name) && !root[name].is_null() && root[name] != 1)
      f.fail(name, "must be 1 (one answer per request)");
  if (const Json* format = f.object("response_format");
      format != nullptr && string_or(*format, "type", "") != "text")
    f.fail("response_format", "other than {\"type\": \"text\"} is not supported");
  if (endpoint == Endpoint::kCompletions && root.contains("messages"))
    f.fail("messages", "belongs to /v1/chat/completions; /v1/completions takes `prompt`");
}

// "prompt": a string, [string], [int, ...] (token ids) or [[int, ...]].
void read_prompt(Fields& f, v1::GenerateRequest* out) {
  const Json* prompt = f.find("prompt");
  if (prompt == nullptr) return (void)f.fail("prompt", "is required");
  const Json* p = prompt;
  if (p->is_array() && p->size() == 1 && ((*p)[0].is_string() || (*p)[0].is_array())) p = &(*p)[0];
  if (p->is_string()) return out->set_text(p->get<std::string>());
  if (p->is_array() && !p->empty()) {
    for (const Json& id : *p) {
      if (!id.is_number_integer() || id.get<int64_t>() < 0 ||
          id.get<int64_t>() > std::numeric_limits<int32_t>::max())
        return (void)f.fail("prompt", "token ids must be non-negative integers");
      out->mutable_ids()->add_ids(id.get<int32_t>());
    }
    return;
  }
  f.fail("prompt", "must be a string, or an array of one string or of token ids");
}

// A message's content: a string, or an array of {"type": "text", "text": ...} parts.
std::optional<std::string> content_text(const Json& content, Fields& f) {
  if (content.is_string()) return content.get<std::string>();
  if (content.is_null()) return std::string();
  if (content.is_array()) {
    std::vector<std::string> parts;
    for (const Json& part : content) {
      if (!part.is_object() || string_or(part, "type", "") != "text" || !part.contains("text") ||
          !part["text"].is_string())
        return f.fail("messages", "content parts must be {\"type\": \"text\", \"text\": ...}");
      parts.push_back(part["text"].get<std::string>());
    }
    return absl::StrJoin(parts, "\n");
  }
  return f.fail("messages", "content must be a string or an array of text parts");
}

// "messages" → the chat template's one user turn (the last user message) and system prompt.
void read_messages(Fields& f, v1::GenerateRequest* out) {
  const Json* messages = f.find("messages");
  if (messages == nullptr) return (void)f.fail("messages", "is required");
  if (!messages->is_array() || messages->empty())
    return (void)f.fail("messages", "must be a non-empty array");
  std::vector<std::string> system;
  std::optional<std::string> user;
  std::string last_role;
  for (const Json& m : *messages) {
    if (!m.is_object() || !m.contains("role") || !m["role"].is_string())
      return (void)f.fail("messages", "entries must be objects with a string `role`");
    last_role = m["role"].get<std::string>();
    std::optional<std::string> text = content_text(m.value("content", Json()), f);
    if (!text) return;
    if (last_role == "system" || last_role == "developer") {
      system.push_back(std::move(*text));
    } else if (last_role == "user") {
      user = std::move(text);
    } else if (last_role != "assistant" && last_role != "tool") {
      return (void)f.fail("messages", absl::StrCat("has an unknown role '", last_role, "'"));
    }
  }
  if (!user || last_role != "user") return (void)f.fail("messages", "must end with a user message");
  out->set_text(std::move(*user));
  out->set_chat(true);
  out->set_system(absl::StrJoin(system, "\n\n"));
}

void read_prefilling(Fields& top, v1::GenerateRequest* request) {
  const Json* object = top.object("prefilling");
  if (object == nullptr) return;
  v1::PrefillingParams* out = request->mutable_prefilling();
  Fields f = top.nested(*object, "prefilling");
  f.only({"chunk_size", "top_k", "draft_tokens", "score_batch", "chunk_mode", "token_capacity",
          "token_select", "chunk_bos", "bos_id"});
  if (auto v = f.integer("chunk_size", 1)) out->set_chunk_size(static_cast<int32_t>(*v));
  if (auto v = f.integer("top_k", 1)) out->set_top_k(static_cast<int32_t>(*v));
  if (auto v = f.integer("draft_tokens", 0)) out->set_draft_tokens(static_cast<int32_t>(*v));
  if (auto v = f.integer("score_batch", 1)) out->set_score_batch(static_cast<int32_t>(*v));
  if (auto v = f.string("chunk_mode")) out->set_chunk_mode(*v);
  if (auto v = f.integer("token_capacity", 0)) out->set_token_capacity(static_cast<int32_t>(*v));
  if (auto v = f.string("token_select")) out->set_token_select(*v);
  if (auto v = f.boolean("chunk_bos")) out->set_chunk_bos(*v);
  if (auto v = f.integer("bos_id", 0)) out->set_bos_id(static_cast<int32_t>(*v));
}

void read_focus(Fields& top, v1::GenerateRequest* request) {
  const Json* object = top.object("focus");
  if (object == nullptr) return;
  v1::FocusParams* out = request->mutable_focus();
  Fields f = top.nested(*object, "focus");
  f.only({"rho", "window", "sink_layer", "sinks", "kv_block", "kv_budget", "kv_ratio", "dense_tail",
          "refresh"});
  if (auto v = f.number("rho", 0)) out->set_rho(*v);
  if (auto v = f.integer("window", 0)) out->set_window(static_cast<int32_t>(*v));
  if (auto v = f.integer("sink_layer", 0)) out->set_sink_layer(static_cast<int32_t>(*v));
  if (auto v = f.integer("sinks", 0)) out->set_sinks(static_cast<int32_t>(*v));
  if (auto v = f.integer("kv_block", 1)) out->set_kv_block(static_cast<int32_t>(*v));
  if (auto v = f.integer("kv_budget", 0)) out->set_kv_budget(static_cast<int32_t>(*v));
  if (auto v = f.number("kv_ratio", 0)) out->set_kv_ratio(*v);
  if (auto v = f.integer("dense_tail", 0)) out->set_dense_tail(static_cast<int32_t>(*v));
  if (auto v = f.string("refresh")) out->set_refresh(*v);
}

// OpenAI's sampling options and the dllm extensions → GenerationParams and the policy.
void read_generation(Endpoint endpoint, Fields& f, v1::GenerateRequest* out) {
  v1::GenerationParams* p = out->mutable_params();
  if (auto v = f.integer("max_tokens", 1)) p->set_gen_length(static_cast<int32_t>(*v));
  if (endpoint == Endpoint::kChatCompletions)
    if (auto v = f.integer("max_completion_tokens", 1)) p->set_gen_length(static_cast<int32_t>(*v));
  if (auto v = f.number("temperature", 0)) p->set_temperature(*v);
  if (auto v = f.number("top_p", 0, 1)) p->set_top_p(*v);
  if (auto v = f.unsigned64("seed")) p->set_seed(*v);
  // dllm extensions, named as `dllm generate`'s flags.
  if (auto v = f.integer("block_length", 1)) p->set_block_length(static_cast<int32_t>(*v));
  if (auto v = f.integer("steps", 1)) p->set_steps(static_cast<int32_t>(*v));
  if (auto v = f.number("threshold", 0)) p->set_threshold(*v);
  if (auto v = f.string("cache")) {
    const std::string mode = absl::AsciiStrToLower(*v);
    if (mode == "none") {
      p->set_cache(v1::CACHE_MODE_NONE);
    } else if (mode == "prefix") {
      p->set_cache(v1::CACHE_MODE_PREFIX);
    } else if (mode == "dual") {
      p->set_cache(v1::CACHE_MODE_DUAL);
    } else {
      f.fail("cache", "must be \"none\", \"prefix\" or \"dual\"");
    }
  }
  if (auto v = f.string("sampler")) p->set_sampler(*v);
  if (auto v = f.number("cfg_scale", 0)) p->set_cfg_scale(*v);
  if (auto v = f.integer("top_k", 0)) p->set_top_k(static_cast<int32_t>(*v));
  if (auto v = f.number("alg_temp", 0)) p->set_alg_temp(*v);
  if (auto v = f.number("eps", 0)) p->set_eps(*v);
  if (auto v = f.boolean("stop_after_eos_block")) p->set_stop_after_eos_block(*v);
  if (auto v = f.string("policy")) out->set_policy(*v);
  if (auto v = f.string("context")) out->set_context(*v);
  read_prefilling(f, out);
  read_focus(f, out);
}

Json usage_json(const v1::GenerationDone& done) {
  const v1::Usage& u = done.usage();
  return Json{{"prompt_tokens", u.prompt_tokens()},
              {"completion_tokens", u.generated_tokens()},
              {"total_tokens", static_cast<int64_t>(u.prompt_tokens()) + u.generated_tokens()}};
}

// What dllm knows beyond OpenAI's usage; clients ignore fields they do not know.
Json dllm_json(const v1::GenerationDone& done) {
  return Json{{"forward_passes", done.usage().forward_passes()},
              {"stopped_early", done.stopped_early()},
              {"queue_seconds", done.timings().queue_seconds()},
              {"first_block_seconds", done.timings().first_block_seconds()},
              {"total_seconds", done.timings().total_seconds()}};
}

Json chunk_json(Endpoint endpoint, const ResponseMeta& meta, Json choices) {
  return Json{{"id", meta.id},
              {"object", endpoint == Endpoint::kChatCompletions ? "chat.completion.chunk"
                                                                : "text_completion"},
              {"created", meta.created},
              {"model", meta.model},
              {"choices", std::move(choices)}};
}

// One choice of a chunk: a piece of text and/or the finish reason (null while streaming).
Json chunk_choice(Endpoint endpoint, std::string_view text, const Json& finish) {
  if (endpoint == Endpoint::kCompletions)
    return Json{{"index", 0}, {"text", text}, {"logprobs", nullptr}, {"finish_reason", finish}};
  Json delta = Json::object();
  if (!text.empty()) delta["content"] = text;
  return Json{{"index", 0}, {"delta", delta}, {"logprobs", nullptr}, {"finish_reason", finish}};
}

Json model_json(const v1::ModelInfo& model) {
  return Json{{"id", model.name()},
              {"object", "model"},
              {"created", 0},
              {"owned_by", "dllm-serve"},
              {"family", model.family()},
              {"vocab_size", model.vocab_size()},
              {"mask_token_id", model.mask_token_id()},
              {"has_tokenizer", model.has_tokenizer()}};
}

std::string event(const Json& j) { return absl::StrCat("data: ", dump(j), "\n\n"); }

}  // namespace

absl::StatusOr<ParsedRequest> parse_request(Endpoint endpoint, std::string_view body) {
  const Json root = Json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (root.is_discarded()) return absl::InvalidArgumentError("the request body is not valid JSON");
  if (!root.is_object())
    return absl::InvalidArgumentError("the request body must be a JSON object");
  absl::Status status;
  Fields f(root, "", &status);
  ParsedRequest out;
  refuse_unsupported(root, endpoint, f);
  if (auto v = f.string("model")) out.generate.set_model(*v);
  if (endpoint == Endpoint::kCompletions) {
    read_prompt(f, &out.generate);
  } else {
    read_messages(f, &out.generate);
  }
  read_generation(endpoint, f, &out.generate);
  if (auto v = f.boolean("stream")) out.stream = *v;
  if (const Json* options = f.object("stream_options")) {
    Fields o = f.nested(*options, "stream_options");
    if (auto v = o.boolean("include_usage")) out.include_usage = *v;
  }
  if (!status.ok()) return status;
  return out;
}

ResponseMeta make_meta(Endpoint endpoint, const std::string& request_id, std::string model,
                       int64_t created) {
  return ResponseMeta{
      .id =
          absl::StrCat(endpoint == Endpoint::kChatCompletions ? "chatcmpl-" : "cmpl-", request_id),
      .model = std::move(model),
      .created = created};
}

std::string finish_reason(const v1::GenerationDone& done, std::string_view last_block_text) {
  return done.stopped_early() || last_block_text.empty() ? "stop" : "length";
}

std::string completion_body(Endpoint endpoint, const ResponseMeta& meta,
                            const v1::GenerationDone& done, std::string_view reason) {
  Json choice;
  if (endpoint == Endpoint::kCompletions) {
    choice =
        Json{{"index", 0}, {"text", done.text()}, {"logprobs", nullptr}, {"finish_reason", reason}};
  } else {
    choice = Json{{"index", 0},
                  {"message", {{"role", "assistant"}, {"content", done.text()}}},
                  {"logprobs", nullptr},
                  {"finish_reason", reason}};
  }
  return dump(Json{
      {"id", meta.id},
      {"object", endpoint == Endpoint::kChatCompletions ? "chat.completion" : "text_completion"},
      {"created", meta.created},
      {"model", meta.model},
      {"choices", Json::array({std::move(choice)})},
      {"usage", usage_json(done)},
      {"dllm", dllm_json(done)}});
}

std::string role_event(const ResponseMeta& meta) {
  const Json choice{{"index", 0},
                    {"delta", {{"role", "assistant"}, {"content", ""}}},
                    {"logprobs", nullptr},
                    {"finish_reason", nullptr}};
  return event(chunk_json(Endpoint::kChatCompletions, meta, Json::array({choice})));
}

std::string text_event(Endpoint endpoint, const ResponseMeta& meta, std::string_view text) {
  return event(chunk_json(endpoint, meta, Json::array({chunk_choice(endpoint, text, nullptr)})));
}

std::string finish_event(Endpoint endpoint, const ResponseMeta& meta, std::string_view reason) {
  return event(chunk_json(endpoint, meta, Json::array({chunk_choice(endpoint, "", reason)})));
}

std::string usage_event(Endpoint endpoint, const ResponseMeta& meta,
                        const v1::GenerationDone& done) {
  Json j = chunk_json(endpoint, meta, Json::array());
  j["usage"] = usage_json(done);
  j["dllm"] = dllm_json(done);
  return event(j);
}

std::string error_event(int status, std::string_view message, std::string_view code) {
  return absl::StrCat("data: ", error_body(status, message, code), "\n\n");
}

std::string model_body(const v1::ModelInfo& model) { return dump(model_json(model)); }

std::string models_body(const v1::ListModelsResponse& models) {
  Json data = Json::array();
  for (const v1::ModelInfo& m : models.models()) data.push_back(model_json(m));
  return dump(Json{{"object", "list"}, {"data", std::move(data)}});
}

int http_status(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::INVALID_ARGUMENT:
    case grpc::StatusCode::OUT_OF_RANGE:
      return 400;
    case grpc::StatusCode::NOT_FOUND:
      return 404;
    case grpc::StatusCode::UNAUTHENTICATED:
      return 401;
    case grpc::StatusCode::PERMISSION_DENIED:
      return 403;
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      return 429;
    case grpc::StatusCode::CANCELLED:
      return 499;
    case grpc::StatusCode::UNAVAILABLE:
      return 503;
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return 504;
    default:
      return 500;
  }
}

std::string grpc_code_name(grpc::StatusCode code) {
  static constexpr const char* kNames[] = {"ok",
                                           "cancelled",
                                           "unknown",
                                           "invalid_argument",
                                           "deadline_exceeded",
                                           "not_found",
                                           "already_exists",
                                           "permission_denied",
                                           "resource_exhausted",
                                           "failed_precondition",
                                           "aborted",
                                           "out_of_range",
                                           "unimplemented",
                                           "internal",
                                           "unavailable",
                                           "data_loss",
                                           "unauthenticated"};
  const int i = static_cast<int>(code);
  return i >= 0 && i < static_cast<int>(std::size(kNames)) ? kNames[i] : "unknown";
}

std::string error_body(int status, std::string_view message, std::string_view code) {
  const char* type = status == 429  ? "rate_limit_error"
                     : status < 500 ? "invalid_request_error"
                                    : "server_error";
  return dump(Json{{"error",
                    {{"message", message},
                     {"type", type},
                     {"param", nullptr},
                     {"code", code.empty() ? Json(nullptr) : Json(code)}}}});
}

std::string StreamedAnswer::on_block(std::string_view text) {
  if (holding_) return "";
  static constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD
  std::string_view now = text;
  while (now.ends_with(kReplacement)) {
    now.remove_suffix(kReplacement.size());
    holding_ = true;
  }
  sent_.append(now);
  return std::string(now);
}

std::string StreamedAnswer::on_done(std::string_view answer) {
  if (!answer.starts_with(sent_)) {
    diverged_ = true;
    return "";
  }
  std::string rest(answer.substr(sent_.size()));
  sent_.append(rest);
  return rest;
}

}  // namespace dllm::router::openai

// `dllm client --router HOST:PORT`: one Generate call, the answer streamed block by block to
// stdout; every generation and policy flag of `dllm generate` is sent as set (unset flags take
// the server's defaults, which are `dllm generate`'s).
#include <chrono>
#include <cstdio>
#include <optional>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "dllm/v1/generation.grpc.pb.h"
#include "proto/wire/bearer_token.h"
#include "proto/wire/tls_config.h"
#include "tools/dllm/commands.h"
#include "tools/dllm/generation_flags.h"
#include "tools/dllm/policy_flags.h"

namespace dllm::cli {
namespace {

const std::vector<OptionSpec>& client_specs() {
  static const std::vector<OptionSpec> all = [] {
    std::vector<OptionSpec> specs = {
        {"router", true, "the router's HOST:PORT (default 127.0.0.1:50051)"},
        {"model-name", true, "which served model (default: the server's default)"},
        {"request-id", true, "request id for logs (default: the server makes one)"},
        {"deadline-ms", true, "give up after this many milliseconds (default: none)"},
        {"quiet", false, "print only the final text (and ids), not the blocks as they finish"},
        {"tls", false, "dial the router over TLS, trusting the system's roots"},
        {"tls-ca", true, "dial the router over TLS, trusting this PEM CA"},
        {"tls-client-cert", true, "PEM certificate to present to the router (mutual TLS)"},
        {"tls-client-key", true, "the PEM private key of --tls-client-cert"},
        {"tls-server-name", true, "the name the router's certificate carries, if not the host"},
        {"auth-token-file", true,
         "send 'authorization: Bearer TOKEN', TOKEN being this file's content"},
        kConfigOption, kHelpOption};
    const std::vector<OptionSpec>& shared = prompt_and_generation_specs();
    specs.insert(specs.begin() + 1, shared.begin(), shared.end());
    return with_policy_options(specs);
  }();
  return all;
}

// Copies each flag the user set into the request; the server validates values.
absl::Status fill_request(const CliArgs& args, v1::GenerateRequest* r) {
  struct IntField {
    const char* flag;
    void (*set)(v1::GenerateRequest*, int);
  };
  const IntField ints[] = {
      {"gen-length", [](v1::GenerateRequest* r, int v) { r->mutable_params()->set_gen_length(v); }},
      {"block-length", [](v1::GenerateRequest* r, int v) { r->mutable_params()->set_block_length(v); }},
      {"steps", [](v1::GenerateRequest* r, int v) { r->mutable_params()->set_steps(v); }},
      {"sample-top-k", [](v1::GenerateRequest* r, int v) { r->mutable_params()->set_top_k(v); }},
      {"seed", [](v1::GenerateRequest* r, int v) { r->mutable_params()->set_seed(static_cast<uint64_t>(v)); }},
      {"chunk-size", [](v1::GenerateRequest* r, int v) { r->mutable_prefilling()->set_chunk_size(v); }},
      {"top-k", [](v1::GenerateRequest* r, int v) { r->mutable_prefilling()->set_top_k(v); }},
      {"draft-tokens", [](v1::GenerateRequest* r, int v) { r->mutable_prefilling()->set_draft_tokens(v); }},
      {"score-batch", [](v1::GenerateRequest* r, int v) { r->mutable_prefilling()->set_score_batch(v); }},
      {"token-capacity", [](v1::GenerateRequest* r, int v) { r->mutable_prefilling()->set_token_capacity(v); }},
      {"bos-id", [](v1::GenerateRequest* r, int v) { r->mutable_prefilling()->set_bos_id(v); }},
      {"window", [](v1::GenerateRequest* r, int v) { r->mutable_focus()->set_window(v); }},
      {"sink-layer", [](v1::GenerateRequest* r, int v) { r->mutable_focus()->set_sink_layer(v); }},
      {"sinks", [](v1::GenerateRequest* r, int v) { r->mutable_focus()->set_sinks(v); }},
      {"kv-block", [](v1::GenerateRequest* r, int v) { r->mutable_focus()->set_kv_block(v); }},
      {"kv-budget", [](v1::GenerateRequest* r, int v) { r->mutable_focus()->set_kv_budget(v); }},
      {"dense-tail", [](v1::GenerateRequest* r, int v) { r->mutable_focus()->set_dense_tail(v); }},
  };
  for (const IntField& f : ints) {
    if (!args.has(f.flag)) continue;
    absl::StatusOr<int> v = args.get_int(f.flag, 0);
    if (!v.ok()) return v.status();
    f.set(r, *v);
  }
  struct DoubleField {
    const char* flag;
    void (*set)(v1::GenerateRequest*, double);
  };
  const DoubleField doubles[] = {
      {"temperature", [](v1::GenerateRequest* r, double v) { r->mutable_params()->set_temperature(v); }},
      {"threshold", [](v1::GenerateRequest* r, double v) { r->mutable_params()->set_threshold(v); }},
      {"cfg-scale", [](v1::GenerateRequest* r, double v) { r->mutable_params()->set_cfg_scale(v); }},
      {"top-p", [](v1::GenerateRequest* r, double v) { r->mutable_params()->set_top_p(v); }},
      {"alg-temp", [](v1::GenerateRequest* r, double v) { r->mutable_params()->set_alg_temp(v); }},
      {"eps", [](v1::GenerateRequest* r, double v) { r->mutable_params()->set_eps(v); }},
      {"rho", [](v1::GenerateRequest* r, double v) { r->mutable_focus()->set_rho(v); }},
      {"kv-ratio", [](v1::GenerateRequest* r, double v) { r->mutable_focus()->set_kv_ratio(v); }},
  };
  for (const DoubleField& f : doubles) {
    if (!args.has(f.flag)) continue;
    absl::StatusOr<double> v = args.get_double(f.flag, 0.0);
    if (!v.ok()) return v.status();
    f.set(r, *v);
  }
  v1::GenerationParams* p = r->mutable_params();
  if (args.has("remasking")) p->set_sampler(args.get("remasking"));
  if (args.has("alg")) p->set_sampler(args.get("alg"));
  if (args.has("cache")) {
    const std::string c = args.get("cache");
    if (c == "none") p->set_cache(v1::CACHE_MODE_NONE);
    else if (c == "prefix") p->set_cache(v1::CACHE_MODE_PREFIX);
    else if (c == "dual") p->set_cache(v1::CACHE_MODE_DUAL);
    else return absl::InvalidArgumentError(absl::StrCat("--cache must be none, prefix or dual, got '", c, "'"));
  }
  p->set_stop_after_eos_block(args.flag("stop-after-eos-block"));
  if (args.has("policy")) r->set_policy(args.get("policy"));
  if (args.has("chunk-mode")) r->mutable_prefilling()->set_chunk_mode(args.get("chunk-mode"));
  if (args.has("token-select")) r->mutable_prefilling()->set_token_select(args.get("token-select"));
  if (args.has("chunk-bos")) {
    absl::StatusOr<bool> on = parse_on_off("--chunk-bos", args.get("chunk-bos"));
    if (!on.ok()) return on.status();
    r->mutable_prefilling()->set_chunk_bos(*on);
  }
  if (args.has("refresh")) r->mutable_focus()->set_refresh(args.get("refresh"));
  return absl::OkStatus();
}

}  // namespace

int run_client(int argc, char** argv) {
  const auto& specs = client_specs();
  CliArgs parsed;
  if (std::optional<int> exit = parse_command_args(argc, argv, "client", specs, &parsed)) return *exit;
  const CliArgs& args = parsed;
  if (args.has("prompt") == args.has("prompt-ids"))
    return report_error(absl::InvalidArgumentError("give exactly one of --prompt and --prompt-ids"));
  v1::GenerateRequest request;
  request.set_request_id(args.get("request-id", ""));
  request.set_model(args.get("model-name", ""));
  if (args.has("prompt-ids")) {
    absl::StatusOr<std::vector<int32_t>> ids = parse_id_list(args.get("prompt-ids"));
    if (!ids.ok()) return report_error(ids.status());
    request.mutable_ids()->mutable_ids()->Add(ids->begin(), ids->end());
  } else {
    request.set_text(args.get("prompt"));
  }
  request.set_chat(args.flag("chat"));
  request.set_system(args.get("system", ""));
  if (args.has("context") || args.has("context-file")) {
    absl::StatusOr<std::string> context = read_context(args);
    if (!context.ok()) return report_error(context.status());
    request.set_context(*context);
  }
  if (absl::Status st = fill_request(args, &request); !st.ok()) return report_error(st);
  absl::StatusOr<int> deadline_ms = args.get_int("deadline-ms", 0);
  if (!deadline_ms.ok()) return report_error(deadline_ms.status());
  absl::StatusOr<wire::ChannelSecurity> dialer =
      wire::ChannelSecurity::create({.ca_file = args.get("tls-ca"),
                                     .cert_file = args.get("tls-client-cert"),
                                     .key_file = args.get("tls-client-key"),
                                     .server_name = args.get("tls-server-name"),
                                     .tls = args.flag("tls")});
  if (!dialer.ok()) return report_error(dialer.status());
  std::string token;
  if (args.has("auth-token-file")) {
    absl::StatusOr<std::string> t =
        wire::read_token_file("--auth-token-file", args.get("auth-token-file"));
    if (!t.ok()) return report_error(t.status());
    token = std::move(*t);
  }

  auto stub = v1::Generation::NewStub(dialer->dial(args.get("router", "127.0.0.1:50051")));
  grpc::ClientContext ctx;
  if (!token.empty()) ctx.AddMetadata(wire::kAuthorizationKey, wire::bearer_header(token));
  if (*deadline_ms > 0)
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(*deadline_ms));
  std::unique_ptr<grpc::ClientReader<v1::GenerateResponse>> stream = stub->Generate(&ctx, request);
  const bool quiet = args.flag("quiet");
  v1::GenerateResponse response;
  std::optional<v1::GenerationDone> done;
  while (stream->Read(&response)) {
    if (response.has_block() && !quiet) {
      std::fputs(response.block().text().c_str(), stdout);
      std::fflush(stdout);
    }
    if (response.has_done()) done = response.done();
  }
  const grpc::Status st = stream->Finish();
  if (!st.ok()) {
    if (!quiet) std::fputs("\n", stdout);
    return report_error(absl::Status(static_cast<absl::StatusCode>(st.error_code()),
                                     absl::StrCat("the router answered ", st.error_message())));
  }
  if (!done) return report_error(absl::InternalError("the stream ended without a result"));
  if (quiet) std::fputs(done->text().c_str(), stdout);
  std::fputs("\n", stdout);
  const v1::Timings& t = done->timings();
  std::fprintf(stderr,
               "dllm: %d prompt + %d generated tokens; first block %.3f s, total %.3f s "
               "(queued %.3f s)\n",
               done->usage().prompt_tokens(), done->usage().generated_tokens(),
               t.first_block_seconds(), t.total_seconds(), t.queue_seconds());
  if (args.flag("print-ids")) std::printf("%s\n", absl::StrJoin(done->ids(), ",").c_str());
  return 0;
}

}  // namespace dllm::cli

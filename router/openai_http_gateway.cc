// Routes HTTP requests to the Generation service and writes its answers back as OpenAI JSON or
// Server-Sent Events; a client that hangs up cancels the gRPC call.
#include "router/openai_http_gateway.h"

#include <atomic>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "common/http/http_server.h"
#include "dllm/v1/generation.grpc.pb.h"
#include "grpcpp/client_context.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "proto/wire/bearer_token.h"
#include "router/openai_gateway.h"

namespace dllm::router {
namespace {

using http::HttpRequest;
using http::HttpResponder;
using http::HttpServer;
using http::HttpServerOptions;
using openai::Endpoint;
using Headers = std::vector<std::pair<std::string, std::string>>;

constexpr char kJson[] = "application/json";
constexpr absl::string_view kModelPath = "/v1/models/";  // + a model's id

// Cancels `context` as soon as the HTTP client hangs up, until destroyed.
class CancelOnHangUp {
 public:
  CancelOnHangUp(const HttpResponder& responder, grpc::ClientContext* context)
      : watcher_([this, &responder, context] {
          while (!finished_.load()) {
            if (responder.client_gone(std::chrono::milliseconds(100))) {
              context->TryCancel();
              return;
            }
          }
        }) {}
  ~CancelOnHangUp() {
    finished_.store(true);
    watcher_.join();
  }
  CancelOnHangUp(const CancelOnHangUp&) = delete;
  CancelOnHangUp& operator=(const CancelOnHangUp&) = delete;

 private:
  std::atomic<bool> finished_{false};
  std::thread watcher_;
};

void respond_error(HttpResponder& responder, int status, std::string_view message,
                   std::string_view code, const Headers& headers = {}) {
  responder.respond(status, kJson, openai::error_body(status, message, code), headers);
}

void respond_grpc_error(HttpResponder& responder, const grpc::Status& status,
                        Headers headers = {}) {
  if (status.error_code() == grpc::StatusCode::UNAUTHENTICATED)
    headers.emplace_back("WWW-Authenticate", "Bearer");  // RFC 6750
  respond_error(responder, openai::http_status(status.error_code()), status.error_message(),
                openai::grpc_code_name(status.error_code()), headers);
}

// The client's credentials go on to the router, which checks them. A value gRPC metadata cannot
// carry (not printable ASCII) is dropped: the router then answers as for a missing header.
void pass_authorization(const HttpRequest& http, grpc::ClientContext* context) {
  const std::string value = http.header(wire::kAuthorizationKey);
  if (value.empty()) return;
  for (char c : value)
    if (c < ' ' || c > '~') return;
  context->AddMetadata(wire::kAuthorizationKey, value);
}

int64_t unix_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

class Gateway final : public OpenAiGateway {
 public:
  Gateway(std::shared_ptr<grpc::Channel> channel, OpenAiGatewayOptions options)
      : options_(options), stub_(v1::Generation::NewStub(channel)) {}
  ~Gateway() override { stop(); }

  absl::Status listen(const std::string& address) {
    HttpServerOptions http;
    http.max_body_bytes = options_.max_body_bytes;
    http.max_connections = options_.max_connections;
    http.idle_timeout = options_.idle_timeout;
    http.error_body = [](int status, const std::string& message) {
      return std::make_pair(std::string(kJson), openai::error_body(status, message, ""));
    };
    absl::StatusOr<std::unique_ptr<HttpServer>> server = HttpServer::start(
        address, std::move(http), [this](const HttpRequest& request, HttpResponder& responder) {
          handle(request, responder);
        });
    if (!server.ok()) return server.status();
    server_ = std::move(*server);
    return absl::OkStatus();
  }

  const std::string& address() const override { return server_->address(); }
  void stop() override {
    if (server_) server_->stop();
  }

 private:
  void handle(const HttpRequest& request, HttpResponder& responder) {
    const std::string& path = request.path;
    auto allow_only = [&](const char* method) {
      if (request.method == method) return true;
      respond_error(responder, 405,
                    request.method + " is not allowed on " + path + "; use " + method,
                    "method_not_allowed", {{"Allow", method}});
      return false;
    };
    if (path == "/v1/models") {
      if (allow_only("GET")) list_models(request, responder, "");
    } else if (absl::StartsWith(path, kModelPath) && path.size() > kModelPath.size()) {
      if (allow_only("GET")) list_models(request, responder, path.substr(kModelPath.size()));
    } else if (path == "/v1/completions") {
      if (allow_only("POST")) generate(Endpoint::kCompletions, request, responder);
    } else if (path == "/v1/chat/completions") {
      if (allow_only("POST")) generate(Endpoint::kChatCompletions, request, responder);
    } else {
      respond_error(responder, 404, "no such endpoint: " + path, "not_found");
    }
  }

  grpc::Status call_list_models(const HttpRequest& http, v1::ListModelsResponse* models) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    pass_authorization(http, &context);
    return stub_->ListModels(&context, v1::ListModelsRequest(), models);
  }

  // All models, or the one named `id` (404 when unknown).
  void list_models(const HttpRequest& http, HttpResponder& responder, const std::string& id) {
    v1::ListModelsResponse models;
    if (grpc::Status st = call_list_models(http, &models); !st.ok())
      return respond_grpc_error(responder, st);
    if (id.empty()) {
      responder.respond(200, kJson, openai::models_body(models));
      return;
    }
    for (const v1::ModelInfo& m : models.models())
      if (m.name() == id) return (void)responder.respond(200, kJson, openai::model_body(m));
    respond_error(responder, 404, "unknown model '" + id + "'", "model_not_found");
  }

  // The name to report: the one asked for, else the server's default (asked once).
  std::string model_name(const HttpRequest& http, const std::string& asked) {
    if (!asked.empty()) return asked;
    std::lock_guard<std::mutex> lock(mu_);
    if (default_model_.empty()) {
      v1::ListModelsResponse models;
      if (call_list_models(http, &models).ok() && models.models_size() > 0)
        default_model_ = models.models(0).name();
    }
    return default_model_;
  }

  void generate(Endpoint endpoint, const HttpRequest& http, HttpResponder& responder) {
    absl::StatusOr<openai::ParsedRequest> parsed = openai::parse_request(endpoint, http.body);
    if (!parsed.ok())
      return respond_error(responder, 400, std::string(parsed.status().message()),
                           "invalid_request");
    if (std::string id = http.header("x-request-id"); !id.empty())
      parsed->generate.set_request_id(std::move(id));
    const int64_t created = unix_seconds();
    grpc::ClientContext context;
    if (options_.request_timeout.count() > 0)
      context.set_deadline(std::chrono::system_clock::now() + options_.request_timeout);
    pass_authorization(http, &context);
    const CancelOnHangUp cancel_on_hang_up(responder, &context);
    std::unique_ptr<grpc::ClientReader<v1::GenerateResponse>> reader =
        stub_->Generate(&context, parsed->generate);
    v1::GenerateResponse message;
    // The first message (or the error) decides the HTTP status.
    if (!reader->Read(&message)) {
      const grpc::Status st = reader->Finish();
      if (st.ok()) return respond_error(responder, 500, "the answer stream was empty", "internal");
      return respond_grpc_error(responder, st);
    }
    const openai::ResponseMeta meta = openai::make_meta(
        endpoint, message.request_id(), model_name(http, parsed->generate.model()), created);
    const Headers headers = {{"X-Request-Id", message.request_id()}};
    if (parsed->stream) {
      stream(endpoint, *parsed, meta, headers, &context, reader.get(), &message, responder);
      return;
    }
    std::string last_block_text;
    std::optional<v1::GenerationDone> done;
    do {
      if (message.has_block()) last_block_text = message.block().text();
      if (message.has_done()) done = message.done();
    } while (reader->Read(&message));
    const grpc::Status st = reader->Finish();
    if (!st.ok()) return respond_grpc_error(responder, st, headers);
    if (!done) return respond_error(responder, 500, "the answer stream ended early", "internal");
    responder.respond(200, kJson,
                      openai::completion_body(endpoint, meta, *done,
                                              openai::finish_reason(*done, last_block_text)),
                      headers);
  }

  // Streams `message` and the rest of `reader` as Server-Sent Events.
  void stream(Endpoint endpoint, const openai::ParsedRequest& request,
              const openai::ResponseMeta& meta, const Headers& headers,
              grpc::ClientContext* context, grpc::ClientReader<v1::GenerateResponse>* reader,
              v1::GenerateResponse* message, HttpResponder& responder) {
    Headers sse_headers = headers;
    sse_headers.emplace_back("Cache-Control", "no-cache");
    bool writing = responder.start_stream(200, "text/event-stream", sse_headers);
    if (writing && endpoint == Endpoint::kChatCompletions)
      writing = responder.write(openai::role_event(meta));
    openai::StreamedAnswer answer;
    std::string last_block_text;
    bool finished = false;
    do {
      if (!writing) break;
      if (message->has_block()) {
        last_block_text = message->block().text();
        const std::string text = answer.on_block(last_block_text);
        if (!text.empty()) writing = responder.write(openai::text_event(endpoint, meta, text));
      } else if (message->has_done()) {
        const v1::GenerationDone& done = message->done();
        const std::string rest = answer.on_done(done.text());
        std::string events;
        if (!rest.empty()) events += openai::text_event(endpoint, meta, rest);
        events +=
            openai::finish_event(endpoint, meta, openai::finish_reason(done, last_block_text));
        if (request.include_usage) events += openai::usage_event(endpoint, meta, done);
        events += openai::kDoneEvent;
        writing = responder.write(events);
        finished = true;
      }
    } while (reader->Read(message));
    if (!writing) context->TryCancel();  // nobody reads what is left
    while (reader->Read(message)) {
    }
    const grpc::Status st = reader->Finish();
    if (writing && !st.ok()) {
      responder.write(openai::error_event(openai::http_status(st.error_code()), st.error_message(),
                                          openai::grpc_code_name(st.error_code())));
    } else if (writing && !finished) {
      responder.write(openai::error_event(500, "the answer stream ended early", "internal"));
    }
    responder.end_stream();
  }

  const OpenAiGatewayOptions options_;
  const std::unique_ptr<v1::Generation::Stub> stub_;
  std::unique_ptr<HttpServer> server_;
  std::mutex mu_;
  std::string default_model_;  // guarded by mu_
};

}  // namespace

absl::StatusOr<std::unique_ptr<OpenAiGateway>> start_openai_gateway(const std::string& listen,
                                                                    const std::string& grpc_target,
                                                                    OpenAiGatewayOptions options) {
  return start_openai_gateway(
      listen, grpc::CreateChannel(grpc_target, grpc::InsecureChannelCredentials()), options);
}

absl::StatusOr<std::unique_ptr<OpenAiGateway>> start_openai_gateway(
    const std::string& listen, std::shared_ptr<grpc::Channel> channel,
    OpenAiGatewayOptions options) {
  auto gateway = std::make_unique<Gateway>(std::move(channel), options);
  if (absl::Status st = gateway->listen(listen); !st.ok()) return st;
  return std::unique_ptr<OpenAiGateway>(std::move(gateway));
}

}  // namespace dllm::router

// `dllm serve --role all|router|prefill|decode` (and the `router`, `prefill_node`, `decode_node`
// executables, which are this with the role fixed): one gRPC server hosting the role's services.
// `all` hosts the router and both nodes in one process, talking to each other over the same
// loopback gRPC as separate processes do (K/V over the in-process transport).
#include <pthread.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <condition_variable>
#include <functional>
#include <optional>
#include <thread>

#include "absl/strings/str_cat.h"
#include "common/logging/event_log.h"
#include "common/metrics/metrics_exposer.h"
#include "common/metrics/serving_metrics.h"
#include "common/pipeline/served_model.h"
#include "common/sparse/sparse_policy.h"
#include "common/transfer/transport.h"
#include "decode_node/decode_service.h"
#include "grpcpp/health_check_service_interface.h"
#include "grpcpp/resource_quota.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server_builder.h"
#include "prefill_node/prefill_service.h"
#include "proto/wire/bearer_token.h"
#include "proto/wire/node_registration.h"
#include "proto/wire/tls_config.h"
#include "router/generation_router.h"
#include "router/openai_http_gateway.h"
#include "router/registry_service.h"
#include "tools/dllm/commands.h"
#include "tools/dllm/engine_options.h"

namespace dllm::cli {
namespace {

const std::vector<OptionSpec>& serve_specs() {
  static const std::vector<OptionSpec> specs = {
      {"role", true, "all (default: every role in this process) | router | prefill | decode"},
      {"model", true, "checkpoint directory (config.json, safetensors, tokenizer)"},
      {"listen", true,
       "HOST:PORT to serve gRPC on (port 0 picks a free one; default 127.0.0.1:50051 for "
       "router/all, 127.0.0.1:0 for nodes)"},
      {"router", true, "prefill/decode: the router's HOST:PORT to register with"},
      {"metrics-listen", true, "HOST:PORT to serve Prometheus /metrics on (default: off)"},
      {"http-listen", true,
       "router: HOST:PORT for the OpenAI-compatible HTTP API (/v1/completions, "
       "/v1/chat/completions, /v1/models; default: off)"},
      {"policy", true, "router: the policy of requests that name none (default dense)"},
      {"node-id", true, "prefill/decode: this node's name (default ROLE-PID)"},
      {"transport", true,
       "prefill: how decode nodes pull K/V: ucx (default) | cuda_ipc (one host, GPU memory) | "
       "nccl (one host, prefill and decode on different GPUs) | local (all: local)"},
      {"ucx-tls", true, "UCX transports for K/V (default tcp)"},
      {"fault-drop-probability", true,
       "fault drills: this fraction of K/V pulls fail as if the link dropped (default 0)"},
      {"max-prompt-tokens", true, "router: longest prompt a request may send (default 8192)"},
      {"max-gen-length", true, "router: largest gen_length a request may ask for (default 4096)"},
      {"max-request-bytes", true, "router: largest GenerateRequest in bytes (default 4194304)"},
      {"max-inflight", true, "router: requests in flight before RESOURCE_EXHAUSTED (default 256)"},
      {"max-attempts", true, "router: placements per request, retries on node failure (default 4)"},
      {"node-timeout-ms", true, "router: a node silent this long leaves placement (default 2000)"},
      {"heartbeat-ms", true, "router: heartbeat period asked of nodes (default 500)"},
      {"max-waiting", true, "prefill/decode: requests queued for the model (default 64)"},
      {"kv-lease-ms", true, "prefill: exported K/V is freed if not released within (default 30000)"},
      {"chunk-cache-pages", true, "prefill: K/V pages the chunk cache keeps (default 4096)"},
      {"pull-timeout-ms", true, "decode: K/V pull timeout (default 10000)"},
      {"max-concurrent-streams", true,
       "RPCs this process serves at once (each holds a server thread); more are "
       "RESOURCE_EXHAUSTED at once (default 1024; health checks are not counted)"},
      {"tls-cert", true, "serve gRPC over TLS with this PEM certificate chain (with --tls-key)"},
      {"tls-key", true, "the PEM private key of --tls-cert"},
      {"tls-ca", true,
       "PEM CA that the router's and nodes' certificates chain to: verifies the servers this "
       "process calls and the client certificates presented to it"},
      {"tls-require-client-cert", false,
       "internal services (node registration, prefill, decode) answer only peers presenting a "
       "client certificate signed by --tls-ca (mutual TLS); the public API and health stay open "
       "to TLS clients"},
      {"tls-client-cert", true,
       "PEM certificate this process presents when it calls the router or nodes (mutual TLS)"},
      {"tls-client-key", true, "the PEM private key of --tls-client-cert"},
      {"tls-server-name", true,
       "the name the router's and nodes' certificates carry, when it is not the host dialed"},
      {"auth-token-file", true,
       "router: the public API (gRPC and --http-listen) needs 'authorization: Bearer TOKEN', "
       "TOKEN being this file's content"},
      kKvPoolOption,
      kKvPageOption,
      kThreadsOption,
      kDeviceOption,
      {"log-level", true, "structured log lines at or above: debug | info (default) | warn | error | off"},
      kConfigOption,
      kHelpOption};
  return specs;
}

struct IntFlags {
  int max_prompt, max_gen, max_inflight, max_attempts, node_timeout_ms, heartbeat_ms, max_waiting,
      lease_ms, pull_timeout_ms, threads, max_request_bytes, max_streams;
  int64_t chunk_cache_pages;
};

absl::StatusOr<IntFlags> read_int_flags(const CliArgs& args) {
  IntFlags f{};
  struct Spec {
    const char* name;
    int fallback;
    int min;
    int* out;
  };
  int chunk_pages = 0;
  for (const Spec& s : {Spec{"max-prompt-tokens", 8192, 1, &f.max_prompt},
                        Spec{"max-gen-length", 4096, 1, &f.max_gen},
                        Spec{"max-request-bytes", 4 << 20, 1024, &f.max_request_bytes},
                        Spec{"max-inflight", 256, 1, &f.max_inflight},
                        Spec{"max-attempts", 4, 1, &f.max_attempts},
                        Spec{"node-timeout-ms", 2000, 100, &f.node_timeout_ms},
                        Spec{"heartbeat-ms", 500, 10, &f.heartbeat_ms},
                        Spec{"max-waiting", 64, 1, &f.max_waiting},
                        Spec{"kv-lease-ms", 30000, 100, &f.lease_ms},
                        Spec{"pull-timeout-ms", 10000, 10, &f.pull_timeout_ms},
                        Spec{"max-concurrent-streams", 1024, 1, &f.max_streams},
                        Spec{"chunk-cache-pages", 4096, 0, &chunk_pages},
                        Spec{"threads", 0, 0, &f.threads}}) {
    absl::StatusOr<int> v = args.get_int(s.name, s.fallback);
    if (!v.ok()) return v.status();
    if (*v < s.min)
      return absl::InvalidArgumentError(absl::StrCat("--", s.name, " must be >= ", s.min));
    *s.out = *v;
  }
  f.chunk_cache_pages = chunk_pages;
  return f;
}

// Transport security and the public API's token, from the --tls-* and --auth-token-file flags.
struct Security {
  std::shared_ptr<grpc::ServerCredentials> server;  // this process's port
  wire::ChannelSecurity dialer;                     // its calls to the router and nodes
  std::string api_token;                            // router: empty = open API
};

absl::StatusOr<Security> read_security(const CliArgs& args, bool routes) {
  Security s;
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> server =
      wire::make_server_credentials({.cert_file = args.get("tls-cert"),
                                     .key_file = args.get("tls-key"),
                                     .ca_file = args.get("tls-ca"),
                                     .require_client_cert = args.flag("tls-require-client-cert")});
  if (!server.ok()) return server.status();
  s.server = std::move(*server);
  // A cluster is TLS as a whole: a process that serves TLS dials TLS too.
  absl::StatusOr<wire::ChannelSecurity> dialer =
      wire::ChannelSecurity::create({.ca_file = args.get("tls-ca"),
                                     .cert_file = args.get("tls-client-cert"),
                                     .key_file = args.get("tls-client-key"),
                                     .server_name = args.get("tls-server-name"),
                                     .tls = args.has("tls-cert")});
  if (!dialer.ok()) return dialer.status();
  s.dialer = std::move(*dialer);
  if (args.has("auth-token-file")) {
    if (!routes)
      return absl::InvalidArgumentError(
          "--auth-token-file is for --role router or all (the router guards the public API)");
    absl::StatusOr<std::string> token =
        wire::read_token_file("--auth-token-file", args.get("auth-token-file"));
    if (!token.ok()) return token.status();
    s.api_token = std::move(*token);
    if (!args.has("tls-cert"))
      std::fprintf(stderr,
                   "dllm: warning: --auth-token-file without --tls-cert: clients send the token "
                   "in clear text\n");
  }
  return s;
}

sigset_t block_shutdown_signals() {
  // Blocked before gRPC starts its threads, so that only sigwait sees them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  return signals;
}

// Keeps the gauges (running / waiting requests, K/V pool, node health) current: they are
// sampled, not pushed on every change.
class GaugeRefresher {
 public:
  explicit GaugeRefresher(std::function<void()> refresh) : refresh_(std::move(refresh)) {
    thread_ = std::thread([this] {
      std::unique_lock<std::mutex> lock(mu_);
      while (!stopping_) {
        lock.unlock();
        refresh_();
        lock.lock();
        wake_.wait_for(lock, std::chrono::milliseconds(500), [this] { return stopping_; });
      }
    });
  }
  ~GaugeRefresher() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
    }
    wake_.notify_all();
    thread_.join();
  }

 private:
  std::function<void()> refresh_;
  std::mutex mu_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;
};

// Everything one serving process holds; destroyed in reverse order of declaration.
struct ServingProcess {
  // One catalogue per role hosted (so `--role all` still labels each series by its role).
  std::unique_ptr<metrics::ServingMetrics> router_metrics, prefill_metrics, decode_metrics;
  std::unique_ptr<metrics::MetricsExposer> exposer;
  std::unique_ptr<ServedModel> engine_model;  // prefill/decode/all
  std::unique_ptr<transfer::Transport> transport;
  std::unique_ptr<router::NodeRegistry> registry;
  std::unique_ptr<router::GenerationRouter> generation;
  std::unique_ptr<router::RegistryService> registry_service;
  std::unique_ptr<prefill::PrefillService> prefill;
  std::unique_ptr<decode::DecodeService> decode;
  std::unique_ptr<grpc::Server> server;
  std::unique_ptr<router::OpenAiGateway> http;  // a client of `server`: stopped before it
  std::vector<std::unique_ptr<wire::NodeRegistration>> registrations;
  std::unique_ptr<GaugeRefresher> gauges;  // last: stops first
};

// Creates the role's catalogue and puts its registry on the exposer.
absl::Status add_metrics(std::unique_ptr<metrics::MetricsExposer>& exposer,
                         const std::string& listen, const char* role, const std::string& node,
                         std::unique_ptr<metrics::ServingMetrics>* out) {
  absl::StatusOr<std::unique_ptr<metrics::ServingMetrics>> m =
      metrics::ServingMetrics::create(role, node);
  if (!m.ok()) return m.status();
  if (exposer == nullptr) {
    absl::StatusOr<std::unique_ptr<metrics::MetricsExposer>> e =
        metrics::MetricsExposer::start(listen, (*m)->registry());
    if (!e.ok()) return e.status();
    exposer = std::move(*e);
  } else {
    exposer->add((*m)->registry());
  }
  *out = std::move(*m);
  return absl::OkStatus();
}

}  // namespace

int run_serve(int argc, char** argv) {
  const auto& specs = serve_specs();
  CliArgs parsed;
  if (std::optional<int> exit = parse_command_args(argc, argv, "serve", specs, &parsed)) return *exit;
  const CliArgs& args = parsed;
  const std::string role = args.get("role", "all");
  if (role != "all" && role != "router" && role != "prefill" && role != "decode")
    return report_error(absl::InvalidArgumentError(
        absl::StrCat("--role must be all, router, prefill or decode, got '", role, "'")));
  const bool routes = role == "all" || role == "router";
  const bool prefills = role == "all" || role == "prefill";
  const bool decodes = role == "all" || role == "decode";
  if (!args.has("model")) return report_error(absl::InvalidArgumentError("--model is required"));
  if ((role == "prefill" || role == "decode") && !args.has("router"))
    return report_error(absl::InvalidArgumentError(
        absl::StrCat("--role ", role, " needs --router HOST:PORT to register with")));
  absl::StatusOr<IntFlags> flags = read_int_flags(args);
  if (!flags.ok()) return report_error(flags.status());
  const std::string listen = args.get("listen", routes ? "127.0.0.1:50051" : "127.0.0.1:0");
  const size_t colon = listen.rfind(':');
  if (colon == std::string::npos || colon == 0)
    return report_error(
        absl::InvalidArgumentError(absl::StrCat("--listen must be HOST:PORT, got '", listen, "'")));
  const std::string transport_name =
      args.get("transport", role == "all" ? "local" : "ucx");
  transfer::TransportOptions transport_options;
  transport_options.ucx_tls = args.get("ucx-tls", transport_options.ucx_tls);
  // nccl: the prefill side's control server listens on the --listen host (a wildcard there is
  // advertised as loopback), and both sides use the GPU of --device.
  std::string listen_host = listen.substr(0, colon);
  if (listen_host.size() > 2 && listen_host.front() == '[' && listen_host.back() == ']')
    listen_host = listen_host.substr(1, listen_host.size() - 2);  // [::1] → ::1
  transport_options.nccl_control_host = listen_host;
  if (const std::string device = args.get("device", "cpu"); device == "cuda")
    transport_options.nccl_device = 0;
  else if (device.rfind("cuda:", 0) == 0)
    transport_options.nccl_device = std::atoi(device.c_str() + 5);
  absl::StatusOr<double> drop = args.get_double("fault-drop-probability", 0.0);
  if (!drop.ok()) return report_error(drop.status());
  if (*drop < 0.0 || *drop > 1.0)
    return report_error(absl::InvalidArgumentError("--fault-drop-probability must be in [0, 1]"));
  transport_options.fault_drop_probability = *drop;
  transport_options.fault_seed = static_cast<uint64_t>(getpid());
  absl::StatusOr<TransformerOptions> engine = transformer_options(args);
  if (!engine.ok()) return report_error(engine.status());
  absl::StatusOr<Security> security = read_security(args, routes);
  if (!security.ok()) return report_error(security.status());

  const sigset_t shutdown_signals = block_shutdown_signals();
  ServingProcess p;
  const std::string dir = args.get("model");
  const std::string node_id = args.get("node-id", absl::StrCat(role, "-", getpid()));
  logging::Level log_level = logging::Level::kInfo;
  if (absl::Status st = logging::parse_level(args.get("log-level", "info"), &log_level); !st.ok())
    return report_error(st);
  logging::init(role, node_id, log_level);
  if (prefills || decodes) {
    // --device cpu (default) | cuda[:N]: the backend the nodes run the model on.
    absl::StatusOr<std::unique_ptr<kernels::Backend>> backend = make_backend(args);
    if (!backend.ok()) return report_error(backend.status());
    absl::StatusOr<std::unique_ptr<ServedModel>> m = ServedModel::load(
        dir, ServedModelOptions{.load_weights = true, .threads = flags->threads, .engine = *engine},
        std::move(*backend));
    if (!m.ok()) return report_error(m.status());
    p.engine_model = std::move(*m);
  }
  if (routes) {
    absl::StatusOr<std::unique_ptr<ServedModel>> m =
        ServedModel::load(dir, ServedModelOptions{.load_weights = false});
    if (!m.ok()) return report_error(m.status());
    p.registry = std::make_unique<router::NodeRegistry>(
        std::chrono::milliseconds(flags->node_timeout_ms), security->dialer);
    const std::string model_name = (*m)->name();
    router::ServingLimits limits{.max_prompt_tokens = flags->max_prompt,
                                 .max_gen_length = flags->max_gen,
                                 .max_request_bytes = flags->max_request_bytes,
                                 .max_inflight = flags->max_inflight,
                                 .max_attempts = flags->max_attempts};
    p.generation =
        std::make_unique<router::GenerationRouter>(std::move(*m), p.registry.get(), limits);
    if (args.has("policy")) {
      if (absl::StatusOr<SparsePolicy> policy = parse_sparse_policy(args.get("policy"));
          !policy.ok())
        return report_error(policy.status());
      p.generation->set_default_policy(args.get("policy"));
    }
    p.generation->set_api_token(security->api_token);
    p.registry_service = std::make_unique<router::RegistryService>(
        p.registry.get(), model_name, flags->heartbeat_ms / 1000.0);
  }
  if (prefills) {
    absl::StatusOr<std::unique_ptr<transfer::Transport>> t =
        transfer::make_transport(transport_name, transport_options);
    if (!t.ok()) return report_error(t.status());
    p.transport = std::move(*t);
    p.prefill = std::make_unique<prefill::PrefillService>(
        p.engine_model.get(), p.transport.get(),
        prefill::PrefillServiceOptions{.node_id = role == "all" ? "prefill-local" : node_id,
                                       .max_waiting = flags->max_waiting,
                                       .chunk_cache_pages = flags->chunk_cache_pages,
                                       .lease = std::chrono::milliseconds(flags->lease_ms)});
  }
  if (decodes) {
    p.decode = std::make_unique<decode::DecodeService>(
        p.engine_model.get(),
        decode::DecodeServiceOptions{.node_id = role == "all" ? "decode-local" : node_id,
                                     .max_waiting = flags->max_waiting,
                                     .pull_timeout = absl::Milliseconds(flags->pull_timeout_ms),
                                     .transport = transport_options});
  }

  if (args.has("metrics-listen")) {
    const std::string listen_metrics = args.get("metrics-listen");
    struct Hosted {
      bool hosted;
      const char* role;
      std::string node;
      std::unique_ptr<metrics::ServingMetrics>* out;
    };
    for (const Hosted& h : {Hosted{routes, "router", role == "all" ? "router-local" : node_id,
                                   &p.router_metrics},
                            Hosted{prefills, "prefill", role == "all" ? "prefill-local" : node_id,
                                   &p.prefill_metrics},
                            Hosted{decodes, "decode", role == "all" ? "decode-local" : node_id,
                                   &p.decode_metrics}})
      if (h.hosted)
        if (absl::Status st = add_metrics(p.exposer, listen_metrics, h.role, h.node, h.out);
            !st.ok())
          return report_error(st);
    if (p.generation) p.generation->set_metrics(p.router_metrics.get());
    if (p.prefill) p.prefill->set_metrics(p.prefill_metrics.get());
    if (p.decode) p.decode->set_metrics(p.decode_metrics.get());
    p.gauges = std::make_unique<GaugeRefresher>([&p] {
      if (p.router_metrics) {
        const std::string& model = p.generation->model().name();
        p.router_metrics->running_requests(model).Set(p.generation->counters().inflight.load());
        for (const router::NodeSnapshot& n : p.registry->snapshot())
          p.router_metrics
              ->node_up(n.role == v1::NODE_ROLE_PREFILL ? "prefill" : "decode", n.id)
              .Set(n.alive ? 1 : 0);
      }
      for (auto [m, load] : {std::pair{p.prefill_metrics.get(),
                                       p.prefill ? std::optional(p.prefill->load()) : std::nullopt},
                             std::pair{p.decode_metrics.get(),
                                       p.decode ? std::optional(p.decode->load()) : std::nullopt}}) {
        if (m == nullptr || !load) continue;
        m->running_requests(p.engine_model->name()).Set(load->running());
        m->waiting_requests(p.engine_model->name()).Set(load->waiting());
        m->set_kv_pool(p.engine_model->kv_pool_stats());
      }
    });
    std::fprintf(stderr, "dllm: metrics on %s\n", p.exposer->address().c_str());
  }

  grpc::EnableDefaultHealthCheckService(true);
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(listen, security->server, &port);
  // Oversized requests reach the handler, which answers INVALID_ARGUMENT with the limit.
  builder.SetMaxReceiveMessageSize(std::max(64 << 20, 2 * flags->max_request_bytes));
  // Every call in progress holds a thread of the synchronous server; when none is left gRPC
  // answers RESOURCE_EXHAUSTED. One more than the limit: the thread that waits for the next call.
  grpc::ResourceQuota quota("dllm-serve");
  quota.SetMaxThreads(flags->max_streams + 1);
  builder.SetResourceQuota(quota);
  for (grpc::Service* s : std::initializer_list<grpc::Service*>{
           p.generation.get(), p.registry_service.get(), p.prefill.get(), p.decode.get()})
    if (s != nullptr) builder.RegisterService(s);
  p.server = builder.BuildAndStart();
  if (p.server == nullptr || port == 0)
    return report_error(absl::UnavailableError(absl::StrCat("cannot listen on ", listen)));
  const std::string address = absl::StrCat(listen.substr(0, colon), ":", port);
  if (routes && args.has("http-listen")) {
    // The gateway speaks gRPC to this process in-process: no TLS to its own port, and the same
    // Generation service (with its token check) as remote clients.
    absl::StatusOr<std::unique_ptr<router::OpenAiGateway>> gateway = router::start_openai_gateway(
        args.get("http-listen"), p.server->InProcessChannel(grpc::ChannelArguments()));
    if (!gateway.ok()) return report_error(gateway.status());
    p.http = std::move(*gateway);
    std::fprintf(stderr, "dllm: OpenAI HTTP on %s\n", p.http->address().c_str());
  }
  const std::string router_address = role == "all" ? address : args.get("router");
  const std::string model_name = p.engine_model ? p.engine_model->name() : "";
  auto register_node = [&](v1::NodeRole node_role, const std::string& id,
                           std::function<v1::NodeLoad()> load) {
    v1::RegisterRequest self;
    self.set_node_id(id);
    self.set_role(node_role);
    self.set_address(address);
    self.set_model(model_name);
    p.registrations.push_back(std::make_unique<wire::NodeRegistration>(
        router_address, self, std::move(load), security->dialer));
  };
  if (p.prefill)
    register_node(v1::NODE_ROLE_PREFILL, role == "all" ? "prefill-local" : node_id,
                  [svc = p.prefill.get()] { return svc->load(); });
  if (p.decode)
    register_node(v1::NODE_ROLE_DECODE, role == "all" ? "decode-local" : node_id,
                  [svc = p.decode.get()] { return svc->load(); });
  auto all_registered = [&] {
    for (const auto& r : p.registrations)
      if (!r->registered()) return false;
    return true;
  };
  // One process: ready once its own nodes are in its registry, so the first request finds them.
  if (role == "all")
    for (int i = 0; i < 500 && !all_registered(); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
  std::fprintf(stderr, "dllm: serving role %s on %s\n", role.c_str(), address.c_str());
  std::fflush(stderr);

  // Wait for a shutdown signal; meanwhile say when the nodes got registered (tests and
  // operators wait for that line).
  bool announced = p.registrations.empty();
  int signal = 0;
  const timespec tick{0, 50 * 1000 * 1000};
  while ((signal = sigtimedwait(&shutdown_signals, nullptr, &tick)) < 0) {
    if (!announced && all_registered()) {
      std::fprintf(stderr, "dllm: registered with router %s as %s\n", router_address.c_str(),
                   role == "all" ? "prefill-local, decode-local" : node_id.c_str());
      std::fflush(stderr);
      announced = true;
    }
  }
  std::fprintf(stderr, "dllm: signal %d, shutting down\n", signal);
  p.registrations.clear();  // stop heartbeating first: the router stops placing work here
  if (p.http) p.http->stop();
  p.server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
  p.server->Wait();
  return 0;
}

int run_serve_as(const char* role, int argc, char** argv) {
  // `prefill_node ARGS` = `dllm serve --role prefill ARGS`.
  std::vector<std::string> storage = {argv[0], "serve", "--role", role};
  for (int i = 1; i < argc; ++i) storage.push_back(argv[i]);
  std::vector<char*> shifted;
  for (std::string& s : storage) shifted.push_back(s.data());
  shifted.push_back(nullptr);
  return run_serve(static_cast<int>(storage.size()), shifted.data());
}

}  // namespace dllm::cli

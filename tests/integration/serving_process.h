// Real serving processes for integration tests: `dllm serve` children on loopback (port 0, the
// bound address read from their stderr), a cluster of router + prefill + decode nodes, and the
// reference answer of `dllm generate`.
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_split.h"
#include "dllm/v1/generation.grpc.pb.h"
#include "dllm/v1/node.grpc.pb.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"

namespace dllm::testing_serve {

inline const std::string kDllm = std::string(DLLM_BINARY_DIR) + "/bin/dllm";
inline const std::string kModel = std::string(DLLM_SOURCE_DIR) + "/models/llada-tiny";

// A child process whose stderr is collected; SIGTERM (then reaped) when destroyed.
class ServingProcess {
 public:
  explicit ServingProcess(std::vector<std::string> args) {
    int fds[2];
    if (pipe(fds) != 0) return;
    pid_ = fork();
    if (pid_ == 0) {
      dup2(fds[1], STDERR_FILENO);
      close(fds[0]);
      close(fds[1]);
      std::vector<char*> argv;
      for (std::string& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      execv(argv[0], argv.data());
      _exit(127);
    }
    close(fds[1]);
    stderr_fd_ = fds[0];
    reader_ = std::thread([this] {
      char buf[4096];
      ssize_t n;
      while ((n = read(stderr_fd_, buf, sizeof buf)) > 0) {
        std::lock_guard<std::mutex> lock(mu_);
        log_.append(buf, static_cast<size_t>(n));
      }
    });
    address_ = wait_for_line_after("serving role ", std::chrono::seconds(20));
    const size_t on = address_.find(" on ");
    address_ = on == std::string::npos ? "" : address_.substr(on + 4);
  }
  ~ServingProcess() {
    if (pid_ > 0 && !reaped_) {
      ::kill(pid_, SIGTERM);
      int status = 0;
      waitpid(pid_, &status, 0);
    }
    if (reader_.joinable()) reader_.join();
    if (stderr_fd_ >= 0) close(stderr_fd_);
  }
  ServingProcess(const ServingProcess&) = delete;
  ServingProcess& operator=(const ServingProcess&) = delete;

  const std::string& address() const { return address_; }
  pid_t pid() const { return pid_; }
  std::string log() const {
    std::lock_guard<std::mutex> lock(mu_);
    return log_;
  }
  // kill -9, reaped.
  void kill_hard() {
    ::kill(pid_, SIGKILL);
    int status = 0;
    waitpid(pid_, &status, 0);
    reaped_ = true;
  }
  // The rest of the first stderr line containing `marker` (from the marker on), or "" on timeout.
  std::string wait_for_line_after(const std::string& marker, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      {
        std::lock_guard<std::mutex> lock(mu_);
        const size_t at = log_.find(marker);
        if (at != std::string::npos) {
          const size_t end = log_.find('\n', at);
          if (end != std::string::npos) return log_.substr(at + marker.size(), end - at - marker.size());
        }
      }
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        reaped_ = true;
        return "";
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return "";
  }

 private:
  pid_t pid_ = -1;
  bool reaped_ = false;
  int stderr_fd_ = -1;
  std::string address_;
  mutable std::mutex mu_;
  std::string log_;
  std::thread reader_;
};

// Router + prefill and decode nodes as separate processes (K/V over UCX tcp), each node
// registered before the constructor returns.
class Cluster {
 public:
  Cluster(int prefill_nodes, int decode_nodes, std::vector<std::string> router_flags = {},
          std::vector<std::string> node_flags = {}) {
    std::vector<std::string> args = {kDllm,    "serve",     "--role",      "router",
                                      "--model", kModel,      "--listen",    "127.0.0.1:0",
                                      "--node-timeout-ms", "1000", "--heartbeat-ms", "100"};
    args.insert(args.end(), router_flags.begin(), router_flags.end());
    router_ = std::make_unique<ServingProcess>(args);
    for (int i = 0; i < prefill_nodes; ++i) add_node("prefill", "prefill-" + std::to_string(i), node_flags);
    for (int i = 0; i < decode_nodes; ++i) add_node("decode", "decode-" + std::to_string(i), node_flags);
    channel_ = grpc::CreateChannel(router_->address(), grpc::InsecureChannelCredentials());
  }

  void add_node(const std::string& role, const std::string& id, const std::vector<std::string>& extra) {
    std::vector<std::string> args = {kDllm, "serve", "--role", role, "--model", kModel,
                                     "--listen", "127.0.0.1:0", "--router", router_->address(),
                                     "--node-id", id, "--threads", "1", "--kv-pool-mb", "64"};
    args.insert(args.end(), extra.begin(), extra.end());
    auto node = std::make_unique<ServingProcess>(args);
    registered_ok_ &= !node->address().empty() &&
                      !node->wait_for_line_after("registered with router", std::chrono::seconds(20)).empty();
    nodes_.push_back(std::move(node));
    ids_.push_back(id);
  }

  bool ok() const { return registered_ok_ && !router_->address().empty(); }
  ServingProcess& router() { return *router_; }
  ServingProcess& node(const std::string& id) {
    for (size_t i = 0; i < ids_.size(); ++i)
      if (ids_[i] == id) return *nodes_[i];
    return *nodes_.front();
  }
  std::string logs() const {
    std::string out = "--- router\n" + router_->log();
    for (size_t i = 0; i < nodes_.size(); ++i) out += "--- " + ids_[i] + "\n" + nodes_[i]->log();
    return out;
  }
  std::unique_ptr<v1::Generation::Stub> stub() { return v1::Generation::NewStub(channel_); }
  // The /metrics addresses of every process started with --metrics-listen.
  std::vector<std::string> metrics_addresses() {
    std::vector<std::string> out;
    auto add = [&](ServingProcess& p) {
      const std::string a = p.wait_for_line_after("metrics on ", std::chrono::seconds(1));
      if (!a.empty()) out.push_back(a);
    };
    add(*router_);
    for (auto& n : nodes_) add(*n);
    return out;
  }

 private:
  std::unique_ptr<ServingProcess> router_;
  std::vector<std::unique_ptr<ServingProcess>> nodes_;
  std::vector<std::string> ids_;
  bool registered_ok_ = true;
  std::shared_ptr<grpc::Channel> channel_;
};

// A node's load over its own gRPC API.
inline v1::NodeLoad node_load(const std::string& address, bool prefill) {
  auto channel = grpc::CreateChannel(address, grpc::InsecureChannelCredentials());
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  v1::NodeLoad load;
  if (prefill)
    v1::PrefillNode::NewStub(channel)->GetLoad(&ctx, v1::GetLoadRequest(), &load);
  else
    v1::DecodeNode::NewStub(channel)->GetLoad(&ctx, v1::GetLoadRequest(), &load);
  return load;
}

// Runs Generate to its end: the messages received and the final status.
inline grpc::Status generate(v1::Generation::Stub& stub, const v1::GenerateRequest& request,
                             std::vector<v1::GenerateResponse>* responses,
                             std::chrono::seconds timeout = std::chrono::seconds(60)) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + timeout);
  auto reader = stub.Generate(&context, request);
  v1::GenerateResponse response;
  while (reader->Read(&response)) responses->push_back(response);
  return reader->Finish();
}

// The last line `dllm generate ... --print-ids` prints.
inline std::string reference_ids(const std::string& flags) {
  const std::string cmd =
      kDllm + " generate --model " + kModel + " " + flags + " --print-ids --threads 1 2>/dev/null";
  FILE* pipe = popen(cmd.c_str(), "r");
  if (pipe == nullptr) return "";
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, pipe)) > 0) out.append(buf, n);
  pclose(pipe);
  std::vector<std::string> lines = absl::StrSplit(out, '\n', absl::SkipEmpty());
  return lines.empty() ? "" : lines.back();
}

}  // namespace dllm::testing_serve

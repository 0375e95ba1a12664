// The exposing side's control server (see the header and nccl_wire.h for the protocol).
#include "common/transfer/nccl_pull_server.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <random>

#include "absl/strings/str_cat.h"
#include "common/transfer/nccl_descriptor.h"
#include "common/transfer/pair_wait.h"

namespace dllm::transfer {
namespace {

// A puller sends its Hello at once; one that does not within this is not a puller.
constexpr auto kHelloTimeout = std::chrono::seconds(10);
constexpr uint64_t kMaxSetupMs = 10 * 60 * 1000;
// The exposer holds a region for a pull's timeout and this margin at most: a puller that went
// quiet without closing (stopped, wedged) cannot pin a region for ever.
constexpr auto kHoldMargin = std::chrono::seconds(2);

uint64_t random_nonzero() {
  std::random_device rd;
  for (;;) {
    const uint64_t v = (uint64_t{rd()} << 32) | rd();
    if (v != 0) return v;
  }
}

bool wildcard(const std::string& host) {
  return host.empty() || host == "0.0.0.0" || host == "::" || host == "[::]";
}

}  // namespace

absl::StatusOr<std::shared_ptr<NcclPullServer>> NcclPullServer::start(
    const TransportOptions& options, std::shared_ptr<PairChannelFactory> channels) {
  if (options.nccl_piece_bytes == 0 || options.nccl_piece_bytes > nccl_wire::kMaxPieceBytes)
    return absl::InvalidArgumentError(absl::StrCat("nccl_piece_bytes must be in [1, ",
                                                   nccl_wire::kMaxPieceBytes, "], got ",
                                                   options.nccl_piece_bytes));
  std::shared_ptr<NcclPullServer> s(new NcclPullServer());
  s->channels_ = std::move(channels);
  s->piece_bytes_ = options.nccl_piece_bytes;
  s->grace_ = options.nccl_unexpose_grace;
  s->instance_ = random_nonzero();
  // A wildcard is where we listen, not an address a puller can dial: on one multi-GPU host
  // (what the nccl back end is for) loopback is.
  s->advertised_host_ =
      wildcard(options.nccl_control_host) ? "127.0.0.1" : options.nccl_control_host;
  absl::StatusOr<UniqueFd> listener =
      listen_tcp(options.nccl_control_host, options.nccl_control_port, &s->port_);
  if (!listener.ok())
    return absl::Status(listener.status().code(),
                        absl::StrCat("nccl control server: ", listener.status().message()));
  s->listener_ = *std::move(listener);
  int wake[2];
  if (pipe2(wake, O_CLOEXEC) != 0) return absl::InternalError("nccl control server: pipe failed");
  s->wake_read_.reset(wake[0]);
  s->wake_write_.reset(wake[1]);
  s->acceptor_ = std::thread([raw = s.get()] { raw->accept_loop(); });
  return s;
}

NcclPullServer::~NcclPullServer() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  const char byte = 0;
  (void)!write(wake_write_.get(), &byte, 1);
  if (acceptor_.joinable()) acceptor_.join();
  std::list<std::unique_ptr<Connection>> all;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& c : connections_) cut_locked(c.get());
    all.swap(connections_);
  }
  for (auto& c : all)
    if (c->thread.joinable()) c->thread.join();
}

std::string NcclPullServer::expose(const void* data, size_t bytes, uint64_t* region) {
  std::lock_guard<std::mutex> lock(mu_);
  const uint64_t id = next_region_++;
  Region& r = regions_[id];
  r.base = static_cast<const uint8_t*>(data);
  r.size = bytes;
  *region = id;
  return encode_nccl_descriptor({.control_host = advertised_host_,
                                 .control_port = port_,
                                 .instance = instance_,
                                 .region = id,
                                 .size = bytes});
}

void NcclPullServer::unexpose(uint64_t region) {
  std::unique_lock<std::mutex> lock(mu_);
  auto it = regions_.find(region);
  if (it == regions_.end()) return;
  it->second.retiring = true;
  const auto idle = [&] { return it->second.holders.empty(); };
  if (!released_.wait_for(lock, absl::ToChronoNanoseconds(grace_), idle)) {
    for (Connection* c : it->second.holders) cut_locked(c);
    released_.wait(lock, idle);  // an aborted channel touches the region no more
  }
  regions_.erase(it);
}

void NcclPullServer::cut_locked(Connection* c) {
  c->cut.store(true);
  shutdown(c->fd.get(), SHUT_RDWR);  // wakes a thread blocked reading the next request
}

void NcclPullServer::reap_locked() {
  for (auto it = connections_.begin(); it != connections_.end();) {
    if ((*it)->finished.load()) {
      (*it)->thread.join();
      it = connections_.erase(it);
    } else {
      ++it;
    }
  }
}

void NcclPullServer::accept_loop() {
  for (;;) {
    pollfd fds[2] = {{.fd = listener_.get(), .events = POLLIN, .revents = 0},
                     {.fd = wake_read_.get(), .events = POLLIN, .revents = 0}};
    if (poll(fds, 2, -1) < 0 && errno != EINTR) return;
    if (fds[1].revents != 0) return;
    if ((fds[0].revents & POLLIN) == 0) continue;
    absl::StatusOr<UniqueFd> fd = accept_tcp(listener_.get(), SteadyClock::now());
    if (!fd.ok()) continue;
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return;
    reap_locked();
    auto c = std::make_unique<Connection>();
    c->fd = *std::move(fd);
    Connection* raw = c.get();
    connections_.push_back(std::move(c));
    raw->thread = std::thread([this, raw] {
      serve(*raw);
      raw->finished.store(true);
    });
  }
}

void NcclPullServer::serve(Connection& c) {
  nccl_wire::Hello hello;
  if (!recv_all(c.fd.get(), &hello, sizeof(hello), SteadyClock::now() + kHelloTimeout).ok()) return;
  if (hello.magic != nccl_wire::kMagic || hello.version != nccl_wire::kVersion) return;
  nccl_wire::HelloReply reply;
  if (hello.instance != instance_) {
    reply.code = nccl_wire::HelloCode::kWrongInstance;
    (void)send_all(c.fd.get(), &reply, sizeof(reply));
    return;
  }
  std::string bootstrap;
  absl::StatusOr<std::unique_ptr<PairChannel>> channel = channels_->create_first(&bootstrap);
  if (!channel.ok() || bootstrap.size() > nccl_wire::kMaxBootstrapBytes) {
    reply.code = nccl_wire::HelloCode::kSetupFailed;
    (void)send_all(c.fd.get(), &reply, sizeof(reply));
    return;
  }
  reply.bootstrap_bytes = static_cast<uint32_t>(bootstrap.size());
  if (!send_all(c.fd.get(), &reply, sizeof(reply)).ok() ||
      !send_all(c.fd.get(), bootstrap.data(), bootstrap.size()).ok())
    return;  // the channel's destructor aborts it
  const auto setup_deadline = SteadyClock::now() + std::chrono::milliseconds(std::clamp<uint64_t>(
                                                       hello.setup_timeout_ms, 1, kMaxSetupMs));
  PairChannel& ch = **channel;
  const PairWaitResult ready =
      wait_on_pair([&] { return ch.ready(); }, c.fd.get(), setup_deadline, c.cut);
  if (ready.outcome != PairWait::kDone) return;
  serve_pulls(c, ch);
}

void NcclPullServer::serve_pulls(Connection& c, PairChannel& channel) {
  for (;;) {
    nccl_wire::PullRequest r;
    if (!recv_all(c.fd.get(), &r, sizeof(r)).ok()) return;  // closed, or cut by shutdown
    nccl_wire::PullReply reply;
    reply.request_id = r.request_id;
    reply.piece_bytes = piece_bytes_;
    const uint8_t* base = nullptr;
    reply.code = acquire(r, &c, &base);
    if (!send_all(c.fd.get(), &reply, sizeof(reply)).ok()) {
      if (reply.code == nccl_wire::ReplyCode::kOk) release(r.region, &c);
      return;
    }
    if (reply.code != nccl_wire::ReplyCode::kOk) continue;
    bool started = true;
    for (uint64_t done = 0; done < r.bytes && started;) {
      const uint64_t n = std::min<uint64_t>(piece_bytes_, r.bytes - done);
      started = channel.start_send(base + r.offset + done, n).ok();
      done += n;
    }
    const auto deadline = SteadyClock::now() +
                          std::chrono::milliseconds(std::min<uint64_t>(r.timeout_ms, kMaxSetupMs)) +
                          kHoldMargin;
    const PairWaitResult sent =
        started ? wait_on_pair([&] { return channel.poll(); }, c.fd.get(), deadline, c.cut)
                : PairWaitResult{PairWait::kChannelFailed, {}};
    if (sent.outcome != PairWait::kDone) channel.abort();  // before the region is let go
    release(r.region, &c);
    if (sent.outcome != PairWait::kDone) return;
  }
}

nccl_wire::ReplyCode NcclPullServer::acquire(const nccl_wire::PullRequest& r, Connection* c,
                                             const uint8_t** base) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = regions_.find(r.region);
  if (it == regions_.end() || it->second.retiring || c->cut.load())
    return nccl_wire::ReplyCode::kNotExposed;
  const Region& region = it->second;
  if (r.offset > region.size || r.bytes > region.size - r.offset)
    return nccl_wire::ReplyCode::kOutOfRange;
  it->second.holders.insert(c);
  *base = region.base;
  return nccl_wire::ReplyCode::kOk;
}

void NcclPullServer::release(uint64_t region, Connection* c) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = regions_.find(region);
    if (it != regions_.end()) {
      auto h = it->second.holders.find(c);
      if (h != it->second.holders.end()) it->second.holders.erase(h);
    }
  }
  released_.notify_all();
}

}  // namespace dllm::transfer

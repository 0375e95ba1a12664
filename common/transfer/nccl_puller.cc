// The pulling side of the nccl back end (see the header and nccl_wire.h for the protocol).
#include "common/transfer/nccl_puller.h"

#include <sys/socket.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/transfer/nccl_wire.h"
#include "common/transfer/pair_wait.h"

namespace dllm::transfer {
namespace {

uint64_t ms_until(SteadyClock::time_point deadline) {
  if (deadline == SteadyClock::time_point::max()) return uint64_t{1} << 40;
  const auto left = deadline - SteadyClock::now();
  return static_cast<uint64_t>(
      std::max<int64_t>(1, std::chrono::ceil<std::chrono::milliseconds>(left).count()));
}

}  // namespace

NcclPeerLink::NcclPeerLink(std::shared_ptr<PairChannelFactory> channels, const NcclDescriptor& peer)
    : channels_(std::move(channels)),
      host_(peer.control_host),
      port_(peer.control_port),
      instance_(peer.instance) {
  thread_ = std::thread([this] { run(); });
}

NcclPeerLink::~NcclPeerLink() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    cut_.store(true);
    if (live_fd_ >= 0) shutdown(live_fd_, SHUT_RDWR);  // wakes a wait on the reply
  }
  wake_.notify_all();
  thread_.join();
  for (auto& o : queue_) o->done.set_value(absl::CancelledError("nccl transport shut down"));
}

bool NcclPeerLink::submit(std::unique_ptr<NcclPullOrder>& order) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (closed_ || stopping_) return false;
    queue_.push_back(std::move(order));
  }
  wake_.notify_one();
  return true;
}

bool NcclPeerLink::closed() {
  std::lock_guard<std::mutex> lock(mu_);
  return closed_;
}

std::string NcclPeerLink::where() const { return absl::StrCat(host_, ":", port_); }

void NcclPeerLink::run() {
  for (;;) {
    std::unique_ptr<NcclPullOrder> order;
    {
      std::unique_lock<std::mutex> lock(mu_);
      wake_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (stopping_) break;
      order = std::move(queue_.front());
      queue_.pop_front();
    }
    order->done.set_value(pull(*order));
    std::lock_guard<std::mutex> lock(mu_);
    if (queue_.empty() && channel_ == nullptr) {
      closed_ = true;  // nothing to keep: the transport makes a new link for the next pull
      break;
    }
  }
  drop_pair();
}

void NcclPeerLink::drop_pair() {
  if (channel_ != nullptr) channel_->abort();
  channel_.reset();
  std::lock_guard<std::mutex> lock(mu_);
  live_fd_ = -1;
  fd_.reset();
}

absl::Status NcclPeerLink::set_up_pair(SteadyClock::time_point deadline) {
  absl::StatusOr<UniqueFd> fd = connect_tcp(host_, port_, deadline);
  if (!fd.ok())
    return absl::Status(fd.status().code(),
                        absl::StrCat("nccl: the exposing side at ", where(),
                                     " cannot be reached: ", fd.status().message()));
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return absl::CancelledError("nccl transport shut down");
    fd_ = *std::move(fd);
    live_fd_ = fd_.get();
  }
  nccl_wire::Hello hello;
  hello.instance = instance_;
  hello.setup_timeout_ms = ms_until(deadline);
  nccl_wire::HelloReply reply;
  absl::Status s = send_all(fd_.get(), &hello, sizeof(hello));
  if (s.ok()) s = recv_all(fd_.get(), &reply, sizeof(reply), deadline);
  if (!s.ok())
    return absl::Status(
        s.code(), absl::StrCat("nccl: setting up the pair with ", where(), ": ", s.message()));
  if (reply.magic != nccl_wire::kMagic || reply.bootstrap_bytes > nccl_wire::kMaxBootstrapBytes)
    return absl::UnavailableError(
        absl::StrCat("nccl: ", where(), " does not speak the nccl transfer protocol"));
  if (reply.code == nccl_wire::HelloCode::kWrongInstance)
    return absl::UnavailableError(absl::StrCat(
        "nccl: the exposing transport is gone (another one listens at ", where(), " now)"));
  if (reply.code != nccl_wire::HelloCode::kOk)
    return absl::UnavailableError(
        absl::StrCat("nccl: the exposing side at ", where(), " could not set up the pair"));
  std::string bootstrap(reply.bootstrap_bytes, '\0');
  if (s = recv_all(fd_.get(), bootstrap.data(), bootstrap.size(), deadline); !s.ok())
    return absl::Status(
        s.code(), absl::StrCat("nccl: setting up the pair with ", where(), ": ", s.message()));
  absl::StatusOr<std::unique_ptr<PairChannel>> channel = channels_->join(bootstrap);
  if (!channel.ok()) return channel.status();
  channel_ = *std::move(channel);
  const PairWaitResult ready =
      wait_on_pair([&] { return channel_->ready(); }, fd_.get(), deadline, cut_);
  if (ready.outcome != PairWait::kDone && cut_.load())
    return absl::CancelledError("nccl transport shut down");
  switch (ready.outcome) {
    case PairWait::kDone:
      return absl::OkStatus();
    case PairWait::kDeadline:
      return absl::DeadlineExceededError(
          absl::StrCat("nccl: setting up the pair with ", where(), " took past the deadline"));
    case PairWait::kChannelFailed:
      return absl::UnavailableError(absl::StrCat("nccl: setting up the pair with ", where(),
                                                 " failed: ", ready.channel_error.message()));
    case PairWait::kCut:
      return absl::CancelledError("nccl transport shut down");
    case PairWait::kPeerClosed:
      break;
  }
  return absl::UnavailableError(
      absl::StrCat("nccl: the exposing side at ", where(), " went away while setting up the pair"));
}

absl::Status NcclPeerLink::pull(NcclPullOrder& order) {
  if (SteadyClock::now() >= order.deadline)
    return absl::DeadlineExceededError(
        "nccl: the pull's deadline passed while earlier pulls from the same peer ran");
  // A pair whose connection the exposer closed (it aborted it, or restarted) is of no use.
  if (channel_ != nullptr && peer_closed(fd_.get())) drop_pair();
  if (channel_ == nullptr) {
    if (absl::Status s = set_up_pair(order.deadline); !s.ok()) {
      drop_pair();
      return cut_.load() ? absl::CancelledError("nccl transport shut down") : s;
    }
  }
  nccl_wire::PullRequest request;
  request.request_id = next_request_++;
  request.region = order.region;
  request.offset = order.offset;
  request.bytes = order.bytes;
  request.timeout_ms = ms_until(order.deadline);
  nccl_wire::PullReply reply;
  absl::Status s = send_all(fd_.get(), &request, sizeof(request));
  if (s.ok()) s = recv_all(fd_.get(), &reply, sizeof(reply), order.deadline);
  if (!s.ok()) {
    drop_pair();  // the control stream is out of step
    if (cut_.load()) return absl::CancelledError("nccl transport shut down");
    if (s.code() == absl::StatusCode::kDeadlineExceeded)
      return absl::DeadlineExceededError(
          absl::StrCat("nccl: no answer from ", where(), " within the pull's timeout"));
    return absl::UnavailableError(
        absl::StrCat("nccl: the exposing side at ", where(), " went away: ", s.message()));
  }
  if (reply.request_id != request.request_id ||
      (reply.code == nccl_wire::ReplyCode::kOk &&
       (reply.piece_bytes == 0 || reply.piece_bytes > nccl_wire::kMaxPieceBytes))) {
    drop_pair();
    return absl::UnavailableError(absl::StrCat("nccl: malformed reply from ", where()));
  }
  if (reply.code == nccl_wire::ReplyCode::kNotExposed)
    return absl::UnavailableError("nccl: the region is no longer exposed");
  if (reply.code == nccl_wire::ReplyCode::kOutOfRange)
    return absl::OutOfRangeError(absl::StrCat("nccl: pull of [", order.offset, ", +", order.bytes,
                                              ") is past the end of the exposed region"));
  if (reply.code != nccl_wire::ReplyCode::kOk) {
    drop_pair();
    return absl::UnavailableError(absl::StrCat("nccl: malformed reply from ", where()));
  }
  for (uint64_t done = 0; done < order.bytes;) {
    const uint64_t n = std::min(reply.piece_bytes, order.bytes - done);
    if (s = channel_->start_recv(order.dst + done, n); !s.ok()) {
      drop_pair();
      return absl::UnavailableError(
          absl::StrCat("nccl: receiving from ", where(), ": ", s.message()));
    }
    done += n;
  }
  const PairWaitResult received =
      wait_on_pair([&] { return channel_->poll(); }, fd_.get(), order.deadline, cut_);
  if (received.outcome == PairWait::kDone) return absl::OkStatus();
  drop_pair();  // abort: dst is not written after this
  // Shutting down cuts the connection, which the channel may notice first.
  if (cut_.load()) return absl::CancelledError("nccl transport shut down");
  switch (received.outcome) {
    case PairWait::kDeadline:
      return absl::DeadlineExceededError(
          absl::StrCat("nccl: the pull from ", where(), " did not finish within its timeout"));
    case PairWait::kChannelFailed:
      return absl::UnavailableError(absl::StrCat("nccl: the pair with ", where(),
                                                 " failed: ", received.channel_error.message()));
    case PairWait::kCut:
      return absl::CancelledError("nccl transport shut down");
    default:
      return absl::UnavailableError(
          absl::StrCat("nccl: the exposing side at ", where(), " went away during the pull"));
  }
}

}  // namespace dllm::transfer

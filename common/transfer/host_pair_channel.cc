// The host-memory pair channel. One I/O thread per channel sets the pair up, then sends or
// receives the queued messages in order with blocking socket calls; abort() shuts the socket
// down, which wakes the thread, and joins it, so no buffer is touched afterwards.
#include "common/transfer/host_pair_channel.h"

#include <sys/socket.h>

#include <algorithm>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <random>
#include <thread>

#include "absl/strings/str_cat.h"
#include "common/transfer/tcp_socket.h"

namespace dllm::transfer {
namespace {

constexpr size_t kBootstrapBytes = 2 + 8;  // port, cookie
constexpr auto kSetupTick = std::chrono::milliseconds(20);

struct Message {
  bool send = false;
  uint8_t* data = nullptr;
  size_t bytes = 0;
};

class HostPairChannel final : public PairChannel {
 public:
  // The first rank: waits on `listener` for the second to join with `cookie`.
  HostPairChannel(const HostPairChannelOptions& options, UniqueFd listener, uint64_t cookie)
      : options_(options), listener_(std::move(listener)), cookie_(cookie) {
    io_ = std::thread([this] { run_first(); });
  }
  // The second rank: joins the first at host:port.
  HostPairChannel(const HostPairChannelOptions& options, uint16_t port, uint64_t cookie)
      : options_(options), port_(port), cookie_(cookie) {
    io_ = std::thread([this] { run_second(); });
  }
  ~HostPairChannel() override { abort(); }

  absl::StatusOr<bool> ready() override {
    std::lock_guard<std::mutex> lock(mu_);
    if (!failed_.ok()) return failed_;
    return ready_;
  }

  absl::Status start_send(const void* src, size_t bytes) override {
    return start(
        {.send = true, .data = static_cast<uint8_t*>(const_cast<void*>(src)), .bytes = bytes});
  }
  absl::Status start_recv(void* dst, size_t bytes) override {
    return start({.send = false, .data = static_cast<uint8_t*>(dst), .bytes = bytes});
  }

  absl::StatusOr<bool> poll() override {
    std::lock_guard<std::mutex> lock(mu_);
    if (!failed_.ok()) return failed_;
    return finished_ == started_;
  }

  void abort() override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (failed_.ok()) failed_ = absl::UnavailableError("host pair channel aborted");
      aborting_ = true;
      if (fd_ >= 0) shutdown(fd_, SHUT_RDWR);  // wakes a blocking send/recv
    }
    cv_.notify_all();
    if (io_.joinable()) io_.join();
  }

 private:
  absl::Status start(Message m) {
    std::lock_guard<std::mutex> lock(mu_);
    if (!failed_.ok()) return failed_;
    queue_.push_back(m);
    ++started_;
    cv_.notify_all();
    return absl::OkStatus();
  }

  void fail(absl::Status why) {
    std::lock_guard<std::mutex> lock(mu_);
    if (failed_.ok()) failed_ = std::move(why);
  }

  bool aborting() {
    std::lock_guard<std::mutex> lock(mu_);
    return aborting_;
  }

  // Publishes the connected socket; false when abort() came first.
  bool adopt(UniqueFd fd) {
    std::lock_guard<std::mutex> lock(mu_);
    if (aborting_) return false;
    conn_ = std::move(fd);
    fd_ = conn_.get();
    return true;
  }

  void run_first() {
    const SteadyClock::time_point give_up = steady_deadline_after(options_.join_timeout);
    for (;;) {
      if (aborting()) return;
      if (SteadyClock::now() >= give_up)
        return fail(absl::DeadlineExceededError("host pair channel: the second rank never joined"));
      absl::StatusOr<UniqueFd> fd =
          accept_tcp(listener_.get(), std::min(give_up, SteadyClock::now() + kSetupTick));
      if (fd.status().code() == absl::StatusCode::kDeadlineExceeded) continue;
      if (!fd.ok()) return fail(fd.status());
      uint64_t cookie = 0;
      if (!recv_all(fd->get(), &cookie, sizeof(cookie),
                    SteadyClock::now() + std::chrono::seconds(5))
               .ok() ||
          cookie != cookie_)
        continue;  // a stray connection: keep waiting for ours
      listener_.reset();
      if (!adopt(*std::move(fd))) return;
      break;
    }
    serve();
  }

  void run_second() {
    absl::StatusOr<UniqueFd> fd =
        connect_tcp(options_.host, port_, steady_deadline_after(options_.join_timeout));
    if (!fd.ok()) return fail(fd.status());
    if (absl::Status s = send_all(fd->get(), &cookie_, sizeof(cookie_)); !s.ok()) return fail(s);
    if (!adopt(*std::move(fd))) return;
    serve();
  }

  // Moves the queued messages in order until abort() or a failure.
  void serve() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      ready_ = true;
    }
    for (;;) {
      Message m;
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [&] { return aborting_ || !queue_.empty(); });
        if (aborting_) return;
        m = queue_.front();
        queue_.pop_front();
      }
      for (size_t done = 0; done < m.bytes;) {
        const size_t n = std::min(options_.io_chunk_bytes, m.bytes - done);
        const absl::Status s =
            m.send ? send_all(fd_, m.data + done, n) : recv_all(fd_, m.data + done, n);
        if (!s.ok())
          return fail(absl::UnavailableError(absl::StrCat("host pair channel: ", s.message())));
        done += n;
        if (options_.pause_per_chunk > absl::ZeroDuration()) {
          std::unique_lock<std::mutex> lock(mu_);
          if (cv_.wait_for(lock, absl::ToChronoNanoseconds(options_.pause_per_chunk),
                           [&] { return aborting_; }))
            return;
        }
      }
      std::lock_guard<std::mutex> lock(mu_);
      ++finished_;
    }
  }

  const HostPairChannelOptions options_;
  UniqueFd listener_;  // the first rank, until the second joined
  uint16_t port_ = 0;  // the second rank: where to join
  const uint64_t cookie_;
  std::thread io_;

  std::mutex mu_;
  std::condition_variable cv_;
  UniqueFd conn_;
  int fd_ = -1;  // conn_'s, once connected (read by the I/O thread without the lock)
  bool ready_ = false;
  bool aborting_ = false;
  absl::Status failed_;
  std::deque<Message> queue_;
  uint64_t started_ = 0, finished_ = 0;
};

class HostPairChannelFactory final : public PairChannelFactory {
 public:
  explicit HostPairChannelFactory(HostPairChannelOptions options) : options_(std::move(options)) {}

  bool device_memory() const override { return false; }
  absl::Status check_buffer(const void*, size_t) const override { return absl::OkStatus(); }

  absl::StatusOr<std::unique_ptr<PairChannel>> create_first(std::string* bootstrap) override {
    uint16_t port = 0;
    absl::StatusOr<UniqueFd> listener = listen_tcp(options_.host, 0, &port);
    if (!listener.ok()) return listener.status();
    std::random_device rd;
    const uint64_t cookie = (uint64_t{rd()} << 32) | rd();
    bootstrap->assign(kBootstrapBytes, '\0');
    std::memcpy(bootstrap->data(), &port, 2);
    std::memcpy(bootstrap->data() + 2, &cookie, 8);
    return std::make_unique<HostPairChannel>(options_, *std::move(listener), cookie);
  }

  absl::StatusOr<std::unique_ptr<PairChannel>> join(std::string_view bootstrap) override {
    if (bootstrap.size() != kBootstrapBytes)
      return absl::InvalidArgumentError("host pair channel: malformed bootstrap bytes");
    uint16_t port = 0;
    uint64_t cookie = 0;
    std::memcpy(&port, bootstrap.data(), 2);
    std::memcpy(&cookie, bootstrap.data() + 2, 8);
    if (options_.pairs_joined != nullptr) options_.pairs_joined->fetch_add(1);
    return std::make_unique<HostPairChannel>(options_, port, cookie);
  }

 private:
  HostPairChannelOptions options_;
};

}  // namespace

std::unique_ptr<PairChannelFactory> make_host_pair_channel_factory(HostPairChannelOptions options) {
  return std::make_unique<HostPairChannelFactory>(std::move(options));
}

}  // namespace dllm::transfer

// The progress loop: run posted tasks, drain ucp_worker_progress, run the tick, then sleep in
// poll() on the worker's event fd and our wake-up eventfd (ucp_worker_arm first, so no event is
// missed). Sleeping instead of spinning matters on small machines: both ends of a loopback
// transfer and the kernel's TCP copies share the same cores.
#include "common/transfer/ucx_worker.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <future>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/transfer/ucx_status.h"

namespace dllm::transfer {
namespace {

bool tls_use_tcp(const std::string& tls) {
  for (absl::string_view t : absl::StrSplit(tls, ',')) {
    if (t == "tcp" || t == "all" || t == "^") return true;
  }
  return false;
}

// UCX's own configuration (UCX_* environment) with our settings on top.
absl::StatusOr<ucp_config_t*> read_config(const UcxWorkerOptions& options) {
  ucp_config_t* config = nullptr;
  if (ucs_status_t s = ucp_config_read(nullptr, nullptr, &config); s != UCS_OK)
    return ucx_status(s, "ucp_config_read");
  auto set = [&](const char* key, const std::string& value) -> absl::Status {
    return ucx_status(ucp_config_modify(config, key, value.c_str()),
                      absl::StrCat("ucp_config_modify ", key, "=", value));
  };
  absl::Status s = set("TLS", options.tls);
  // Deployments export UCX_* for other libraries too (and tests set UCX_TLS); not our concern.
  if (s.ok()) s = set("WARN_UNUSED_ENV_VARS", "n");
  if (s.ok() && options.tcp_segment_bytes > 0 && tls_use_tcp(options.tls)) {
    s = set("TX_SEG_SIZE", std::to_string(options.tcp_segment_bytes));
    if (s.ok()) s = set("RX_SEG_SIZE", std::to_string(2 * options.tcp_segment_bytes));
  }
  if (!s.ok()) {
    ucp_config_release(config);
    return s;
  }
  return config;
}

}  // namespace

absl::StatusOr<std::unique_ptr<UcxWorker>> UcxWorker::create(const UcxWorkerOptions& options) {
  std::unique_ptr<UcxWorker> w(new UcxWorker());
  absl::StatusOr<ucp_config_t*> config = read_config(options);
  if (!config.ok()) return config.status();

  ucp_params_t params{};
  params.field_mask = UCP_PARAM_FIELD_FEATURES | UCP_PARAM_FIELD_NAME;
  params.features = UCP_FEATURE_RMA | UCP_FEATURE_AM | UCP_FEATURE_WAKEUP;
  params.name = "dllm-transfer";
  ucs_status_t s = ucp_init(&params, *config, &w->context_);
  ucp_config_release(*config);
  if (s != UCS_OK) return ucx_status(s, absl::StrCat("ucp_init (UCX_TLS=", options.tls, ")"));

  ucp_worker_params_t wp{};
  wp.field_mask = UCP_WORKER_PARAM_FIELD_THREAD_MODE;
  wp.thread_mode = UCS_THREAD_MODE_SERIALIZED;  // created here, then driven by one thread
  if (s = ucp_worker_create(w->context_, &wp, &w->worker_); s != UCS_OK)
    return ucx_status(s, "ucp_worker_create");

  ucp_address_t* address = nullptr;
  size_t address_len = 0;
  if (s = ucp_worker_get_address(w->worker_, &address, &address_len); s != UCS_OK)
    return ucx_status(s, "ucp_worker_get_address");
  w->address_.assign(reinterpret_cast<const char*>(address), address_len);
  ucp_worker_release_address(w->worker_, address);

  if (s = ucp_worker_get_efd(w->worker_, &w->ucx_fd_); s != UCS_OK)
    return ucx_status(s, "ucp_worker_get_efd");
  w->wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (w->wake_fd_ < 0) return absl::InternalError(absl::StrCat("eventfd: errno ", errno));
  return w;
}

UcxWorker::~UcxWorker() {
  if (thread_.joinable()) stop(nullptr);
  if (worker_ != nullptr) ucp_worker_destroy(worker_);
  if (context_ != nullptr) ucp_cleanup(context_);
  if (wake_fd_ >= 0) close(wake_fd_);
}

void UcxWorker::start(Tick tick) {
  tick_ = std::move(tick);
  thread_ = std::thread([this] { loop(); });
  thread_id_ = thread_.get_id();
}

bool UcxWorker::post(Task task) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return false;
    tasks_.push_back(std::move(task));
  }
  const uint64_t one = 1;
  (void)!write(wake_fd_, &one, sizeof(one));  // a full counter still wakes the loop
  return true;
}

bool UcxWorker::run_sync(const Task& task) {
  if (on_progress_thread()) {
    task();
    return true;
  }
  std::promise<void> done;
  std::future<void> waited = done.get_future();
  if (!post([&] {
        task();
        done.set_value();
      }))
    return false;
  waited.wait();
  return true;
}

void UcxWorker::stop(Task last) {
  if (!thread_.joinable()) return;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (last) tasks_.push_back(std::move(last));
    stopping_ = true;
  }
  const uint64_t one = 1;
  (void)!write(wake_fd_, &one, sizeof(one));
  thread_.join();
}

bool UcxWorker::run_posted_tasks() {
  std::vector<Task> batch;
  bool stopping = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    batch.swap(tasks_);
    stopping = stopping_;
  }
  for (Task& t : batch) t();
  return stopping;
}

void UcxWorker::wait_for_events(SteadyTime until) {
  int timeout_ms = -1;
  if (until != SteadyTime::max()) {
    const auto left = until - std::chrono::steady_clock::now();
    // Round up: waking a little late is fine, waking early only spins. Far deadlines are
    // rechecked once a minute rather than overflowing poll's int.
    const int64_t ms = std::chrono::ceil<std::chrono::milliseconds>(left).count();
    timeout_ms = static_cast<int>(std::clamp<int64_t>(ms, 0, 60'000));
  }
  pollfd fds[2] = {{ucx_fd_, POLLIN, 0}, {wake_fd_, POLLIN, 0}};
  poll(fds, 2, timeout_ms);
  if (fds[1].revents & POLLIN) {
    uint64_t drained = 0;
    (void)!read(wake_fd_, &drained, sizeof(drained));
  }
}

void UcxWorker::loop() {
  for (;;) {
    if (run_posted_tasks()) return;  // the last task tore the books down
    while (ucp_worker_progress(worker_) != 0) {
    }
    const SteadyTime next = tick_ ? tick_(std::chrono::steady_clock::now()) : SteadyTime::max();
    // The tick may have closed endpoints: UCX completes their requests from its progress
    // callbacks, which ucp_worker_arm does not count as pending events.
    if (ucp_worker_progress(worker_) != 0) continue;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!tasks_.empty() || stopping_) continue;
    }
    if (next <= std::chrono::steady_clock::now()) continue;
    // ucp_worker_arm says BUSY when events are already pending: progress again instead.
    if (ucp_worker_arm(worker_) == UCS_ERR_BUSY) continue;
    wait_for_events(next);
  }
}

}  // namespace dllm::transfer

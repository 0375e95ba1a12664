// UcxWorker: one ucp context + worker and the one thread that drives it. Every UCX call of the
// transport runs on that thread (tasks posted here), so the worker needs no UCX-side locking and
// completion callbacks never race with our own bookkeeping.
#pragma once

#include <sys/types.h>
#include <ucp/api/ucp.h>

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"

namespace dllm::transfer {

using SteadyTime = std::chrono::steady_clock::time_point;

struct UcxWorkerOptions {
  std::string tls = "tcp";
  size_t tcp_segment_bytes = 0;  // 0 = UCX default
};

class UcxWorker {
 public:
  using Task = std::function<void()>;
  // Called on the progress thread after each round of progress; returns the time by which it
  // must be called again (SteadyTime::max() when nothing is due).
  using Tick = std::function<SteadyTime(SteadyTime now)>;

  static absl::StatusOr<std::unique_ptr<UcxWorker>> create(const UcxWorkerOptions& options);
  ~UcxWorker();  // stops the thread first if it runs
  UcxWorker(const UcxWorker&) = delete;
  UcxWorker& operator=(const UcxWorker&) = delete;

  ucp_context_h context() const { return context_; }
  ucp_worker_h worker() const { return worker_; }
  // This worker's packed address: what a peer needs to create an endpoint to us.
  const std::string& address() const { return address_; }

  void start(Tick tick);
  // Runs `task` on the progress thread. False once stopping (the task is dropped).
  bool post(Task task);
  // Posts and waits; runs inline when called on the progress thread.
  bool run_sync(const Task& task);
  bool on_progress_thread() const { return std::this_thread::get_id() == thread_id_; }
  // Active-message sends UCX still holds (see send_active_message). Progress thread only.
  int* active_message_sends() { return &active_message_sends_; }
  // Runs the tasks already posted, then `last` (on the thread), then ends the thread.
  void stop(Task last);

 private:
  UcxWorker() = default;
  void loop();
  bool run_posted_tasks();
  void wait_for_events(SteadyTime until);

  ucp_context_h context_ = nullptr;
  ucp_worker_h worker_ = nullptr;
  std::string address_;
  int ucx_fd_ = -1;   // the worker's event fd (ucp_worker_get_efd)
  int wake_fd_ = -1;  // eventfd other threads write to after posting
  int active_message_sends_ = 0;

  Tick tick_;
  std::thread thread_;
  std::thread::id thread_id_;
  std::mutex mu_;
  std::vector<Task> tasks_;
  bool stopping_ = false;
};

}  // namespace dllm::transfer

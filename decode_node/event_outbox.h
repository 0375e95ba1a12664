// Decode events (finished blocks) handed from the batcher's thread to the request's own RPC
// thread, which writes them to the stream: a slow reader then holds back its own stream only,
// never the batch that every running request steps in.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <vector>

#include "dllm/v1/node.pb.h"

namespace dllm::decode {

class EventOutbox {
 public:
  // From the batcher's thread.
  void push(v1::DecodeEvent event) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      events_.push_back(std::move(event));
    }
    ready_.notify_one();
  }

  // Everything queued, in order; waits up to `wait` when nothing is.
  std::vector<v1::DecodeEvent> take(std::chrono::milliseconds wait) {
    std::unique_lock<std::mutex> lock(mu_);
    ready_.wait_for(lock, wait, [this] { return !events_.empty(); });
    std::vector<v1::DecodeEvent> out(std::make_move_iterator(events_.begin()),
                                     std::make_move_iterator(events_.end()));
    events_.clear();
    return out;
  }

 private:
  std::mutex mu_;
  std::condition_variable ready_;
  std::deque<v1::DecodeEvent> events_;
};

}  // namespace dllm::decode

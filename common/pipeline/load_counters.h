// Running / waiting / completed request counts of a node, updated by RAII stages so that every
// exit path (error, cancel, crash of a handler) puts them back.
#pragma once

#include <atomic>
#include <cstdint>

namespace dllm {

struct LoadCounters {
  std::atomic<int> running{0};
  std::atomic<int> waiting{0};
  std::atomic<int64_t> completed{0};

  // Counts a request in `gauge` for the lifetime of the stage.
  class Stage {
   public:
    explicit Stage(std::atomic<int>& gauge) : gauge_(&gauge) { gauge_->fetch_add(1); }
    ~Stage() { end(); }
    void end() {
      if (gauge_ != nullptr) gauge_->fetch_sub(1);
      gauge_ = nullptr;
    }
    Stage(const Stage&) = delete;
    Stage& operator=(const Stage&) = delete;

   private:
    std::atomic<int>* gauge_;
  };
};

}  // namespace dllm

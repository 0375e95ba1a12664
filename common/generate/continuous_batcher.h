// Continuous batching at step granularity: requests' denoising sequences join a running batch
// between steps and leave it when they finish; each step is one model forward for every
// sequence that may share it (one weight read serves the whole batch). A background thread
// steps the batch while it holds the model's lock.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <future>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "common/generate/denoising_sequence.h"

namespace dllm {

struct ContinuousBatcherOptions {
  int max_sequences = 16;         // sequences in the running batch; the rest wait to join
  int64_t max_batch_tokens = 16384;  // sum of sequence lengths of the running batch
};

class ContinuousBatcher {
 public:
  // `model_mutex` is held around every step (other users of the model take it too).
  ContinuousBatcher(LanguageModel& model, std::mutex& model_mutex,
                    ContinuousBatcherOptions options);
  ~ContinuousBatcher();  // finishes nothing: pending sequences fail with Cancelled
  ContinuousBatcher(const ContinuousBatcher&) = delete;
  ContinuousBatcher& operator=(const ContinuousBatcher&) = delete;

  // The sequence joins at the next step. `shares_forwards` false: it steps in a forward of its
  // own (its forwards carry a sparse plan). `tokens`: its length, for the token budget.
  std::future<absl::StatusOr<GenerationResult>> submit(std::unique_ptr<DenoisingSequence> sequence,
                                                       bool shares_forwards, int64_t tokens);
  int running() const;
  int waiting() const;
  int64_t steps() const;          // batched steps run
  int64_t max_batch_seen() const;  // largest number of sequences in one forward

 private:
  struct Entry {
    std::unique_ptr<DenoisingSequence> sequence;
    bool shares_forwards = true;
    int64_t tokens = 0;
    std::promise<absl::StatusOr<GenerationResult>> done;
  };
  void loop();
  void admit_locked();
  // One step of `group`; a failed forward fails every sequence in it.
  void step_group(std::vector<Entry*>& group);

  LanguageModel& model_;
  std::mutex& model_mutex_;
  const ContinuousBatcherOptions options_;
  mutable std::mutex mu_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::deque<std::unique_ptr<Entry>> waiting_;
  std::vector<std::unique_ptr<Entry>> running_;
  int64_t running_tokens_ = 0;
  int64_t steps_ = 0, max_batch_seen_ = 0;
  std::thread thread_;
};

}  // namespace dllm

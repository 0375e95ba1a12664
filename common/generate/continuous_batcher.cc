#include "common/generate/continuous_batcher.h"

#include <algorithm>

namespace dllm {

ContinuousBatcher::ContinuousBatcher(LanguageModel& model, std::mutex& model_mutex,
                                     ContinuousBatcherOptions options)
    : model_(model), model_mutex_(model_mutex), options_(options), thread_([this] { loop(); }) {}

ContinuousBatcher::~ContinuousBatcher() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
  for (auto* list : {&running_})
    for (auto& e : *list) e->done.set_value(absl::CancelledError("the batcher shut down"));
  for (auto& e : waiting_) e->done.set_value(absl::CancelledError("the batcher shut down"));
}

std::future<absl::StatusOr<GenerationResult>> ContinuousBatcher::submit(
    std::unique_ptr<DenoisingSequence> sequence, bool shares_forwards, int64_t tokens) {
  auto entry = std::make_unique<Entry>();
  entry->sequence = std::move(sequence);
  entry->shares_forwards = shares_forwards;
  entry->tokens = tokens;
  std::future<absl::StatusOr<GenerationResult>> future = entry->done.get_future();
  {
    std::lock_guard<std::mutex> lock(mu_);
    waiting_.push_back(std::move(entry));
  }
  wake_.notify_all();
  return future;
}

int ContinuousBatcher::running() const {
  std::lock_guard<std::mutex> lock(mu_);
  return static_cast<int>(running_.size());
}
int ContinuousBatcher::waiting() const {
  std::lock_guard<std::mutex> lock(mu_);
  return static_cast<int>(waiting_.size());
}
int64_t ContinuousBatcher::steps() const {
  std::lock_guard<std::mutex> lock(mu_);
  return steps_;
}
int64_t ContinuousBatcher::max_batch_seen() const {
  std::lock_guard<std::mutex> lock(mu_);
  return max_batch_seen_;
}

void ContinuousBatcher::admit_locked() {
  // First come, first served; the head of the queue always gets in when the batch is empty, so
  // one request longer than the token budget still runs (alone).
  while (!waiting_.empty() && static_cast<int>(running_.size()) < options_.max_sequences &&
         (running_.empty() ||
          running_tokens_ + waiting_.front()->tokens <= options_.max_batch_tokens)) {
    running_tokens_ += waiting_.front()->tokens;
    running_.push_back(std::move(waiting_.front()));
    waiting_.pop_front();
  }
}

void ContinuousBatcher::step_group(std::vector<Entry*>& group) {
  std::vector<DenoisingSequence*> sequences;
  for (Entry* e : group) sequences.push_back(e->sequence.get());
  absl::StatusOr<bool> stepped = step_sequences(model_, sequences);
  if (!stepped.ok())
    for (Entry* e : group) {
      e->done.set_value(stepped.status());
      e->sequence.reset();  // marks it gone
    }
}

void ContinuousBatcher::loop() {
  std::vector<Entry*> shared, alone;
  while (true) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      wake_.wait(lock, [this] { return stopping_ || !waiting_.empty() || !running_.empty(); });
      if (stopping_) return;
      admit_locked();
      shared.clear();
      alone.clear();
      for (auto& e : running_) (e->shares_forwards ? shared : alone).push_back(e.get());
      ++steps_;
      max_batch_seen_ = std::max<int64_t>(max_batch_seen_, static_cast<int64_t>(shared.size()));
    }
    {
      std::lock_guard<std::mutex> model_lock(model_mutex_);
      if (!shared.empty()) step_group(shared);
      for (Entry* e : alone) {
        std::vector<Entry*> one = {e};
        step_group(one);
      }
    }
    std::lock_guard<std::mutex> lock(mu_);
    for (auto it = running_.begin(); it != running_.end();) {
      Entry& e = **it;
      if (e.sequence != nullptr && !e.sequence->finished()) {
        ++it;
        continue;
      }
      if (e.sequence != nullptr) e.done.set_value(e.sequence->take_result());
      running_tokens_ -= e.tokens;
      it = running_.erase(it);
    }
  }
}

}  // namespace dllm

// A progress bar on stderr for long CLI work (evaluation samples, generation blocks). Drawn only
// when stderr is a terminal (or when forced), at most ten times a second; silent in pipes and
// logs so that scripts reading stderr see no control characters.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace dllm::cli {

class ProgressBar {
 public:
  ProgressBar(std::string label, int64_t total, bool force = false);
  ~ProgressBar();  // finishes the line
  void advance(int64_t n = 1);
  void finish();
  bool enabled() const { return enabled_; }

 private:
  void draw(bool final);

  std::string label_;
  int64_t total_ = 0, done_ = 0;
  bool enabled_ = false, finished_ = false;
  std::chrono::steady_clock::time_point start_, last_draw_;
};

}  // namespace dllm::cli

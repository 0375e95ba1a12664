#include "tools/dllm/progress_bar.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>

namespace dllm::cli {

ProgressBar::ProgressBar(std::string label, int64_t total, bool force)
    : label_(std::move(label)),
      total_(std::max<int64_t>(total, 1)),
      enabled_(force || isatty(STDERR_FILENO) == 1),
      start_(std::chrono::steady_clock::now()),
      last_draw_(start_ - std::chrono::seconds(1)) {
  if (enabled_) draw(false);
}

ProgressBar::~ProgressBar() { finish(); }

void ProgressBar::advance(int64_t n) {
  done_ = std::min(total_, done_ + n);
  if (enabled_ && std::chrono::steady_clock::now() - last_draw_ >= std::chrono::milliseconds(100))
    draw(false);
}

void ProgressBar::finish() {
  if (finished_) return;
  finished_ = true;
  if (enabled_) draw(true);
}

void ProgressBar::draw(bool final) {
  last_draw_ = std::chrono::steady_clock::now();
  const double elapsed = std::chrono::duration<double>(last_draw_ - start_).count();
  const double frac = static_cast<double>(done_) / static_cast<double>(total_);
  constexpr int kWidth = 30;
  const int filled = static_cast<int>(frac * kWidth);
  std::string bar(filled, '#');
  bar.resize(kWidth, '.');
  const double eta = done_ > 0 ? elapsed / frac - elapsed : 0.0;
  std::fprintf(stderr, "\r%s [%s] %lld/%lld %3.0f%% %.1fs elapsed, eta %.1fs%s", label_.c_str(),
               bar.c_str(), static_cast<long long>(done_), static_cast<long long>(total_),
               100.0 * frac, elapsed, eta, final ? "\n" : "");
  std::fflush(stderr);
}

}  // namespace dllm::cli

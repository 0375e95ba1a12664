// Helpers shared by the cross-process transfer tests: a transport descriptor handed over a pipe,
// and a forked child that exposes a buffer and publishes its descriptor that way.
#pragma once

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <functional>
#include <string>

namespace dllm::transfer::testing {

inline bool write_all(int fd, const void* p, size_t n) {
  const char* c = static_cast<const char*>(p);
  while (n > 0) {
    const ssize_t w = write(fd, c, n);
    if (w <= 0) return false;
    c += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

inline bool read_all(int fd, void* p, size_t n) {
  char* c = static_cast<char*>(p);
  while (n > 0) {
    const ssize_t r = read(fd, c, n);
    if (r <= 0) return false;
    c += r;
    n -= static_cast<size_t>(r);
  }
  return true;
}

// A descriptor on the wire: its length (native uint32), then its bytes.
inline bool write_descriptor(int fd, const std::string& d) {
  const uint32_t n = static_cast<uint32_t>(d.size());
  return write_all(fd, &n, sizeof(n)) && write_all(fd, d.data(), n);
}

// Empty when the writer went away first or the length is implausible.
inline std::string read_descriptor(int fd) {
  uint32_t n = 0;
  std::string d;
  if (read_all(fd, &n, sizeof(n)) && n < (1u << 20)) {
    d.resize(n);
    if (!read_all(fd, d.data(), n)) d.clear();
  }
  return d;
}

// In the exposing child: publishes `descriptor`, then blocks until the parent closes the control
// pipe (or kills the child). False when the descriptor could not be written.
inline bool publish_and_wait(int descriptor_fd, int control_fd, const std::string& descriptor) {
  if (!write_descriptor(descriptor_fd, descriptor)) return false;
  char byte;
  (void)!read(control_fd, &byte, 1);
  return true;
}

// A forked child that runs `expose(descriptor_fd, control_fd)`, which must expose a buffer, call
// publish_and_wait and _exit without returning into the test framework. Fork it before this
// process makes a transport of its own. Killed when destroyed, unless reaped already.
class ExposerProcess {
 public:
  explicit ExposerProcess(const std::function<void(int, int)>& expose) {
    int out[2], control[2];
    if (pipe(out) != 0 || pipe(control) != 0) return;
    pid_ = fork();
    if (pid_ == 0) {
      close(out[0]);
      close(control[1]);
      expose(out[1], control[0]);
      _exit(0);
    }
    close(out[1]);
    close(control[0]);
    control_fd_ = control[1];
    descriptor_ = read_descriptor(out[0]);
    close(out[0]);
  }
  ExposerProcess(const ExposerProcess&) = delete;
  ExposerProcess& operator=(const ExposerProcess&) = delete;
  ~ExposerProcess() {
    if (control_fd_ >= 0) close(control_fd_);
    if (pid_ > 0 && !reaped_) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }
  const std::string& descriptor() const { return descriptor_; }
  void signal(int sig) { kill(pid_, sig); }
  // Returns once the child is stopped (a signal is delivered asynchronously).
  void stop() {
    kill(pid_, SIGSTOP);
    int status = 0;
    waitpid(pid_, &status, WUNTRACED);
  }
  void resume() { kill(pid_, SIGCONT); }
  void kill_and_reap() {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    reaped_ = true;
  }

 private:
  pid_t pid_ = -1;
  int control_fd_ = -1;
  bool reaped_ = false;
  std::string descriptor_;
};

}  // namespace dllm::transfer::testing

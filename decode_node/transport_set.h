// The transports a decode node pulls with, made on first use by the name a K/V handle carries.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "absl/status/statusor.h"
#include "common/transfer/transport.h"

namespace dllm::decode {

class TransportSet {
 public:
  explicit TransportSet(transfer::TransportOptions options) : options_(std::move(options)) {}

  absl::StatusOr<transfer::Transport*> get(const std::string& name) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = transports_.find(name);
    if (it != transports_.end()) return it->second.get();
    absl::StatusOr<std::unique_ptr<transfer::Transport>> made =
        transfer::make_transport(name, options_);
    if (!made.ok()) return made.status();
    transfer::Transport* t = made->get();
    transports_[name] = std::move(*made);
    return t;
  }

 private:
  transfer::TransportOptions options_;
  std::mutex mu_;
  std::map<std::string, std::unique_ptr<transfer::Transport>> transports_;
};

}  // namespace dllm::decode

// K/V a prefill node has exported for decode nodes to pull, each under a lease: the decode side
// (through the router) releases it once pulled; a lease nobody releases (the decode node died,
// the router gave up) expires and frees its memory on its own.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "common/kv/kv_rows.h"
#include "common/transfer/transport.h"

namespace dllm::prefill {

struct HeldKv {
  std::string lease_id;
  std::string descriptor;  // what a puller passes to its transport
};

class KvLeaseTable {
 public:
  KvLeaseTable(transfer::Transport* transport, std::chrono::milliseconds lease);
  ~KvLeaseTable();

  // Keeps `rows` exposed through the transport until released or expired.
  absl::StatusOr<HeldKv> hold(const std::string& request_id, KvRowsBuffer rows);
  bool release(const std::string& lease_id);
  int held() const;
  int64_t held_bytes() const;
  std::chrono::milliseconds lease() const { return lease_; }

 private:
  struct Entry {
    KvRowsBuffer rows;  // declared before the registration: outlives it
    std::unique_ptr<transfer::Registration> registration;
    std::chrono::steady_clock::time_point expires;
  };
  void reap_loop();

  transfer::Transport* transport_;
  const std::chrono::milliseconds lease_;
  mutable std::mutex mu_;
  std::condition_variable wake_;
  bool stopping_ = false;
  uint64_t next_id_ = 0;
  std::map<std::string, std::unique_ptr<Entry>> entries_;
  std::thread reaper_;
};

}  // namespace dllm::prefill

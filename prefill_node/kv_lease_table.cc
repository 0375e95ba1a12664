#include "prefill_node/kv_lease_table.h"

#include "absl/strings/str_cat.h"

namespace dllm::prefill {

KvLeaseTable::KvLeaseTable(transfer::Transport* transport, std::chrono::milliseconds lease)
    : transport_(transport), lease_(lease), reaper_([this] { reap_loop(); }) {}

KvLeaseTable::~KvLeaseTable() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  reaper_.join();
}

absl::StatusOr<HeldKv> KvLeaseTable::hold(const std::string& request_id, KvRowsBuffer rows) {
  auto entry = std::make_unique<Entry>();
  entry->rows = std::move(rows);
  absl::StatusOr<std::unique_ptr<transfer::Registration>> reg =
      transport_->expose(entry->rows.data(), entry->rows.size());
  if (!reg.ok()) return reg.status();
  entry->registration = std::move(*reg);
  entry->expires = std::chrono::steady_clock::now() + lease_;
  HeldKv held{.descriptor = entry->registration->descriptor()};
  std::lock_guard<std::mutex> lock(mu_);
  held.lease_id = absl::StrCat(request_id, "/kv-", next_id_++);
  entries_[held.lease_id] = std::move(entry);
  return held;
}

bool KvLeaseTable::release(const std::string& lease_id) {
  std::unique_ptr<Entry> gone;  // destroyed outside the lock
  std::lock_guard<std::mutex> lock(mu_);
  auto it = entries_.find(lease_id);
  if (it == entries_.end()) return false;
  gone = std::move(it->second);
  entries_.erase(it);
  return true;
}

int KvLeaseTable::held() const {
  std::lock_guard<std::mutex> lock(mu_);
  return static_cast<int>(entries_.size());
}

int64_t KvLeaseTable::held_bytes() const {
  std::lock_guard<std::mutex> lock(mu_);
  int64_t total = 0;
  for (const auto& [id, e] : entries_) total += static_cast<int64_t>(e->rows.size());
  return total;
}

void KvLeaseTable::reap_loop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    wake_.wait_for(lock, std::chrono::milliseconds(200), [this] { return stopping_; });
    const auto now = std::chrono::steady_clock::now();
    for (auto it = entries_.begin(); it != entries_.end();)
      it = it->second->expires <= now ? entries_.erase(it) : std::next(it);
  }
}

}  // namespace dllm::prefill

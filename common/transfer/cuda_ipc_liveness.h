// Whether a cuda_ipc region may still be read: the exporter's token table in POSIX shared memory,
// and the exporter's own liveness, both checked by a puller before and after each copy.
//
// CUDA IPC cannot revoke an importer's mapping, so the exporter publishes one token per exposed
// region (0 once unexposed) in a shared-memory table, and holds an exclusive flock on that table
// for as long as it lives. The kernel drops the lock when the exporter exits, however it exits
// (kill -9 included), so a puller learns of the death with one non-blocking flock, without pids
// (which zombies, pid reuse and pid namespaces make unreliable).
//
// Each slot also counts the copies reading its region. A puller counts itself in before it checks
// the token and out after its copy; unexposing clears the token, then waits (a bounded grace) for
// the count to drop, so that memory freed after unexposing is never under a running copy (CUDA
// makes freeing memory an importer is reading undefined behaviour).
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace dllm::transfer {

// Shared-memory names of token tables all start with this (a descriptor naming anything else is
// malformed: a puller never maps an arbitrary shared-memory object).
inline constexpr char kCudaIpcTablePrefix[] = "/dllm-cuda-ipc-";

// One slot of a token table, as laid out in shared memory.
struct CudaIpcSlot {
  uint64_t token;    // of the region exposed in this slot; 0 when none
  uint64_t readers;  // copies reading the region now
};

// The exporting side: created once per transport, unlinked when destroyed. Creating one also
// removes tables that killed exporters left behind (unlocked, older than a minute).
class ExporterTokenTable {
 public:
  static absl::StatusOr<std::unique_ptr<ExporterTokenTable>> create(uint32_t slots);
  ~ExporterTokenTable();
  ExporterTokenTable(const ExporterTokenTable&) = delete;
  ExporterTokenTable& operator=(const ExporterTokenTable&) = delete;

  const std::string& name() const { return name_; }
  // A free slot and a token never used before in this table; ResourceExhausted when full.
  absl::StatusOr<std::pair<uint32_t, uint64_t>> add();
  // Unexposes the slot's region and waits up to `grace` for the copies reading it. A slot still
  // counted after that (its puller died or hangs mid-copy) is retired, never reused.
  void remove(uint32_t slot, absl::Duration grace);

 private:
  ExporterTokenTable() = default;
  std::string name_;
  int fd_ = -1;  // holds the exclusive flock
  uint32_t slots_ = 0;
  CudaIpcSlot* table_ = nullptr;
  std::mutex mu_;
  std::vector<uint32_t> free_;
  uint64_t next_token_ = 1;
};

// The pulling side's read-only view of one exporter's table.
class PeerTokenTable {
 public:
  // Unavailable when the table is gone (its exporter exited cleanly); InvalidArgument for a
  // name that is not a token table's.
  static absl::StatusOr<std::shared_ptr<PeerTokenTable>> open(const std::string& name);
  ~PeerTokenTable();
  PeerTokenTable(const PeerTokenTable&) = delete;
  PeerTokenTable& operator=(const PeerTokenTable&) = delete;

  // False once the exporting process has exited (its flock is released).
  bool exporter_alive() const;
  // The region in `slot` is still exposed under `token`.
  bool live(uint32_t slot, uint64_t token) const;
  // Counts a copy in; false (and nothing counted) when the region is no longer exposed.
  bool begin_read(uint32_t slot, uint64_t token) const;
  // Counts a copy out; returns whether the region stayed exposed until now.
  bool end_read(uint32_t slot, uint64_t token) const;
  // After exporter_alive() said no: removes the name the dead exporter could not unlink.
  void unlink_dead() const;
  const std::string& name() const { return name_; }

 private:
  PeerTokenTable() = default;
  std::string name_;
  int fd_ = -1;
  uint32_t slots_ = 0;
  CudaIpcSlot* table_ = nullptr;
};

}  // namespace dllm::transfer

// Token tables of the cuda_ipc back end (see the header for why flock and not pids).
#include "common/transfer/cuda_ipc_liveness.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <random>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace dllm::transfer {
namespace {

// A corrupt descriptor must not make a puller map gigabytes.
constexpr uint32_t kMaxSlots = uint32_t{1} << 24;

bool valid_table_name(const std::string& name) {
  if (!absl::StartsWith(name, kCudaIpcTablePrefix) || name.size() > 200) return false;
  for (size_t i = sizeof(kCudaIpcTablePrefix) - 1; i < name.size(); ++i) {
    const char c = name[i];
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || c == '-')) return false;
  }
  return true;
}

std::string errno_text() { return std::strerror(errno); }

// Removes the tables of exporters that died without unlinking theirs (kill -9) and that no
// puller cleaned up: those whose lock nobody holds. Only tables older than a minute: a new
// exporter takes its lock just after creating its table, and the age keeps a sweep out of that
// window. (/dev/shm is where glibc keeps POSIX shared memory.)
void sweep_dead_tables() {
  DIR* dir = opendir("/dev/shm");
  if (dir == nullptr) return;
  while (const dirent* e = readdir(dir)) {
    const std::string name = absl::StrCat("/", e->d_name);
    if (!valid_table_name(name)) continue;
    const int fd = shm_open(name.c_str(), O_RDWR, 0);
    if (fd < 0) continue;
    struct stat st {};
    if (fstat(fd, &st) == 0 && time(nullptr) - st.st_mtime > 60 &&
        flock(fd, LOCK_EX | LOCK_NB) == 0)
      shm_unlink(name.c_str());
    close(fd);
  }
  closedir(dir);
}

}  // namespace

absl::StatusOr<std::unique_ptr<ExporterTokenTable>> ExporterTokenTable::create(uint32_t slots) {
  if (slots == 0 || slots > kMaxSlots)
    return absl::InvalidArgumentError(
        absl::StrCat("cuda_ipc: region slots must be in [1, ", kMaxSlots, "], got ", slots));
  sweep_dead_tables();
  std::unique_ptr<ExporterTokenTable> t(new ExporterTokenTable());
  std::random_device rd;
  const uint64_t salt = (uint64_t{rd()} << 32) | rd();
  t->name_ = absl::StrCat(kCudaIpcTablePrefix, absl::Hex(getpid()), "-", absl::Hex(salt));
  // shm_open sets FD_CLOEXEC: an exec'd child neither inherits the lock nor keeps us "alive".
  t->fd_ = shm_open(t->name_.c_str(), O_CREAT | O_EXCL | O_RDWR, 0600);
  if (t->fd_ < 0) return absl::InternalError(absl::StrCat("cuda_ipc: shm_open: ", errno_text()));
  const size_t bytes = size_t{slots} * sizeof(CudaIpcSlot);
  void* p = MAP_FAILED;
  if (flock(t->fd_, LOCK_EX | LOCK_NB) == 0 && ftruncate(t->fd_, static_cast<off_t>(bytes)) == 0)
    p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, t->fd_, 0);
  if (p == MAP_FAILED) {
    const std::string why = errno_text();
    shm_unlink(t->name_.c_str());
    return absl::InternalError(absl::StrCat("cuda_ipc: setting up the token table: ", why));
  }
  t->slots_ = slots;
  t->table_ = static_cast<CudaIpcSlot*>(p);  // ftruncate zero-fills: every slot starts free
  t->free_.reserve(slots);
  for (uint32_t i = slots; i > 0; --i) t->free_.push_back(i - 1);
  return t;
}

ExporterTokenTable::~ExporterTokenTable() {
  if (table_ != nullptr) munmap(table_, size_t{slots_} * sizeof(CudaIpcSlot));
  shm_unlink(name_.c_str());
  if (fd_ >= 0) close(fd_);  // releases the flock: pullers see this exporter as gone
}

absl::StatusOr<std::pair<uint32_t, uint64_t>> ExporterTokenTable::add() {
  std::lock_guard<std::mutex> lock(mu_);
  if (free_.empty())
    return absl::ResourceExhaustedError(
        absl::StrCat("cuda_ipc: all ", slots_, " region slots are in use"));
  const uint32_t slot = free_.back();
  free_.pop_back();
  const uint64_t token = next_token_++;
  __atomic_store_n(&table_[slot].token, token, __ATOMIC_SEQ_CST);
  return std::make_pair(slot, token);
}

void ExporterTokenTable::remove(uint32_t slot, absl::Duration grace) {
  // Sequentially consistent against begin_read(): either that puller sees the token gone, or
  // this sees its count.
  __atomic_store_n(&table_[slot].token, uint64_t{0}, __ATOMIC_SEQ_CST);
  const auto give_up = std::chrono::steady_clock::now() + absl::ToChronoNanoseconds(grace);
  auto pause = std::chrono::microseconds(20);
  while (__atomic_load_n(&table_[slot].readers, __ATOMIC_SEQ_CST) != 0) {
    if (std::chrono::steady_clock::now() >= give_up) return;  // retired: never handed out again
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::microseconds(2000));
  }
  std::lock_guard<std::mutex> lock(mu_);
  free_.push_back(slot);
}

absl::StatusOr<std::shared_ptr<PeerTokenTable>> PeerTokenTable::open(const std::string& name) {
  if (!valid_table_name(name))
    return absl::InvalidArgumentError("malformed cuda_ipc transfer descriptor (table name)");
  std::shared_ptr<PeerTokenTable> t(new PeerTokenTable());
  t->name_ = name;
  t->fd_ = shm_open(name.c_str(), O_RDWR, 0);  // read-write: pullers count themselves in
  if (t->fd_ < 0)
    return absl::UnavailableError("cuda_ipc: the exporting process is gone (no token table)");
  // The size comes from the object itself, never from the descriptor: reading past the end of
  // a shared-memory object is SIGBUS.
  struct stat st {};
  if (fstat(t->fd_, &st) != 0 || st.st_size <= 0 || st.st_size % sizeof(CudaIpcSlot) != 0 ||
      static_cast<uint64_t>(st.st_size) > uint64_t{kMaxSlots} * sizeof(CudaIpcSlot))
    return absl::UnavailableError("cuda_ipc: the exporter's token table is not a token table");
  void* p =
      mmap(nullptr, static_cast<size_t>(st.st_size), PROT_READ | PROT_WRITE, MAP_SHARED, t->fd_, 0);
  if (p == MAP_FAILED)
    return absl::UnavailableError(
        absl::StrCat("cuda_ipc: mapping the exporter's token table: ", errno_text()));
  t->slots_ = static_cast<uint32_t>(st.st_size / sizeof(CudaIpcSlot));
  t->table_ = static_cast<CudaIpcSlot*>(p);
  return t;
}

PeerTokenTable::~PeerTokenTable() {
  if (table_ != nullptr) munmap(table_, size_t{slots_} * sizeof(CudaIpcSlot));
  if (fd_ >= 0) close(fd_);
}

bool PeerTokenTable::exporter_alive() const {
  if (flock(fd_, LOCK_SH | LOCK_NB) == 0) {
    flock(fd_, LOCK_UN);
    return false;  // nobody holds the exclusive lock any more
  }
  return errno == EWOULDBLOCK;
}

bool PeerTokenTable::live(uint32_t slot, uint64_t token) const {
  return slot < slots_ && __atomic_load_n(&table_[slot].token, __ATOMIC_ACQUIRE) == token;
}

bool PeerTokenTable::begin_read(uint32_t slot, uint64_t token) const {
  if (slot >= slots_) return false;
  __atomic_fetch_add(&table_[slot].readers, uint64_t{1}, __ATOMIC_SEQ_CST);
  if (__atomic_load_n(&table_[slot].token, __ATOMIC_SEQ_CST) == token) return true;
  __atomic_fetch_sub(&table_[slot].readers, uint64_t{1}, __ATOMIC_SEQ_CST);
  return false;
}

bool PeerTokenTable::end_read(uint32_t slot, uint64_t token) const {
  const bool still_live = live(slot, token);
  __atomic_fetch_sub(&table_[slot].readers, uint64_t{1}, __ATOMIC_SEQ_CST);
  return still_live;
}

void PeerTokenTable::unlink_dead() const { shm_unlink(name_.c_str()); }

}  // namespace dllm::transfer

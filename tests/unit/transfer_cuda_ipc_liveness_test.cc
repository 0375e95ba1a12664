// The cuda_ipc back end's token tables (POSIX shared memory + flock; no GPU needed): a puller
// sees regions unexposed and exporters gone, including one killed with SIGKILL; unexposing waits
// for the copies a puller counted in, and retires a slot whose puller never counts out.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "common/transfer/cuda_ipc_liveness.h"

namespace dllm::transfer {
namespace {

TEST(CudaIpcLiveness, TokensFollowExposeAndUnexpose) {
  auto table = ExporterTokenTable::create(4);
  ASSERT_TRUE(table.ok()) << table.status();
  auto peer = PeerTokenTable::open((*table)->name());
  ASSERT_TRUE(peer.ok()) << peer.status();
  EXPECT_TRUE((*peer)->exporter_alive()) << "same process, another open file: still locked";

  auto a = (*table)->add();
  auto b = (*table)->add();
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE(a->second, b->second);
  EXPECT_TRUE((*peer)->live(a->first, a->second));
  EXPECT_FALSE((*peer)->live(a->first, b->second));
  EXPECT_FALSE((*peer)->live(1000, a->second)) << "a slot past the table";
  (*table)->remove(a->first, absl::Milliseconds(100));
  EXPECT_FALSE((*peer)->live(a->first, a->second));
  EXPECT_FALSE((*peer)->begin_read(a->first, a->second));
  EXPECT_TRUE((*peer)->live(b->first, b->second));

  auto c = (*table)->add();  // the freed slot again, under a new token
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->first, a->first);
  EXPECT_NE(c->second, a->second);
  EXPECT_FALSE((*peer)->live(a->first, a->second));
  ASSERT_TRUE((*table)->add().ok());
  ASSERT_TRUE((*table)->add().ok());
  EXPECT_EQ((*table)->add().status().code(), absl::StatusCode::kResourceExhausted);

  const std::string name = (*table)->name();
  table->reset();
  EXPECT_FALSE((*peer)->exporter_alive()) << "the exporting transport is gone";
  EXPECT_EQ(PeerTokenTable::open(name).status().code(), absl::StatusCode::kUnavailable);
}

TEST(CudaIpcLiveness, UnexposeWaitsForCountedCopiesThenRetiresTheSlot) {
  auto table = ExporterTokenTable::create(2);
  ASSERT_TRUE(table.ok());
  auto peer = PeerTokenTable::open((*table)->name());
  ASSERT_TRUE(peer.ok());
  auto r = (*table)->add();
  ASSERT_TRUE(r.ok());
  ASSERT_TRUE((*peer)->begin_read(r->first, r->second));
  std::thread reader([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(150));
    EXPECT_FALSE((*peer)->end_read(r->first, r->second)) << "unexposed while it read";
  });
  const auto t0 = std::chrono::steady_clock::now();
  (*table)->remove(r->first, absl::Seconds(5));
  const auto waited = std::chrono::steady_clock::now() - t0;
  reader.join();
  EXPECT_GE(waited, std::chrono::milliseconds(140));
  EXPECT_LT(waited, std::chrono::seconds(2));

  // A puller that never counts out (killed mid-copy): unexposing gives up after the grace and
  // never hands that slot out again.
  auto s = (*table)->add();
  ASSERT_TRUE(s.ok());
  ASSERT_TRUE((*peer)->begin_read(s->first, s->second));
  const auto t1 = std::chrono::steady_clock::now();
  (*table)->remove(s->first, absl::Milliseconds(100));
  EXPECT_LT(std::chrono::steady_clock::now() - t1, std::chrono::seconds(1));
  auto again = (*table)->add();
  ASSERT_TRUE(again.ok());
  EXPECT_NE(again->first, s->first);
  EXPECT_EQ((*table)->add().status().code(), absl::StatusCode::kResourceExhausted);
}

TEST(CudaIpcLiveness, ExporterKilledIsGoneAtOnce) {
  int ready[2];
  ASSERT_EQ(pipe(ready), 0);
  const pid_t pid = fork();
  if (pid == 0) {
    auto table = ExporterTokenTable::create(8);
    if (!table.ok()) _exit(3);
    auto r = (*table)->add();
    const std::string msg =
        (*table)->name() + " " + std::to_string(r->first) + " " + std::to_string(r->second) + "\n";
    if (write(ready[1], msg.data(), msg.size()) != static_cast<ssize_t>(msg.size())) _exit(4);
    pause();
    _exit(0);
  }
  close(ready[1]);
  struct Reaper {  // whatever fails below, the child must not outlive the test
    pid_t pid;
    ~Reaper() {
      kill(pid, SIGKILL);
      waitpid(pid, nullptr, 0);
    }
  } reaper{pid};
  char buf[256] = {};
  ASSERT_GT(read(ready[0], buf, sizeof(buf) - 1), 0);
  close(ready[0]);
  char name[200] = {};
  uint32_t slot = 0;
  unsigned long long token = 0;
  ASSERT_EQ(sscanf(buf, "%199s %u %llu", name, &slot, &token), 3);
  auto peer = PeerTokenTable::open(name);
  ASSERT_TRUE(peer.ok()) << peer.status();
  EXPECT_TRUE((*peer)->exporter_alive());
  EXPECT_TRUE((*peer)->live(slot, token));

  kill(pid, SIGKILL);
  // Not reaped yet: a zombie holds no files, so the lock is gone already (a pid check would
  // still see the process).
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while ((*peer)->exporter_alive() && std::chrono::steady_clock::now() < give_up)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  EXPECT_FALSE((*peer)->exporter_alive());
  EXPECT_TRUE((*peer)->live(slot, token)) << "tokens cannot tell a dead exporter: the lock does";
  (*peer)->unlink_dead();
  EXPECT_EQ(PeerTokenTable::open(name).status().code(), absl::StatusCode::kUnavailable);
}

TEST(CudaIpcLiveness, NewExporterRemovesTablesKilledExportersLeftBehind) {
  const pid_t pid = fork();
  if (pid == 0) {  // an exporter killed before it could unlink its table
    auto table = ExporterTokenTable::create(8);
    if (!table.ok()) _exit(3);
    kill(getpid(), SIGKILL);
  }
  waitpid(pid, nullptr, 0);
  // Its table is the newest one left by that pid.
  const std::string prefix = "dllm-cuda-ipc-" + absl::StrCat(absl::Hex(pid)) + "-";
  std::string left;
  for (const auto& e : std::filesystem::directory_iterator("/dev/shm"))
    if (e.path().filename().string().rfind(prefix, 0) == 0) left = e.path().string();
  ASSERT_FALSE(left.empty()) << "the killed exporter left no table";
  auto young = ExporterTokenTable::create(2);  // the dead table is too young to be swept
  EXPECT_TRUE(std::filesystem::exists(left));
  const timespec old_times[2] = {{time(nullptr) - 120, 0}, {time(nullptr) - 120, 0}};
  ASSERT_EQ(utimensat(AT_FDCWD, left.c_str(), old_times, 0), 0);
  auto sweeper = ExporterTokenTable::create(2);
  ASSERT_TRUE(sweeper.ok());
  EXPECT_FALSE(std::filesystem::exists(left));
  ASSERT_TRUE(young.ok());
  EXPECT_TRUE(PeerTokenTable::open((*young)->name()).ok()) << "a live table stays";
}

TEST(CudaIpcLiveness, NamesAndSizesComeFromTheTableNotTheDescriptor) {
  EXPECT_EQ(PeerTokenTable::open("/etc-passwd").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(PeerTokenTable::open("/dllm-cuda-ipc-../../x").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(PeerTokenTable::open("/dllm-cuda-ipc-0-0").status().code(),
            absl::StatusCode::kUnavailable);
  // An object of the right name but no table's size (reading past it would be SIGBUS).
  const std::string name = "/dllm-cuda-ipc-" + std::to_string(getpid()) + "-badf00d";
  const int fd = shm_open(name.c_str(), O_CREAT | O_EXCL | O_RDWR, 0600);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(ftruncate(fd, 12), 0);
  EXPECT_EQ(PeerTokenTable::open(name).status().code(), absl::StatusCode::kUnavailable);
  close(fd);
  shm_unlink(name.c_str());
  EXPECT_EQ(ExporterTokenTable::create(0).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace dllm::transfer

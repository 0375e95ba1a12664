// NCCL under the pair channel interface. Calls run on the channel's GPU whatever the calling
// thread's current device (connection threads start on device 0).
//
// Messages are issued from start_send/start_recv and poll(): a message in device memory is
// enqueued at once behind the ones before it; a staged one (host memory) waits until nothing is
// in flight, since it shares the staging buffer and its host copy must not wait on the stream
// (a copy to or from pageable memory blocks the thread until the stream reaches it, and a stream
// stuck on a dead peer would then block the thread for good). A non-blocking communicator may
// answer ncclInProgress while it enqueues (the first message to a peer connects it); the
// message's event is recorded once the communicator says the enqueue is done.
#include "common/transfer/nccl_pair_channel.h"

#include <cstdlib>
#include <cstring>
#include <deque>

#include "absl/strings/str_cat.h"
#include "common/transfer/nccl_library.h"

namespace dllm::transfer {
namespace {

constexpr int kMinNcclVersion = 21400;  // non-blocking communicators

absl::Status cuda_error(cudaError_t e, const char* what) {
  return absl::UnavailableError(absl::StrCat("nccl: ", what, ": ", cudaGetErrorString(e)));
}

class DeviceScope {
 public:
  explicit DeviceScope(int device) {
    if (cudaGetDevice(&previous_) != cudaSuccess) previous_ = -1;
    if (previous_ != device) cudaSetDevice(device);
  }
  ~DeviceScope() {
    if (previous_ >= 0) cudaSetDevice(previous_);
  }

 private:
  int previous_ = -1;
};

// Where a buffer lives, as far as NCCL is concerned.
enum class Residence { kThisDevice, kStaged, kOtherDevice };

Residence residence(const void* p, int device, int* other) {
  cudaPointerAttributes attr{};
  if (cudaPointerGetAttributes(&attr, p) != cudaSuccess) {
    cudaGetLastError();  // not sticky; plain host memory on old runtimes
    return Residence::kStaged;
  }
  if (attr.type != cudaMemoryTypeDevice) return Residence::kStaged;  // host, managed
  *other = attr.device;
  return attr.device == device ? Residence::kThisDevice : Residence::kOtherDevice;
}

struct Message {
  bool send = false;
  uint8_t* data = nullptr;
  size_t bytes = 0;
  bool staged = false;
  bool enqueued = false;  // NCCL has it on the stream (and `event` is recorded)
  cudaEvent_t event = nullptr;
};

class NcclPairChannel final : public PairChannel {
 public:
  NcclPairChannel(const NcclLibrary* lib, int device) : lib_(lib), device_(device) {}
  ~NcclPairChannel() override {
    abort();
    DeviceScope scope(device_);
    for (cudaEvent_t e : spare_events_) cudaEventDestroy(e);
    if (stream_ != nullptr) cudaStreamDestroy(stream_);
  }

  // Starts joining as `rank` of the communicator `id` names.
  absl::Status init(const ncclUniqueId& id, int rank) {
    DeviceScope scope(device_);
    if (cudaError_t e = cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking);
        e != cudaSuccess)
      return cuda_error(e, "cudaStreamCreate");
    peer_ = 1 - rank;
    ncclConfig_t config = NCCL_CONFIG_INITIALIZER;
    config.blocking = 0;
    const ncclResult_t r = lib_->comm_init_rank_config(&comm_, 2, id, rank, &config);
    if (r != ncclSuccess && r != ncclInProgress) {
      comm_ = nullptr;
      return nccl_error(r, "ncclCommInitRankConfig");
    }
    return absl::OkStatus();
  }

  absl::StatusOr<bool> ready() override {
    if (!failed_.ok()) return failed_;
    if (ready_) return true;
    DeviceScope scope(device_);
    ncclResult_t state = ncclSuccess;
    const ncclResult_t r = lib_->comm_get_async_error(comm_, &state);
    if (r != ncclSuccess) return fail(nccl_error(r, "ncclCommGetAsyncError"));
    if (state == ncclInProgress) return false;
    if (state != ncclSuccess) return fail(nccl_error(state, "setting up the communicator"));
    ready_ = true;
    return true;
  }

  absl::Status start_send(const void* src, size_t bytes) override {
    return start(true, static_cast<uint8_t*>(const_cast<void*>(src)), bytes);
  }
  absl::Status start_recv(void* dst, size_t bytes) override {
    return start(false, static_cast<uint8_t*>(dst), bytes);
  }

  absl::StatusOr<bool> poll() override {
    if (!failed_.ok()) return failed_;
    DeviceScope scope(device_);
    if (absl::Status s = drive(); !s.ok()) return fail(s);
    return pending_.empty() && in_flight_.empty();
  }

  void abort() override {
    if (comm_ == nullptr) return;
    DeviceScope scope(device_);
    lib_->comm_abort(comm_);  // kernels in flight stop
    comm_ = nullptr;
    cudaStreamSynchronize(stream_);  // nothing on the stream writes dst after this
    cudaGetLastError();
    for (Message& m : in_flight_)
      if (m.event != nullptr) spare_events_.push_back(m.event);
    in_flight_.clear();
    pending_.clear();
    if (staging_ != nullptr) cudaFree(staging_);
    staging_ = nullptr;
    staging_bytes_ = 0;
    if (failed_.ok()) failed_ = absl::UnavailableError("nccl: the pair was aborted");
  }

 private:
  absl::Status nccl_error(ncclResult_t r, const char* what) const {
    const char* detail = comm_ != nullptr ? lib_->get_last_error(comm_) : nullptr;
    return absl::UnavailableError(absl::StrCat(
        "nccl: ", what, ": ", lib_->get_error_string(r), detail != nullptr && *detail ? " (" : "",
        detail != nullptr ? detail : "", detail != nullptr && *detail ? ")" : ""));
  }

  absl::Status fail(absl::Status why) {
    if (failed_.ok()) failed_ = std::move(why);
    return failed_;
  }

  absl::Status start(bool send, uint8_t* data, size_t bytes) {
    if (!failed_.ok()) return failed_;
    if (!ready_) return absl::FailedPreconditionError("nccl: the pair is not set up yet");
    int other = -1;
    const Residence where = residence(data, device_, &other);
    if (where == Residence::kOtherDevice)
      return fail(absl::InvalidArgumentError(absl::StrCat("nccl: the buffer is on GPU ", other,
                                                          "; this transport uses GPU ", device_)));
    pending_.push_back(
        {.send = send, .data = data, .bytes = bytes, .staged = where == Residence::kStaged});
    DeviceScope scope(device_);
    if (absl::Status s = drive(); !s.ok()) return fail(s);
    return absl::OkStatus();
  }

  absl::Status drive() {
    if (absl::Status s = retire(); !s.ok()) return s;
    if (absl::Status s = issue(); !s.ok()) return s;
    ncclResult_t state = ncclSuccess;
    if (ncclResult_t r = lib_->comm_get_async_error(comm_, &state); r != ncclSuccess)
      return nccl_error(r, "ncclCommGetAsyncError");
    if (state != ncclSuccess && state != ncclInProgress) return nccl_error(state, "the pair");
    return absl::OkStatus();
  }

  // Completes the messages at the front that the stream has finished.
  absl::Status retire() {
    while (!in_flight_.empty()) {
      Message& m = in_flight_.front();
      if (!m.enqueued) {
        ncclResult_t state = ncclSuccess;
        if (ncclResult_t r = lib_->comm_get_async_error(comm_, &state); r != ncclSuccess)
          return nccl_error(r, "ncclCommGetAsyncError");
        if (state == ncclInProgress) return absl::OkStatus();
        if (state != ncclSuccess) return nccl_error(state, m.send ? "ncclSend" : "ncclRecv");
        if (absl::Status s = record(m); !s.ok()) return s;
      }
      const cudaError_t q = cudaEventQuery(m.event);
      if (q == cudaErrorNotReady) return absl::OkStatus();
      if (q != cudaSuccess) return cuda_error(q, "the pair's stream");
      if (m.staged && !m.send) {
        // Nothing is queued behind a staged message: this copy does not wait on a peer.
        cudaError_t e = cudaMemcpyAsync(m.data, staging_, m.bytes, cudaMemcpyDefault, stream_);
        if (e == cudaSuccess) e = cudaStreamSynchronize(stream_);
        if (e != cudaSuccess) return cuda_error(e, "copying out of the staging buffer");
      }
      spare_events_.push_back(m.event);
      in_flight_.pop_front();
    }
    return absl::OkStatus();
  }

  // Puts the pending messages on the stream, in order, as far as staging allows.
  absl::Status issue() {
    while (!pending_.empty()) {
      Message m = pending_.front();
      if (!in_flight_.empty() && (m.staged || in_flight_.back().staged)) break;
      if (!in_flight_.empty() && !in_flight_.back().enqueued) break;  // one NCCL call at a time
      void* buffer = m.data;
      if (m.staged) {
        if (absl::Status s = ensure_staging(m.bytes); !s.ok()) return s;
        buffer = staging_;
        if (m.send) {
          // The stream is idle (nothing in flight): this copy does not wait on a peer.
          if (cudaError_t e =
                  cudaMemcpyAsync(staging_, m.data, m.bytes, cudaMemcpyDefault, stream_);
              e != cudaSuccess)
            return cuda_error(e, "copying into the staging buffer");
        }
      }
      const ncclResult_t r = m.send ? lib_->send(buffer, m.bytes, ncclUint8, peer_, comm_, stream_)
                                    : lib_->recv(buffer, m.bytes, ncclUint8, peer_, comm_, stream_);
      if (r != ncclSuccess && r != ncclInProgress)
        return nccl_error(r, m.send ? "ncclSend" : "ncclRecv");
      pending_.pop_front();
      m.event = take_event();
      if (m.event == nullptr) return absl::UnavailableError("nccl: cudaEventCreate failed");
      if (r == ncclSuccess) {
        if (absl::Status s = record(m); !s.ok()) return s;
      }
      in_flight_.push_back(m);
    }
    return absl::OkStatus();
  }

  absl::Status record(Message& m) {
    if (cudaError_t e = cudaEventRecord(m.event, stream_); e != cudaSuccess)
      return cuda_error(e, "cudaEventRecord");
    m.enqueued = true;
    return absl::OkStatus();
  }

  cudaEvent_t take_event() {
    if (!spare_events_.empty()) {
      cudaEvent_t e = spare_events_.back();
      spare_events_.pop_back();
      return e;
    }
    cudaEvent_t e = nullptr;
    if (cudaEventCreateWithFlags(&e, cudaEventDisableTiming) != cudaSuccess) return nullptr;
    return e;
  }

  absl::Status ensure_staging(size_t bytes) {
    if (staging_bytes_ >= bytes) return absl::OkStatus();
    if (staging_ != nullptr) cudaFree(staging_);  // nothing in flight uses it (issue() checks)
    staging_ = nullptr;
    staging_bytes_ = 0;
    if (cudaError_t e = cudaMalloc(&staging_, bytes); e != cudaSuccess) {
      staging_ = nullptr;
      return cuda_error(e, "allocating the staging buffer");
    }
    staging_bytes_ = bytes;
    return absl::OkStatus();
  }

  const NcclLibrary* lib_;
  const int device_;
  int peer_ = 0;
  ncclComm_t comm_ = nullptr;
  cudaStream_t stream_ = nullptr;
  bool ready_ = false;
  absl::Status failed_;
  std::deque<Message> pending_, in_flight_;
  std::vector<cudaEvent_t> spare_events_;
  void* staging_ = nullptr;
  size_t staging_bytes_ = 0;
};

class NcclPairChannelFactory final : public PairChannelFactory {
 public:
  NcclPairChannelFactory(const NcclLibrary* lib, int device) : lib_(lib), device_(device) {}

  bool device_memory() const override { return true; }

  absl::Status check_buffer(const void* p, size_t) const override {
    DeviceScope scope(device_);
    int other = -1;
    if (residence(p, device_, &other) == Residence::kOtherDevice)
      return absl::InvalidArgumentError(absl::StrCat("nccl: the buffer is on GPU ", other,
                                                     "; this transport uses GPU ", device_));
    return absl::OkStatus();
  }

  absl::StatusOr<std::unique_ptr<PairChannel>> create_first(std::string* bootstrap) override {
    ncclUniqueId id;
    {
      DeviceScope scope(device_);
      if (ncclResult_t r = lib_->get_unique_id(&id); r != ncclSuccess)
        return absl::UnavailableError(
            absl::StrCat("nccl: ncclGetUniqueId: ", lib_->get_error_string(r)));
    }
    bootstrap->assign(id.internal, sizeof(id.internal));
    return start(id, 0);
  }

  absl::StatusOr<std::unique_ptr<PairChannel>> join(std::string_view bootstrap) override {
    ncclUniqueId id;
    if (bootstrap.size() != sizeof(id.internal))
      return absl::UnavailableError("nccl: malformed bootstrap bytes (not an ncclUniqueId)");
    std::memcpy(id.internal, bootstrap.data(), sizeof(id.internal));
    return start(id, 1);
  }

 private:
  absl::StatusOr<std::unique_ptr<PairChannel>> start(const ncclUniqueId& id, int rank) {
    auto channel = std::make_unique<NcclPairChannel>(lib_, device_);
    if (absl::Status s = channel->init(id, rank); !s.ok()) return s;
    return channel;
  }

  const NcclLibrary* lib_;
  const int device_;
};

}  // namespace

absl::StatusOr<std::shared_ptr<PairChannelFactory>> make_nccl_pair_channel_factory(
    const TransportOptions& options) {
  setenv("NCCL_NVLS_ENABLE", "0", /*overwrite=*/0);
  absl::StatusOr<const NcclLibrary*> lib = NcclLibrary::load();
  if (!lib.ok()) return lib.status();
  int version = 0;
  if ((*lib)->get_version(&version) != ncclSuccess || version < kMinNcclVersion)
    return absl::FailedPreconditionError(
        absl::StrCat("nccl: libnccl ", version, " is too old (non-blocking communicators need ",
                     kMinNcclVersion, ")"));
  int device = options.nccl_device;
  if (device < 0) {
    if (cudaError_t e = cudaGetDevice(&device); e != cudaSuccess) {
      cudaGetLastError();
      return absl::FailedPreconditionError(
          absl::StrCat("nccl: no usable GPU: ", cudaGetErrorString(e)));
    }
  }
  int count = 0;
  if (cudaError_t e = cudaGetDeviceCount(&count); e != cudaSuccess) {
    cudaGetLastError();
    return absl::FailedPreconditionError(
        absl::StrCat("nccl: cannot count GPUs: ", cudaGetErrorString(e)));
  }
  if (device >= count)
    return absl::FailedPreconditionError(
        absl::StrCat("nccl: GPU ", device, " does not exist (", count, " here)"));
  return std::make_shared<NcclPairChannelFactory>(*lib, device);
}

}  // namespace dllm::transfer

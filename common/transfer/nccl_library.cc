#include "common/transfer/nccl_library.h"

#include <dlfcn.h>

#include <cstdlib>
#include <mutex>
#include <string>

#include "absl/strings/str_cat.h"

namespace dllm::transfer {
namespace {

absl::StatusOr<const NcclLibrary*> open_library() {
  std::string tried;
  void* handle = nullptr;
  std::string candidates[] = {"libnccl.so.2",
#ifdef DLLM_NCCL_LIBRARY_PATH
                              DLLM_NCCL_LIBRARY_PATH,
#endif
                              ""};
  if (const char* named = std::getenv("DLLM_NCCL_LIBRARY"); named != nullptr && *named != '\0')
    candidates[0] = named;
  for (const std::string& name : candidates) {
    if (name.empty()) continue;
    handle = dlopen(name.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (handle != nullptr) break;
    const char* why = dlerror();
    absl::StrAppend(&tried, tried.empty() ? "" : "; ", why != nullptr ? why : name);
  }
  if (handle == nullptr)
    return absl::FailedPreconditionError(
        absl::StrCat("nccl: cannot load libnccl (", tried,
                     "); install NCCL or set DLLM_NCCL_LIBRARY to its libnccl.so.2"));
  auto* lib = new NcclLibrary();  // never unloaded: communicators may live until exit
  bool missing = false;
  std::string which;
  auto bind = [&](auto& fn, const char* symbol) {
    fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(dlsym(handle, symbol));
    if (fn == nullptr) {
      missing = true;
      absl::StrAppend(&which, which.empty() ? "" : ", ", symbol);
    }
  };
  bind(lib->get_version, "ncclGetVersion");
  bind(lib->get_unique_id, "ncclGetUniqueId");
  bind(lib->comm_init_rank_config, "ncclCommInitRankConfig");
  bind(lib->comm_get_async_error, "ncclCommGetAsyncError");
  bind(lib->comm_abort, "ncclCommAbort");
  bind(lib->send, "ncclSend");
  bind(lib->recv, "ncclRecv");
  bind(lib->get_error_string, "ncclGetErrorString");
  bind(lib->get_last_error, "ncclGetLastError");
  if (missing) {
    delete lib;
    return absl::FailedPreconditionError(
        absl::StrCat("nccl: libnccl is too old (it lacks ", which, ")"));
  }
  return lib;
}

}  // namespace

absl::StatusOr<const NcclLibrary*> NcclLibrary::load() {
  static const absl::StatusOr<const NcclLibrary*>* loaded =
      new absl::StatusOr<const NcclLibrary*>(open_library());
  return *loaded;
}

}  // namespace dllm::transfer

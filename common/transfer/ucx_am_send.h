// Active-message plumbing: one send whose header stays alive until UCX is done with it (UCX 1.13
// reads the header lazily, e.g. when a rendezvous starts), with a completion callback.
#pragma once

#include <ucp/api/ucp.h>

#include <functional>
#include <string>

namespace dllm::transfer {

// `done` runs exactly once on the progress thread: inside this call if the send completed or
// failed at once, else from UCX's completion callback. `data` must stay readable until then.
// `*in_flight` counts the sends UCX still holds (shutdown waits for 0 before freeing what the
// callbacks touch).
void send_active_message(ucp_ep_h ep, unsigned id, std::string header, const void* data,
                         size_t bytes, uint32_t flags, int* in_flight,
                         std::function<void(ucs_status_t)> done);

// Removes the handler of active-message `id` (at shutdown, before its owner is freed).
void clear_active_message_handler(ucp_worker_h worker, unsigned id);

}  // namespace dllm::transfer

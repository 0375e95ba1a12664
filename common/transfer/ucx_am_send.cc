#include "common/transfer/ucx_am_send.h"

#include <memory>

namespace dllm::transfer {
namespace {

struct PendingSend {
  int* in_flight = nullptr;
  std::string header;
  std::function<void(ucs_status_t)> done;
};

void on_sent(void* request, ucs_status_t status, void* user_data) {
  std::unique_ptr<PendingSend> send(static_cast<PendingSend*>(user_data));
  // Free before `done`: a request must only be released once UCX has called back.
  ucp_request_free(request);
  --*send->in_flight;
  if (send->done) send->done(status);
}

}  // namespace

void send_active_message(ucp_ep_h ep, unsigned id, std::string header, const void* data,
                         size_t bytes, uint32_t flags, int* in_flight,
                         std::function<void(ucs_status_t)> done) {
  auto send = std::make_unique<PendingSend>();
  send->in_flight = in_flight;
  send->header = std::move(header);
  send->done = std::move(done);
  ucp_request_param_t param{};
  param.op_attr_mask =
      UCP_OP_ATTR_FIELD_CALLBACK | UCP_OP_ATTR_FIELD_USER_DATA | UCP_OP_ATTR_FIELD_FLAGS;
  param.cb.send = on_sent;
  param.user_data = send.get();
  param.flags = flags;
  ucs_status_ptr_t request =
      ucp_am_send_nbx(ep, id, send->header.data(), send->header.size(), data, bytes, &param);
  if (UCS_PTR_IS_PTR(request)) {
    ++*in_flight;
    (void)send.release();  // owned by on_sent now
    return;
  }
  if (send->done) send->done(UCS_PTR_STATUS(request));
}

void clear_active_message_handler(ucp_worker_h worker, unsigned id) {
  ucp_am_handler_param_t param{};
  param.field_mask = UCP_AM_HANDLER_PARAM_FIELD_ID | UCP_AM_HANDLER_PARAM_FIELD_CB;
  param.id = id;
  param.cb = nullptr;
  (void)ucp_worker_set_am_recv_handler(worker, &param);
}

}  // namespace dllm::transfer

// Carries a client's cancellation (or disconnect) to the calls the router made for it: the sync
// gRPC API has no cancellation callback, so one thread polls the registered server contexts and
// cancels the matching outbound ClientContexts (which cancels the work on the nodes).
#pragma once

#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>

#include "grpcpp/client_context.h"
#include "grpcpp/server_context.h"

namespace dllm::router {

class CancelPropagator {
 public:
  CancelPropagator();
  ~CancelPropagator();

  // While the returned guard lives, `outbound` is cancelled as soon as `inbound` is.
  class Link {
   public:
    Link(CancelPropagator* owner, grpc::ServerContext* inbound, grpc::ClientContext* outbound);
    ~Link();
    Link(const Link&) = delete;
    Link& operator=(const Link&) = delete;

   private:
    CancelPropagator* owner_;
    grpc::ClientContext* outbound_;
  };

 private:
  void loop();

  std::mutex mu_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::map<grpc::ClientContext*, grpc::ServerContext*> links_;
  std::thread thread_;
};

}  // namespace dllm::router

// A small HTTP/1.1 server on POSIX sockets, used by the router's OpenAI-compatible front door and
// by every process's /metrics page: one thread per connection (bounded), Content-Length request
// bodies, keep-alive, and responses either whole (Content-Length) or streamed (chunked on
// HTTP/1.1, close-delimited on 1.0).
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace dllm::http {

struct HttpRequest {
  std::string method;                                        // "GET", "POST", ...
  std::string target;                                        // as sent: path plus optional "?query"
  std::string path;                                          // target without the query
  int minor_version = 1;                                     // HTTP/1.<minor>
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased
  std::string body;

  // The first header of that (lower-case) name, or "" when absent.
  std::string header(absl::string_view name) const;
};

// How a handler answers one request on one connection. Either respond() once, or
// start_stream() then any number of write() and end_stream().
class HttpResponder {
 public:
  HttpResponder(int fd, const HttpRequest& request, bool keep_alive)
      : fd_(fd), request_(request), keep_alive_(keep_alive) {}

  // The whole response with Content-Length. `headers` are extra "Name: value" pairs.
  bool respond(int status, absl::string_view content_type, absl::string_view body,
               const std::vector<std::pair<std::string, std::string>>& headers = {});
  // Status line and headers of a streamed response (no Content-Length).
  bool start_stream(int status, absl::string_view content_type,
                    const std::vector<std::pair<std::string, std::string>>& headers = {});
  // One piece of the streamed body (sent at once); false when the client is gone.
  bool write(absl::string_view data);
  bool end_stream();

  // True once the client closed or reset its side of the connection; waits up to `wait` for
  // that to happen (a handler's watcher polls this to cancel work nobody will read).
  bool client_gone(std::chrono::milliseconds wait) const;
  bool responded() const { return state_ != State::kNone; }
  // Whether the connection may serve another request after this one.
  bool keep_alive() const { return keep_alive_ && !broken_.load(); }

 private:
  enum class State { kNone, kStreaming, kDone };
  bool send_all(absl::string_view data);
  std::string head(int status, absl::string_view content_type,
                   const std::vector<std::pair<std::string, std::string>>& headers,
                   absl::string_view length_or_encoding) const;

  int fd_;
  const HttpRequest& request_;
  bool keep_alive_;
  bool chunked_ = false;
  std::atomic<bool> broken_{false};  // a send failed (read by a hang-up watcher thread)
  State state_ = State::kNone;
};

using HttpHandler = std::function<void(const HttpRequest&, HttpResponder&)>;
// The body (and its content type) of an error the server answers on its own: 400 malformed
// request, 413 body too large, 411 no length, 431 headers too large, 503 too many connections.
using HttpErrorBody =
    std::function<std::pair<std::string, std::string>(int status, const std::string& message)>;

struct HttpServerOptions {
  size_t max_body_bytes = 4 << 20;
  size_t max_header_bytes = 64 << 10;
  int max_connections = 64;
  // A connection waiting this long for (the rest of) a request is closed.
  std::chrono::milliseconds idle_timeout{30000};
  HttpErrorBody error_body;  // default: text/plain message
};

class HttpServer {
 public:
  // Listens on HOST:PORT (IPv4 literal, [IPv6] literal, "localhost"; port 0 picks a free one)
  // and serves `handler` until destroyed.
  static absl::StatusOr<std::unique_ptr<HttpServer>> start(const std::string& listen,
                                                           HttpServerOptions options,
                                                           HttpHandler handler);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // HOST:PORT actually bound (the port filled in when 0 was asked).
  const std::string& address() const { return address_; }
  int port() const { return port_; }
  // Stops accepting, wakes every connection and joins their threads. Idempotent.
  void stop();

 private:
  struct Connection {
    int fd = -1;
    std::thread thread;
    std::atomic<bool> finished{false};
  };

  HttpServer(int listen_fd, std::string address, int port, HttpServerOptions options,
             HttpHandler handler);
  void accept_loop();
  void serve_connection(Connection* connection);
  void reap_finished_locked();
  void refuse(int fd, int status, const std::string& message);

  const int listen_fd_;
  const std::string address_;
  const int port_;
  const HttpServerOptions options_;
  const HttpHandler handler_;
  std::atomic<bool> stopping_{false};
  std::mutex mu_;
  std::list<std::unique_ptr<Connection>> connections_;  // guarded by mu_
  std::thread acceptor_;
};

}  // namespace dllm::http

// The HTTP/1.1 server: accept loop, per-connection request parsing, response framing.
#include "common/http/http_server.h"

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace dllm::http {
namespace {

using Clock = std::chrono::steady_clock;
using Headers = std::vector<std::pair<std::string, std::string>>;

absl::string_view reason_phrase(int status) {
  static constexpr std::pair<int, const char*> kPhrases[] = {
      {100, "Continue"},
      {200, "OK"},
      {400, "Bad Request"},
      {401, "Unauthorized"},
      {403, "Forbidden"},
      {404, "Not Found"},
      {405, "Method Not Allowed"},
      {408, "Request Timeout"},
      {411, "Length Required"},
      {413, "Content Too Large"},
      {429, "Too Many Requests"},
      {431, "Request Header Fields Too Large"},
      {499, "Client Closed Request"},
      {500, "Internal Server Error"},
      {501, "Not Implemented"},
      {503, "Service Unavailable"},
      {504, "Gateway Timeout"},
      {505, "HTTP Version Not Supported"}};
  for (const auto& [code, phrase] : kPhrases)
    if (code == status) return phrase;
  return "Unknown";
}

// A protocol-level failure: the status to answer with, then the connection closes.
struct ReadFailure {
  int status = 0;  // 0: nothing to answer (the client went away or stayed silent)
  std::string message;
};

// Reads more bytes into `buffer`, waiting in short slices so that stop() is noticed.
// Returns false on EOF, error, timeout or stop.
bool read_more(int fd, std::string* buffer, Clock::time_point deadline,
               const std::atomic<bool>& stopping) {
  char chunk[16384];
  while (!stopping.load()) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd, POLLIN, 0};
    const int ready = poll(&p, 1, static_cast<int>(std::min<int64_t>(left.count(), 100)));
    if (ready < 0 && errno != EINTR) return false;
    if (ready <= 0) continue;
    const ssize_t n = recv(fd, chunk, sizeof chunk, 0);
    if (n > 0) {
      buffer->append(chunk, static_cast<size_t>(n));
      return true;
    }
    if (n == 0 || (errno != EINTR && errno != EAGAIN)) return false;
  }
  return false;
}

bool send_bytes(int fd, absl::string_view data) {
  while (!data.empty()) {
    const ssize_t n = send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

// Parses the request line and headers (`head` excludes the blank line).
absl::StatusOr<HttpRequest> parse_head(absl::string_view head) {
  std::vector<absl::string_view> lines = absl::StrSplit(head, "\r\n");
  std::vector<absl::string_view> parts = absl::StrSplit(lines[0], ' ');
  if (parts.size() != 3 || parts[0].empty() || parts[1].empty())
    return absl::InvalidArgumentError("malformed request line");
  HttpRequest r;
  r.method = std::string(parts[0]);
  r.target = std::string(parts[1]);
  if (parts[2] == "HTTP/1.1") {
    r.minor_version = 1;
  } else if (parts[2] == "HTTP/1.0") {
    r.minor_version = 0;
  } else if (absl::StartsWith(parts[2], "HTTP/")) {
    return absl::UnimplementedError(absl::StrCat("unsupported protocol ", parts[2]));
  } else {
    return absl::InvalidArgumentError("malformed request line");
  }
  r.path = r.target.substr(0, r.target.find('?'));
  for (size_t i = 1; i < lines.size(); ++i) {
    const size_t colon = lines[i].find(':');
    if (colon == absl::string_view::npos || colon == 0)
      return absl::InvalidArgumentError("malformed header line");
    std::string name = absl::AsciiStrToLower(lines[i].substr(0, colon));
    if (name.find_first_of(" \t") != std::string::npos)
      return absl::InvalidArgumentError("malformed header name");
    r.headers.emplace_back(std::move(name),
                           std::string(absl::StripAsciiWhitespace(lines[i].substr(colon + 1))));
  }
  return r;
}

}  // namespace

std::string HttpRequest::header(absl::string_view name) const {
  for (const auto& [key, value] : headers)
    if (key == name) return value;
  return "";
}

bool HttpResponder::send_all(absl::string_view data) {
  if (broken_) return false;
  if (!send_bytes(fd_, data)) broken_ = true;
  return !broken_;
}

std::string HttpResponder::head(int status, absl::string_view content_type, const Headers& headers,
                                absl::string_view length_or_encoding) const {
  std::string out = absl::StrCat("HTTP/1.1 ", status, " ", reason_phrase(status), "\r\n");
  if (!content_type.empty()) absl::StrAppend(&out, "Content-Type: ", content_type, "\r\n");
  for (const auto& [name, value] : headers) absl::StrAppend(&out, name, ": ", value, "\r\n");
  absl::StrAppend(&out, length_or_encoding, "Connection: ", keep_alive_ ? "keep-alive" : "close",
                  "\r\n\r\n");
  return out;
}

bool HttpResponder::respond(int status, absl::string_view content_type, absl::string_view body,
                            const Headers& headers) {
  if (state_ != State::kNone) return false;
  state_ = State::kDone;
  const std::string length = absl::StrCat("Content-Length: ", body.size(), "\r\n");
  std::string message = head(status, content_type, headers, length);
  if (request_.method != "HEAD") message.append(body.data(), body.size());
  return send_all(message);
}

bool HttpResponder::start_stream(int status, absl::string_view content_type,
                                 const Headers& headers) {
  if (state_ != State::kNone) return false;
  state_ = State::kStreaming;
  chunked_ = request_.minor_version >= 1;
  if (!chunked_) keep_alive_ = false;  // HTTP/1.0: the body ends when the connection does
  return send_all(
      head(status, content_type, headers, chunked_ ? "Transfer-Encoding: chunked\r\n" : ""));
}

bool HttpResponder::write(absl::string_view data) {
  if (state_ != State::kStreaming) return false;
  if (data.empty()) return !broken_;  // an empty chunk would end a chunked body
  if (!chunked_) return send_all(data);
  char size[20];
  std::snprintf(size, sizeof size, "%zx\r\n", data.size());
  return send_all(absl::StrCat(size, data, "\r\n"));
}

bool HttpResponder::end_stream() {
  if (state_ != State::kStreaming) return false;
  state_ = State::kDone;
  return chunked_ ? send_all("0\r\n\r\n") : !broken_;
}

bool HttpResponder::client_gone(std::chrono::milliseconds wait) const {
  if (broken_) return true;
  pollfd p{fd_, POLLRDHUP, 0};
  const int ready = poll(&p, 1, static_cast<int>(wait.count()));
  return ready > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL)) != 0;
}

absl::StatusOr<std::unique_ptr<HttpServer>> HttpServer::start(const std::string& listen,
                                                              HttpServerOptions options,
                                                              HttpHandler handler) {
  const size_t colon = listen.rfind(':');
  int port = 0;
  if (colon == std::string::npos || colon == 0 ||
      !absl::SimpleAtoi(listen.substr(colon + 1), &port) || port < 0 || port > 65535)
    return absl::InvalidArgumentError(
        absl::StrCat("HTTP listen address must be HOST:PORT, got '", listen, "'"));
  std::string host = listen.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  if (const int rc = getaddrinfo(host.c_str(), listen.substr(colon + 1).c_str(), &hints, &found);
      rc != 0)
    return absl::InvalidArgumentError(
        absl::StrCat("HTTP listen address '", listen, "': ", gai_strerror(rc)));
  int fd = -1;
  std::string why = "no address";
  for (addrinfo* a = found; a != nullptr && fd < 0; a = a->ai_next) {
    fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) continue;
    const int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, a->ai_addr, a->ai_addrlen) != 0 || ::listen(fd, 128) != 0) {
      why = std::strerror(errno);
      close(fd);
      fd = -1;
    }
  }
  freeaddrinfo(found);
  if (fd < 0)
    return absl::UnavailableError(absl::StrCat("cannot listen for HTTP on ", listen, ": ", why));
  sockaddr_storage bound{};
  socklen_t bound_len = sizeof bound;
  getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &bound_len);
  port = ntohs(bound.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port
                                           : reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  if (!options.error_body)
    options.error_body = [](int, const std::string& message) {
      return std::make_pair(std::string("text/plain; charset=utf-8"), message + "\n");
    };
  std::string address = absl::StrCat(listen.substr(0, colon), ":", port);
  return std::unique_ptr<HttpServer>(
      new HttpServer(fd, std::move(address), port, std::move(options), std::move(handler)));
}

HttpServer::HttpServer(int listen_fd, std::string address, int port, HttpServerOptions options,
                       HttpHandler handler)
    : listen_fd_(listen_fd),
      address_(std::move(address)),
      port_(port),
      options_(std::move(options)),
      handler_(std::move(handler)) {
  acceptor_ = std::thread([this] { accept_loop(); });
}

HttpServer::~HttpServer() { stop(); }

void HttpServer::stop() {
  if (stopping_.exchange(true)) return;
  if (acceptor_.joinable()) acceptor_.join();
  close(listen_fd_);
  std::list<std::unique_ptr<Connection>> connections;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& c : connections_)
      if (c->fd >= 0) shutdown(c->fd, SHUT_RDWR);  // wakes reads and fails writes
    connections.swap(connections_);
  }
  for (auto& c : connections) c->thread.join();
}

void HttpServer::reap_finished_locked() {
  for (auto it = connections_.begin(); it != connections_.end();) {
    if ((*it)->finished.load()) {
      (*it)->thread.join();
      it = connections_.erase(it);
    } else {
      ++it;
    }
  }
}

void HttpServer::refuse(int fd, int status, const std::string& message) {
  const auto [type, body] = options_.error_body(status, message);
  send_bytes(
      fd, absl::StrCat("HTTP/1.1 ", status, " ", reason_phrase(status), "\r\nContent-Type: ", type,
                       "\r\nContent-Length: ", body.size(), "\r\nConnection: close\r\n\r\n", body));
}

void HttpServer::accept_loop() {
  while (!stopping_.load()) {
    pollfd p{listen_fd_, POLLIN, 0};
    if (poll(&p, 1, 100) <= 0) continue;
    const int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    const int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    std::lock_guard<std::mutex> lock(mu_);
    reap_finished_locked();
    if (static_cast<int>(connections_.size()) >= options_.max_connections) {
      refuse(fd, 503, absl::StrCat("too many connections (limit ", options_.max_connections, ")"));
      shutdown(fd, SHUT_WR);
      close(fd);
      continue;
    }
    auto connection = std::make_unique<Connection>();
    connection->fd = fd;
    Connection* c = connection.get();
    connections_.push_back(std::move(connection));
    c->thread = std::thread([this, c] { serve_connection(c); });
  }
}

void HttpServer::serve_connection(Connection* connection) {
  const int fd = connection->fd;
  std::string buffer;  // bytes received and not yet consumed (pipelined requests included)
  ReadFailure failure;
  bool keep_going = true;
  while (keep_going && !stopping_.load()) {
    const Clock::time_point deadline = Clock::now() + options_.idle_timeout;
    size_t head_end;
    while (true) {
      // Empty lines before a request line are allowed (some clients end a body with CRLF).
      while (buffer.starts_with("\r\n")) buffer.erase(0, 2);
      if ((head_end = buffer.find("\r\n\r\n")) != std::string::npos) break;
      if (buffer.size() > options_.max_header_bytes) break;
      if (!read_more(fd, &buffer, deadline, stopping_)) {
        if (!buffer.empty() && Clock::now() >= deadline)
          failure = {408, "timed out waiting for the request"};
        keep_going = false;
        break;
      }
    }
    if (!keep_going) break;
    if (head_end == std::string::npos || head_end > options_.max_header_bytes) {
      failure = {431, absl::StrCat("request headers exceed ", options_.max_header_bytes, " bytes")};
      break;
    }
    absl::StatusOr<HttpRequest> request = parse_head(absl::string_view(buffer).substr(0, head_end));
    if (!request.ok()) {
      failure = {request.status().code() == absl::StatusCode::kUnimplemented ? 505 : 400,
                 std::string(request.status().message())};
      break;
    }
    buffer.erase(0, head_end + 4);
    if (!request->header("transfer-encoding").empty()) {
      failure = {411, "chunked request bodies are not supported; send Content-Length"};
      break;
    }
    size_t length = 0;
    const std::string length_header = request->header("content-length");
    if (!length_header.empty() && !absl::SimpleAtoi(length_header, &length)) {
      failure = {400, absl::StrCat("bad Content-Length '", length_header, "'")};
      break;
    }
    if (length > options_.max_body_bytes) {
      failure = {413, absl::StrCat("request body of ", length, " bytes exceeds the limit of ",
                                   options_.max_body_bytes, " bytes")};
      break;
    }
    if (buffer.size() < length && request->minor_version >= 1 &&
        absl::EqualsIgnoreCase(request->header("expect"), "100-continue") &&
        !send_bytes(fd, "HTTP/1.1 100 Continue\r\n\r\n"))
      break;
    const Clock::time_point body_deadline = Clock::now() + options_.idle_timeout;
    while (buffer.size() < length && keep_going)
      keep_going = read_more(fd, &buffer, body_deadline, stopping_);
    if (!keep_going) break;
    request->body = buffer.substr(0, length);
    buffer.erase(0, length);

    const std::string connection_header = absl::AsciiStrToLower(request->header("connection"));
    const bool keep_alive = request->minor_version >= 1
                                ? connection_header.find("close") == std::string::npos
                                : connection_header.find("keep-alive") != std::string::npos;
    HttpResponder responder(fd, *request, keep_alive);
    handler_(*request, responder);
    if (!responder.responded()) {
      const auto [type, body] = options_.error_body(500, "the handler sent no response");
      responder.respond(500, type, body);
    }
    responder.end_stream();  // no-op unless the handler left a stream open
    keep_going = responder.keep_alive();
  }
  if (failure.status != 0) {
    refuse(fd, failure.status, failure.message);
    // Lingering close: let the client finish sending (and read our answer) before the FIN,
    // so that unread request bytes do not turn the close into a reset that eats the answer.
    shutdown(fd, SHUT_WR);
    std::string sink;
    const Clock::time_point drain_until = Clock::now() + std::chrono::seconds(2);
    while (read_more(fd, &sink, drain_until, stopping_)) sink.clear();
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    shutdown(fd, SHUT_RDWR);
    close(fd);
    connection->fd = -1;
  }
  connection->finished.store(true);
}

}  // namespace dllm::http

// The router's small HTTP/1.1 server over real loopback sockets: keep-alive, bodies and their
// limit, 100-continue, chunked and close-delimited streaming, the connection bound, hang-ups.
#include "common/http/http_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>

#include "gtest/gtest.h"

namespace dllm::http {
namespace {

using namespace std::chrono_literals;

// A raw client connection.
class Client {
 public:
  explicit Client(int port) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  }
  ~Client() { close(fd_); }
  bool connected() const { return connected_; }
  void send_text(const std::string& text) {
    ASSERT_EQ(send(fd_, text.data(), text.size(), MSG_NOSIGNAL), static_cast<ssize_t>(text.size()));
  }
  // Reads until `done(buffer)` holds, EOF, or the timeout.
  template <typename Done>
  std::string read_until(Done done, std::chrono::milliseconds timeout = 5000ms) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    char chunk[4096];
    while (!done(buffer_) && std::chrono::steady_clock::now() < deadline) {
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, 50) <= 0) continue;
      const ssize_t n = recv(fd_, chunk, sizeof chunk, 0);
      if (n <= 0) {
        eof_ = true;
        break;
      }
      buffer_.append(chunk, static_cast<size_t>(n));
    }
    std::string out;
    out.swap(buffer_);
    return out;
  }
  std::string read_to_eof() {
    return read_until([](const std::string&) { return false; });
  }
  // One response framed by Content-Length.
  std::string read_response() {
    return read_until([](const std::string& b) {
      const size_t end = b.find("\r\n\r\n");
      if (end == std::string::npos) return false;
      const size_t at = b.find("Content-Length: ");
      if (at == std::string::npos || at > end) return false;
      return b.size() >= end + 4 + std::stoul(b.substr(at + 16));
    });
  }
  bool eof() const { return eof_; }
  void close_now() {
    close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
  bool connected_ = false;
  bool eof_ = false;
  std::string buffer_;
};

std::unique_ptr<HttpServer> start(HttpHandler handler, HttpServerOptions options = {}) {
  absl::StatusOr<std::unique_ptr<HttpServer>> s =
      HttpServer::start("127.0.0.1:0", std::move(options), std::move(handler));
  EXPECT_TRUE(s.ok()) << s.status();
  return s.ok() ? std::move(*s) : nullptr;
}

void echo(const HttpRequest& r, HttpResponder& out) {
  out.respond(200, "text/plain",
              r.method + " " + r.target + " " + r.header("x-test") + " " + r.body);
}

TEST(HttpServer, BindsAFreePortAndRefusesBadAddresses) {
  auto server = start(echo);
  ASSERT_NE(server, nullptr);
  EXPECT_GT(server->port(), 0);
  EXPECT_EQ(server->address(), "127.0.0.1:" + std::to_string(server->port()));
  EXPECT_FALSE(HttpServer::start("no-port", {}, echo).ok());
  EXPECT_FALSE(HttpServer::start("127.0.0.1:99999", {}, echo).ok());
  EXPECT_FALSE(HttpServer::start("256.1.1.1:0", {}, echo).ok());
  auto v6 = HttpServer::start("[::1]:0", {}, echo);
  if (v6.ok()) {
    EXPECT_EQ((*v6)->address().rfind("[::1]:", 0), 0u);
  }
}

TEST(HttpServer, KeepAliveServesSeveralRequestsOnOneConnection) {
  auto server = start(echo);
  Client c(server->port());
  ASSERT_TRUE(c.connected());
  c.send_text("POST /a?q=1 HTTP/1.1\r\nHost: x\r\nX-Test: one\r\nContent-Length: 5\r\n\r\nhello");
  const std::string first = c.read_response();
  EXPECT_EQ(first.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << first;
  EXPECT_NE(first.find("Connection: keep-alive"), std::string::npos);
  EXPECT_NE(first.find("\r\n\r\nPOST /a?q=1 one hello"), std::string::npos) << first;
  c.send_text("GET /b HTTP/1.1\r\nConnection: close\r\n\r\n");
  const std::string second = c.read_to_eof();
  EXPECT_NE(second.find("Connection: close"), std::string::npos);
  EXPECT_NE(second.find("GET /b  "), std::string::npos) << second;
  EXPECT_TRUE(c.eof());
}

TEST(HttpServer, PipelinedRequestsAndHttp10Close) {
  auto server = start(echo);
  Client c(server->port());
  c.send_text("GET /1 HTTP/1.1\r\n\r\n\r\nGET /2 HTTP/1.0\r\n\r\n");  // a stray CRLF between
  const std::string both = c.read_to_eof();
  EXPECT_NE(both.find("GET /1"), std::string::npos) << both;
  EXPECT_NE(both.find("GET /2"), std::string::npos) << both;
}

TEST(HttpServer, ExpectContinueThenBody) {
  auto server = start(echo);
  Client c(server->port());
  c.send_text("POST /x HTTP/1.1\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n");
  const std::string interim =
      c.read_until([](const std::string& b) { return b.find("\r\n\r\n") != std::string::npos; });
  EXPECT_EQ(interim, "HTTP/1.1 100 Continue\r\n\r\n");
  c.send_text("abc");
  EXPECT_NE(c.read_response().find("POST /x  abc"), std::string::npos);
}

TEST(HttpServer, BodyOverTheLimitIs413AndProtocolErrorsGetTheirStatus) {
  HttpServerOptions options;
  options.max_body_bytes = 10;
  options.max_header_bytes = 256;
  options.error_body = [](int status, const std::string& message) {
    return std::make_pair(std::string("application/json"),
                          "{\"status\":" + std::to_string(status) + "}");
  };
  auto server = start(echo, options);
  struct Case {
    std::string request;
    std::string status_line;
  };
  for (const Case& k : std::vector<Case>{
           {"POST / HTTP/1.1\r\nContent-Length: 11\r\n\r\n01234567890", "HTTP/1.1 413 "},
           {"GET / HTTP/1.1\r\nX-Big: " + std::string(400, 'a') + "\r\n\r\n", "HTTP/1.1 431 "},
           {"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", "HTTP/1.1 411 "},
           {"POST / HTTP/1.1\r\nContent-Length: ten\r\n\r\n", "HTTP/1.1 400 "},
           {"NONSENSE\r\n\r\n", "HTTP/1.1 400 "},
           {"GET / HTTP/2.0\r\n\r\n", "HTTP/1.1 505 "},
           {"GET / HTTP/1.1\r\nno colon here\r\n\r\n", "HTTP/1.1 400 "}}) {
    Client c(server->port());
    c.send_text(k.request);
    const std::string reply = c.read_to_eof();
    EXPECT_EQ(reply.rfind(k.status_line, 0), 0u) << k.request << " → " << reply;
    EXPECT_NE(reply.find("Content-Type: application/json"), std::string::npos);
    EXPECT_NE(reply.find("{\"status\":" + k.status_line.substr(9, 3) + "}"), std::string::npos);
    EXPECT_TRUE(c.eof());
  }
}

void stream_three(const HttpRequest&, HttpResponder& out) {
  out.start_stream(200, "text/event-stream", {{"Cache-Control", "no-cache"}});
  out.write("data: 1\n\n");
  out.write("");
  out.write("data: 22\n\n");
  out.end_stream();
}

TEST(HttpServer, StreamsChunkedOnHttp11) {
  auto server = start(stream_three);
  Client c(server->port());
  c.send_text("GET /s HTTP/1.1\r\n\r\n");
  const std::string reply = c.read_until(
      [](const std::string& b) { return b.find("\r\n0\r\n\r\n") != std::string::npos; });
  EXPECT_NE(reply.find("Transfer-Encoding: chunked\r\n"), std::string::npos) << reply;
  EXPECT_NE(reply.find("Cache-Control: no-cache\r\n"), std::string::npos);
  EXPECT_EQ(reply.find("Content-Length"), std::string::npos);
  EXPECT_NE(reply.find("\r\n\r\n9\r\ndata: 1\n\n\r\na\r\ndata: 22\n\n\r\n0\r\n\r\n"),
            std::string::npos)
      << reply;
  // The connection stays usable.
  c.send_text("GET /again HTTP/1.1\r\nConnection: close\r\n\r\n");
  EXPECT_NE(c.read_to_eof().find("data: 22"), std::string::npos);
}

TEST(HttpServer, StreamsCloseDelimitedOnHttp10) {
  auto server = start(stream_three);
  Client c(server->port());
  c.send_text("GET /s HTTP/1.0\r\n\r\n");
  const std::string reply = c.read_to_eof();
  EXPECT_TRUE(c.eof());
  EXPECT_NE(reply.find("Connection: close"), std::string::npos);
  EXPECT_NE(reply.find("\r\n\r\ndata: 1\n\ndata: 22\n\n"), std::string::npos) << reply;
}

TEST(HttpServer, ConnectionsOverTheBoundGet503) {
  HttpServerOptions options;
  options.max_connections = 1;
  auto server = start(echo, options);
  Client held(server->port());
  held.send_text("GET /held HTTP/1.1\r\n\r\n");
  EXPECT_NE(held.read_response().find("GET /held"), std::string::npos);
  Client refused(server->port());
  refused.send_text("GET / HTTP/1.1\r\n\r\n");
  EXPECT_EQ(refused.read_to_eof().rfind("HTTP/1.1 503 ", 0), 0u);
  held.close_now();
  // Once the first connection is gone, a new one is served.
  std::string reply;
  for (int i = 0; i < 50 && reply.find("200 OK") == std::string::npos; ++i) {
    std::this_thread::sleep_for(20ms);
    Client later(server->port());
    later.send_text("GET /later HTTP/1.1\r\nConnection: close\r\n\r\n");
    reply = later.read_to_eof();
  }
  EXPECT_NE(reply.find("GET /later"), std::string::npos) << reply;
}

TEST(HttpServer, HandlerSeesTheClientHangUp) {
  std::atomic<bool> saw_hang_up{false};
  auto server = start([&](const HttpRequest&, HttpResponder& out) {
    out.start_stream(200, "text/event-stream");
    EXPECT_FALSE(out.client_gone(50ms));
    for (int i = 0; i < 100 && !saw_hang_up; ++i) saw_hang_up = out.client_gone(50ms);
  });
  {
    Client c(server->port());
    c.send_text("GET / HTTP/1.1\r\n\r\n");
    c.read_until([](const std::string& b) { return b.find("\r\n\r\n") != std::string::npos; });
    std::this_thread::sleep_for(100ms);
  }
  for (int i = 0; i < 100 && !saw_hang_up; ++i) std::this_thread::sleep_for(20ms);
  EXPECT_TRUE(saw_hang_up);
}

TEST(HttpServer, StopWakesIdleConnections) {
  auto server = start(echo);
  Client idle(server->port());
  idle.send_text("GET / HTTP/1.1\r\n\r\n");
  idle.read_response();
  const auto before = std::chrono::steady_clock::now();
  server->stop();
  EXPECT_LT(std::chrono::steady_clock::now() - before, 2s);
  idle.read_to_eof();
  EXPECT_TRUE(idle.eof());
}

}  // namespace
}  // namespace dllm::http

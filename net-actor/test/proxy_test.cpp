// Tests for published ports: real TCP and UDP relays on 127.0.0.1 to local echo servers,
// half-closes, many clients at once, a taken port, and the port free again once the proxy is gone.
#include "proxy.hpp"

#include "support.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <thread>

using namespace berth::net;
using namespace berth::net::test;

namespace {

ipv4 ip(const char* text) {
  return *parse_ipv4(text);
}

// A TCP echo server on 127.0.0.1: one thread per connection, echoes until EOF, then closes.
struct tcp_echo {
  sock listener = bound(SOCK_STREAM, "127.0.0.1", 0);
  std::atomic<bool> stop{false};
  std::atomic<int> accepted{0};
  std::thread thread;
  std::vector<std::thread> workers;

  tcp_echo() {
    REQUIRE(listener.fd >= 0);
    thread = std::thread([this] {
      while (!stop) {
        if (!readable(listener.fd, 50)) continue;
        int c = ::accept4(listener.fd, nullptr, nullptr, SOCK_CLOEXEC);
        if (c < 0) continue;
        ++accepted;
        // A worker gives up when the server stops, even on a peer that never closes.
        workers.emplace_back([this, c] {
          char buf[65536];
          for (;;) {
            if (!readable(c, 50)) {
              if (stop) break;
              continue;
            }
            auto n = ::recv(c, buf, sizeof buf, 0);
            if (n <= 0) break;
            if (!send_all(c, std::string(buf, static_cast<std::size_t>(n)))) break;
          }
          ::close(c);
        });
      }
    });
  }
  ~tcp_echo() {
    stop = true;
    thread.join();
    for (auto& w : workers) w.join();
  }
  uint16_t port() const { return port_of(listener.fd); }
};

// A UDP echo server on 127.0.0.1 that remembers the source ports it saw.
struct udp_echo {
  sock s = bound(SOCK_DGRAM, "127.0.0.1", 0);
  std::atomic<bool> stop{false};
  std::thread thread;

  udp_echo() {
    REQUIRE(s.fd >= 0);
    thread = std::thread([this] {
      char buf[65536];
      while (!stop) {
        if (!readable(s.fd, 50)) continue;
        sockaddr_in from{};
        socklen_t len = sizeof from;
        auto n = ::recvfrom(s.fd, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &len);
        if (n < 0) continue;
        std::string reply = "echo:" + std::string(buf, static_cast<std::size_t>(n));
        ::sendto(s.fd, reply.data(), reply.size(), 0, reinterpret_cast<sockaddr*>(&from), len);
      }
    });
  }
  ~udp_echo() {
    stop = true;
    thread.join();
  }
  uint16_t port() const { return port_of(s.fd); }
};

std::unique_ptr<port_proxy> start(bool udp, uint16_t host_port, uint16_t target_port,
                                  int* errnum = nullptr, std::string* text = nullptr) {
  port_proxy::spec s;
  s.udp = udp;
  s.host_ip = ip("127.0.0.1");
  s.host_port = host_port;
  s.target = ip("127.0.0.1");
  s.target_port = target_port;
  int e = 0;
  std::string t;
  auto p = port_proxy::start(s, e, t);
  if (errnum) *errnum = e;
  if (text) *text = t;
  return p;
}

std::string udp_exchange(int fd, uint16_t port, const std::string& msg) {
  auto sa = address("127.0.0.1", port);
  ::sendto(fd, msg.data(), msg.size(), 0, reinterpret_cast<sockaddr*>(&sa), sizeof sa);
  if (!readable(fd, 3000)) return {};
  char buf[65536];
  auto n = ::recv(fd, buf, sizeof buf, 0);
  return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string{};
}

}  // namespace

TEST_CASE("a TCP proxy relays both ways on a port the kernel picked") {
  tcp_echo echo;
  auto p = start(false, 0, echo.port());
  REQUIRE(p);
  CHECK(p->host_port() != 0);
  CHECK(p->published().host_port == p->host_port());

  auto c = connect_tcp("127.0.0.1", p->host_port());
  REQUIRE(c.fd >= 0);
  REQUIRE(send_all(c.fd, "hello"));
  CHECK(recv_n(c.fd, 5) == "hello");

  // A megabyte each way, larger than the relay's buffers.
  std::string big(1 << 20, '\0');
  for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 7 + i / 251);
  std::thread writer([&] { send_all(c.fd, big); });
  auto back = recv_n(c.fd, big.size());
  writer.join();
  CHECK(back.size() == big.size());
  CHECK(back == big);
}

TEST_CASE("a TCP proxy passes half-closes through and serves many clients at once") {
  tcp_echo echo;
  auto p = start(false, 0, echo.port());
  REQUIRE(p);
  // The client says it is done writing; the echo server sees EOF, closes, and so does the client.
  auto c = connect_tcp("127.0.0.1", p->host_port());
  REQUIRE(c.fd >= 0);
  REQUIRE(send_all(c.fd, "last words"));
  REQUIRE(::shutdown(c.fd, SHUT_WR) == 0);
  CHECK(recv_n(c.fd, 100) == "last words");
  char b;
  CHECK(::recv(c.fd, &b, 1, 0) == 0);

  std::vector<sock> clients;
  for (int i = 0; i < 40; ++i) {
    clients.push_back(connect_tcp("127.0.0.1", p->host_port()));
    REQUIRE(clients.back().fd >= 0);
  }
  for (int i = 0; i < 40; ++i)
    REQUIRE(send_all(clients[i].fd, "client " + std::to_string(i) + ";"));
  for (int i = 0; i < 40; ++i) {
    auto want = "client " + std::to_string(i) + ";";
    CHECK(recv_n(clients[i].fd, want.size()) == want);
  }
  CHECK(echo.accepted == 41);
}

TEST_CASE("a TCP client of a proxy whose target does not listen is closed") {
  auto dead = free_port("127.0.0.1");
  auto p = start(false, 0, dead);
  REQUIRE(p);
  auto c = connect_tcp("127.0.0.1", p->host_port());
  REQUIRE(c.fd >= 0);
  char b;
  auto n = ::recv(c.fd, &b, 1, 0);
  CHECK(n <= 0);
  CHECK((n == 0 || errno == ECONNRESET));
}

TEST_CASE("a UDP proxy relays datagrams and the answers, each client on its own flow") {
  udp_echo echo;
  auto p = start(true, 0, echo.port());
  REQUIRE(p);
  CHECK(p->host_port() != 0);
  auto a = bound(SOCK_DGRAM, "127.0.0.1", 0);
  auto b = bound(SOCK_DGRAM, "127.0.0.1", 0);
  CHECK(udp_exchange(a.fd, p->host_port(), "one") == "echo:one");
  CHECK(udp_exchange(b.fd, p->host_port(), "two") == "echo:two");
  CHECK(udp_exchange(a.fd, p->host_port(), "three") == "echo:three");
  std::string large(8000, 'x');
  CHECK(udp_exchange(b.fd, p->host_port(), large) == "echo:" + large);
}

TEST_CASE("a taken host port is EADDRINUSE, and a destroyed proxy frees its port") {
  tcp_echo echo;
  auto taken = bound(SOCK_STREAM, "127.0.0.1", 0);
  REQUIRE(taken.fd >= 0);
  int errnum = 0;
  std::string text;
  auto clash = start(false, port_of(taken.fd), echo.port(), &errnum, &text);
  CHECK_FALSE(clash);
  CHECK(errnum == EADDRINUSE);
  CHECK_THAT(text, Catch::Contains("127.0.0.1:" + std::to_string(port_of(taken.fd))));

  auto p = start(false, 0, echo.port());
  REQUIRE(p);
  auto port = p->host_port();
  {
    // Used once, so the port has had a connection when it is freed.
    auto c = connect_tcp("127.0.0.1", port);
    REQUIRE(send_all(c.fd, "x"));
    CHECK(recv_n(c.fd, 1) == "x");
  }
  CHECK_FALSE(start(false, port, echo.port(), &errnum));
  CHECK(errnum == EADDRINUSE);
  p.reset();
  // Nobody listens there now, and it can be published again.
  CHECK(connect_tcp("127.0.0.1", port).fd < 0);
  auto again = start(false, port, echo.port());
  REQUIRE(again);
  CHECK(again->host_port() == port);

  // Likewise for UDP.
  udp_echo uecho;
  auto u = start(true, 0, uecho.port());
  REQUIRE(u);
  auto uport = u->host_port();
  CHECK_FALSE(start(true, uport, uecho.port(), &errnum));
  CHECK(errnum == EADDRINUSE);
  u.reset();
  CHECK(start(true, uport, uecho.port()));
}

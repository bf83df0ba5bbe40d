// proxy.cpp: the TCP and UDP relay loops of published ports.
#include "proxy.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <vector>

namespace berth::net {

namespace {

using clock_type = std::chrono::steady_clock;

constexpr std::size_t max_tcp_connections = 512;
constexpr std::size_t tcp_buffer = 64 * 1024;  // bytes in flight per direction
constexpr std::size_t max_udp_flows = 1024;
constexpr std::size_t max_datagram = 65535;

sockaddr_in address_of(ipv4 a, uint16_t port) {
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  sa.sin_addr.s_addr = htonl(a.value);
  return sa;
}

void close_fd(int& fd) {
  if (fd >= 0) ::close(fd);
  fd = -1;
}

struct tcp_conn {
  int client = -1;
  int server = -1;
  bool connecting = true;
  std::vector<char> up;    // client -> server
  std::vector<char> down;  // server -> client
  bool client_eof = false;
  bool server_eof = false;
  bool server_shut = false;
  bool client_shut = false;
};

// Reads from `from` into `buf` (up to the cap); false on an error (not EAGAIN). Sets `eof`.
bool fill(int from, std::vector<char>& buf, bool& eof) {
  char tmp[16384];
  std::size_t room = tcp_buffer - std::min(tcp_buffer, buf.size());
  if (room == 0) return true;
  auto n = ::read(from, tmp, std::min(room, sizeof tmp));
  if (n > 0)
    buf.insert(buf.end(), tmp, tmp + n);
  else if (n == 0)
    eof = true;
  else if (errno != EAGAIN && errno != EINTR)
    return false;
  return true;
}

// Writes what it can of `buf` to `to`; false on an error.
bool drain(int to, std::vector<char>& buf) {
  if (buf.empty()) return true;
  auto n = ::send(to, buf.data(), buf.size(), MSG_NOSIGNAL);
  if (n > 0)
    buf.erase(buf.begin(), buf.begin() + n);
  else if (n < 0 && errno != EAGAIN && errno != EINTR)
    return false;
  return true;
}

}  // namespace

std::unique_ptr<port_proxy> port_proxy::start(const spec& s, int& error_number,
                                              std::string& error) {
  std::unique_ptr<port_proxy> p(new port_proxy());
  p->spec_ = s;
  auto what = to_string(s.host_ip) + ":" + std::to_string(s.host_port) + (s.udp ? "/udp" : "/tcp");
  auto fail = [&](const char* call) {
    error_number = errno;
    error = std::string(call) + " " + what + ": " + std::strerror(errno);
    return nullptr;
  };
  p->listen_ =
      ::socket(AF_INET, (s.udp ? SOCK_DGRAM : SOCK_STREAM) | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (p->listen_ < 0) return fail("socket");
  int one = 1;
  if (!s.udp) ::setsockopt(p->listen_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  auto sa = address_of(s.host_ip, s.host_port);
  if (::bind(p->listen_, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) return fail("bind");
  if (!s.udp && ::listen(p->listen_, 128) != 0) return fail("listen");
  socklen_t len = sizeof sa;
  if (::getsockname(p->listen_, reinterpret_cast<sockaddr*>(&sa), &len) != 0)
    return fail("getsockname");
  p->port_ = ntohs(sa.sin_port);
  p->spec_.host_port = p->port_;
  p->wake_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (p->wake_ < 0) return fail("eventfd");
  auto* raw = p.get();
  p->thread_ =
      s.udp ? std::thread([raw] { raw->run_udp(); }) : std::thread([raw] { raw->run_tcp(); });
  return p;
}

port_proxy::~port_proxy() {
  if (thread_.joinable()) {
    uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(wake_, &one, sizeof one);
    thread_.join();
  }
  close_fd(listen_);
  close_fd(wake_);
}

void port_proxy::run_tcp() {
  std::vector<tcp_conn> conns;
  std::vector<pollfd> fds;
  auto target = address_of(spec_.target, spec_.target_port);
  for (;;) {
    fds.clear();
    fds.push_back({wake_, POLLIN, 0});
    fds.push_back({conns.size() < max_tcp_connections ? listen_ : -1, POLLIN, 0});
    for (auto& c : conns) {
      short ce = 0, se = 0;
      if (!c.client_eof && c.up.size() < tcp_buffer) ce |= POLLIN;
      if (!c.down.empty()) ce |= POLLOUT;
      if (c.connecting) {
        se = POLLOUT;
      } else {
        if (!c.server_eof && c.down.size() < tcp_buffer) se |= POLLIN;
        if (!c.up.empty()) se |= POLLOUT;
      }
      // A connection still connecting reads nothing from its client yet.
      fds.push_back({c.client, c.connecting ? short(0) : ce, 0});
      fds.push_back({c.server, se, 0});
    }
    if (::poll(fds.data(), fds.size(), -1) < 0 && errno != EINTR) break;
    if (fds[0].revents) break;
    std::size_t polled = conns.size();
    for (std::size_t i = 0; i < polled; ++i) {
      auto& c = conns[i];
      auto cr = fds[2 + 2 * i].revents;
      auto sr = fds[3 + 2 * i].revents;
      bool ok = true;
      if (c.connecting && sr) {
        int err = 0;
        socklen_t len = sizeof err;
        ::getsockopt(c.server, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err != 0) ok = false;
        c.connecting = false;
        sr &= ~POLLOUT;
      }
      if (ok && !c.connecting) {
        if (cr & (POLLIN | POLLHUP | POLLERR)) ok = fill(c.client, c.up, c.client_eof);
        if (ok && (sr & (POLLIN | POLLHUP | POLLERR))) ok = fill(c.server, c.down, c.server_eof);
        if (ok) ok = drain(c.server, c.up) && drain(c.client, c.down);
        // Half-closes pass through once everything before them is delivered.
        if (ok && c.client_eof && c.up.empty() && !c.server_shut) {
          ::shutdown(c.server, SHUT_WR);
          c.server_shut = true;
        }
        if (ok && c.server_eof && c.down.empty() && !c.client_shut) {
          ::shutdown(c.client, SHUT_WR);
          c.client_shut = true;
        }
        if (c.server_shut && c.client_shut) ok = false;  // both ways done
      }
      if (!ok) {
        close_fd(c.client);
        close_fd(c.server);
      }
    }
    std::erase_if(conns, [](const tcp_conn& c) { return c.client < 0; });
    if (fds[1].fd >= 0 && (fds[1].revents & POLLIN)) {
      for (int k = 0; k < 16 && conns.size() < max_tcp_connections; ++k) {
        int client = ::accept4(listen_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (client < 0) break;
        int server = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (server < 0 ||
            (::connect(server, reinterpret_cast<sockaddr*>(&target), sizeof target) != 0 &&
             errno != EINPROGRESS)) {
          ::close(client);
          if (server >= 0) ::close(server);
          continue;
        }
        tcp_conn c;
        c.client = client;
        c.server = server;
        conns.push_back(std::move(c));
      }
    }
  }
  for (auto& c : conns) {
    close_fd(c.client);
    close_fd(c.server);
  }
}

void port_proxy::run_udp() {
  struct flow {
    int fd = -1;
    sockaddr_in client{};
    clock_type::time_point last;
  };
  std::map<std::pair<uint32_t, uint16_t>, flow> flows;  // by client address and port
  std::vector<char> buf(max_datagram);
  std::vector<pollfd> fds;
  std::vector<std::pair<uint32_t, uint16_t>> keys;
  auto target = address_of(spec_.target, spec_.target_port);
  for (;;) {
    auto now = clock_type::now();
    for (auto it = flows.begin(); it != flows.end();) {
      if (now - it->second.last >= spec_.udp_idle) {
        close_fd(it->second.fd);
        it = flows.erase(it);
      } else {
        ++it;
      }
    }
    fds.clear();
    keys.clear();
    fds.push_back({wake_, POLLIN, 0});
    fds.push_back({listen_, POLLIN, 0});
    for (auto& [key, f] : flows) {
      fds.push_back({f.fd, POLLIN, 0});
      keys.push_back(key);
    }
    if (::poll(fds.data(), fds.size(), 1000) < 0 && errno != EINTR) break;
    if (fds[0].revents) break;
    if (fds[1].revents & POLLIN) {
      for (int k = 0; k < 64; ++k) {
        sockaddr_in from{};
        socklen_t len = sizeof from;
        auto n = ::recvfrom(listen_, buf.data(), buf.size(), 0, reinterpret_cast<sockaddr*>(&from),
                            &len);
        if (n < 0) break;
        std::pair<uint32_t, uint16_t> key{from.sin_addr.s_addr, from.sin_port};
        auto it = flows.find(key);
        if (it == flows.end()) {
          if (flows.size() >= max_udp_flows) {
            // Full: the flow silent for the longest goes.
            auto oldest = flows.begin();
            for (auto j = flows.begin(); j != flows.end(); ++j)
              if (j->second.last < oldest->second.last) oldest = j;
            close_fd(oldest->second.fd);
            flows.erase(oldest);
          }
          flow f;
          f.fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
          if (f.fd < 0) continue;
          if (::connect(f.fd, reinterpret_cast<sockaddr*>(&target), sizeof target) != 0) {
            ::close(f.fd);
            continue;
          }
          f.client = from;
          it = flows.emplace(key, f).first;
        }
        it->second.last = clock_type::now();
        ::send(it->second.fd, buf.data(), static_cast<std::size_t>(n), MSG_DONTWAIT);
      }
    }
    for (std::size_t i = 0; i < keys.size(); ++i) {
      if (!fds[2 + i].revents) continue;
      auto it = flows.find(keys[i]);
      if (it == flows.end()) continue;
      for (int k = 0; k < 64; ++k) {
        auto n = ::recv(it->second.fd, buf.data(), buf.size(), 0);
        if (n < 0) break;  // EAGAIN, or ECONNREFUSED from the container: the client retries
        it->second.last = clock_type::now();
        ::sendto(listen_, buf.data(), static_cast<std::size_t>(n), MSG_DONTWAIT,
                 reinterpret_cast<sockaddr*>(&it->second.client), sizeof it->second.client);
      }
    }
  }
  for (auto& [key, f] : flows) close_fd(f.fd);
}

}  // namespace berth::net

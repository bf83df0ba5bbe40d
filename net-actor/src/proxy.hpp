// proxy: published ports, as userland proxies from a host address to a container's address.
//
// One proxy per published port, each a thread with a poll() loop: TCP accepts on the host port
// and relays both ways to container_ip:container_port (half-closes passed on), UDP relays each
// client's datagrams through a socket of its own towards the container and the answers back,
// forgetting a client after a minute of silence. A userland proxy reaches the container from
// 127.0.0.1 too (DNAT from loopback would need route_localnet), which is why berth uses one;
// docs/networking.md has the trade-offs. Destroying the proxy stops the thread and closes every
// socket, so the port is free again when the destructor returns.
#pragma once

#include "addr.hpp"

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>

namespace berth::net {

/// A running port proxy.
class port_proxy {
 public:
  /// What to publish.
  struct spec {
    bool udp = false;
    ipv4 host_ip;            ///< 0.0.0.0: every address.
    uint16_t host_port = 0;  ///< 0: a free port the kernel picks.
    ipv4 target;
    uint16_t target_port = 0;
    std::chrono::seconds udp_idle{60};
  };

  /// Binds the host port and starts relaying. On failure returns null, with the errno of the
  /// failing call (EADDRINUSE when the port is taken) and a readable message.
  static std::unique_ptr<port_proxy> start(const spec& s, int& error_number, std::string& error);

  /// Stops the thread and closes every socket.
  ~port_proxy();

  port_proxy(const port_proxy&) = delete;
  port_proxy& operator=(const port_proxy&) = delete;

  /// The host port, resolved when 0 was asked for.
  uint16_t host_port() const { return port_; }

  /// What was asked, with the port resolved.
  const spec& published() const { return spec_; }

 private:
  port_proxy() = default;
  void run_tcp();
  void run_udp();

  spec spec_;
  uint16_t port_ = 0;
  int listen_ = -1;
  int wake_ = -1;
  std::thread thread_;
};

}  // namespace berth::net

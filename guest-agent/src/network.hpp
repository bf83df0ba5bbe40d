// network: the guest's network configuration, over a small hand-written rtnetlink client.
//
// There is no iproute2 in the guest: berth-init brings interfaces up, sets their MTU, adds IPv4
// addresses and the default route itself, with three kinds of rtnetlink requests (RTM_NEWLINK,
// RTM_NEWADDR, RTM_NEWROUTE) and their acknowledgements. Interfaces are found by MAC address in
// /sys/class/net/*/address (the host chose the MAC, not the interface name; virtio-net devices
// appear asynchronously after the "net" module set loads, so the lookup waits briefly). Every
// request asks for an acknowledgement; answers are parsed with bounds checks, never trusted.
#pragma once

#include "berth/agent/protocol.hpp"

#include <netinet/in.h>

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace berth::agent {

/// rtnetlink messages, built and parsed without a library.
namespace netlink {

/// RTM_NEWLINK for the link `ifindex`: IFF_UP set, and IFLA_MTU when `mtu` is not 0.
std::vector<char> link_up_request(uint32_t seq, int ifindex, uint32_t mtu);

/// RTM_NEWADDR (create or replace) of the IPv4 `address`/`prefix_len` on `ifindex`, with its
/// broadcast address (none for /31 and /32).
std::vector<char> address_request(uint32_t seq, int ifindex, in_addr address, uint8_t prefix_len);

/// RTM_NEWROUTE (create or replace) of the IPv4 default route via `gateway` out of `ifindex`,
/// in the main table.
std::vector<char> default_route_request(uint32_t seq, in_addr gateway, int ifindex);

/// The kernel's answer to one request.
struct ack {
  bool found = false;   ///< An NLMSG_ERROR for the sequence number was in the data.
  int error = 0;        ///< 0: done; else a positive errno.
  std::string message;  ///< The kernel's extended ack text, if it sent one.
};

/// Looks through `size` bytes received from a netlink socket for the acknowledgement of `seq`.
/// Messages for other sequence numbers are skipped. Malformed data (a length that is too short
/// or runs past the end) gives found with EBADMSG.
ack parse_ack(const char* data, std::size_t size, uint32_t seq);

}  // namespace netlink

/// The six bytes of "02:42:0a:59:00:05" (hex digits in either case); nothing if malformed.
std::optional<std::array<uint8_t, 6>> parse_mac(std::string_view text);

/// The interface under `sys_class_net` ("/sys/class/net") whose `address` is `mac`, or "".
std::string find_interface_by_mac(const std::string& sys_class_net,
                                  const std::array<uint8_t, 6>& mac);

/// Where and how configure_network works.
struct network_setup {
  std::string sys_class_net = "/sys/class/net";
  /// How long an interface may take to appear after the modules loaded.
  std::chrono::milliseconds wait{5000};
  /// Load the module set "net" from `modules_dir` first (in the VM; not in host mode).
  bool load_modules = true;
  std::string modules_dir = "/lib/modules";
};

/// Configures the network namespace of the calling thread as `config` says: the "net" module
/// set loaded (once, and only when there are interfaces), `lo` up, each interface (found by MAC)
/// given its MTU, brought up and given its address, then the default route via the first gateway
/// given. Every value is checked before anything changes. Throws rpc::call_error:
/// invalid_argument (a malformed MAC, address, gateway, prefix or MTU; more than 16 interfaces),
/// not_found (no interface has a MAC, after `setup.wait`), unsupported or io from the module set,
/// io when a netlink request fails (with strerror and the kernel's message).
void configure_network(const network_config& config, const network_setup& setup = {});

}  // namespace berth::agent

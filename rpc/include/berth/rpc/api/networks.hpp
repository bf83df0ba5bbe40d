// api/networks: network.* payloads and a container's place on a network (endpoints, published
// ports).
//
// Part of the berthd wire (rpc/api.hpp includes every part); docs/protocol.md is the reference.
#pragma once

#include "berth/rpc/api/common.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace berth::api {

/// A published port (-p [HOST_IP:]HOST_PORT:CONTAINER_PORT[/tcp|udp]).
struct port_mapping {
  std::string host_ip;     ///< "" = all addresses (0.0.0.0).
  uint16_t host_port = 0;  ///< 0 = any free port (-P, or -p CONTAINER_PORT).
  uint16_t container_port = 0;
  std::string protocol = "tcp";  ///< "tcp" or "udp".
  BERTH_FIELDS(port_mapping, host_ip, host_port, container_port, protocol);
};

/// A container's place on one network.
struct endpoint {
  std::string network;               ///< Network name.
  std::string ip;                    ///< "10.88.0.5".
  uint8_t prefix_len = 0;            ///< 16 for 10.88.0.0/16.
  std::string gateway;               ///< "10.88.0.1" ("" for internal networks: no default route).
  std::string mac;                   ///< "02:42:..." stable for the container on this network.
  std::vector<std::string> aliases;  ///< --network-alias names it answers to, besides its name.
  BERTH_FIELDS(endpoint, network, ip, prefix_len, gateway, mac, aliases);
};

/// Argument of network.create.
struct network_create_request {
  std::string name;
  std::string subnet;     ///< "10.90.0.0/24"; empty: the next free /24 of berthd's pool.
  std::string gateway;    ///< Empty: the first address of the subnet.
  bool internal = false;  ///< No way out: no NAT, no default route for its containers.
  BERTH_FIELDS(network_create_request, name, subnet, gateway, internal);
};

/// Names a network.
struct network_ref {
  std::string name;
  BERTH_FIELDS(network_ref, name);
};

/// Argument of network.connect and network.disconnect.
struct network_connect_request {
  std::string network;
  std::string container;
  std::string ip;                    ///< connect: --ip, empty: the next free one.
  std::vector<std::string> aliases;  ///< connect: --alias.
  BERTH_FIELDS(network_connect_request, network, container, ip, aliases);
};

/// A container's lease on a network, as network inspect shows it.
struct network_lease {
  std::string container;  ///< Container id.
  std::string name;       ///< Container name.
  std::string ip;
  std::string mac;
  BERTH_FIELDS(network_lease, container, name, ip, mac);
};

/// A network.
struct network_info {
  std::string name;
  std::string id;  ///< 64 hex digits.
  std::string driver = "bridge";
  std::string subnet;
  std::string gateway;
  std::string bridge;  ///< The Linux bridge on the host.
  bool internal = false;
  int64_t created = 0;  ///< Unix ns.
  std::vector<network_lease> leases;
  BERTH_FIELDS(network_info, name, id, driver, subnet, gateway, bridge, internal, created, leases);
};

}  // namespace berth::api

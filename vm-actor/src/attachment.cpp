// attachment.cpp: the container's network, one attachment per network mode. bridge plugs the
// VM's taps into bridge networks through the net supervisor (and again after that one
// restarts or berthd adopts the VM), unplugs them when the VM ends and releases the leases with
// the container; user gives the VM QEMU's user-mode network with its host port forwards; none
// gives it only loopback.
#include "vm_state.hpp"

#include "berth/actors/supervision.hpp"

#include <caf/actor_registry.hpp>
#include <caf/actor_system.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

namespace berth::vm::detail {

namespace {

// A stable locally administered MAC for the user-mode NIC.
std::string user_mode_mac(const std::string& id) {
  std::string mac = "02";
  for (std::size_t i = 0; i < 10; i += 2) mac += ":" + id.substr(i, 2);
  return mac;
}

// A free port on `ip` for user-mode forwarding (the kernel picks, then the socket closes).
caf::expected<uint16_t> free_port(const std::string& ip, const std::string& proto) {
  int fd = ::socket(AF_INET, (proto == "udp" ? SOCK_DGRAM : SOCK_STREAM) | SOCK_CLOEXEC, 0);
  if (fd < 0) return make_error(errc::io, std::string("socket: ") + std::strerror(errno));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  if (::inet_pton(AF_INET, ip.empty() ? "0.0.0.0" : ip.c_str(), &a.sin_addr) != 1) {
    ::close(fd);
    return make_error(errc::invalid_argument, "invalid host address " + ip);
  }
  socklen_t len = sizeof a;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    auto e = std::string(std::strerror(errno));
    ::close(fd);
    return make_error(errc::io,
                      "no free port on " + (ip.empty() ? std::string("0.0.0.0") : ip) + ": " + e);
  }
  ::close(fd);
  return ntohs(a.sin_port);
}

// Whether ip:port/proto can be bound now (user mode: QEMU would fail with a vaguer message).
bool port_free(const std::string& ip, uint16_t port, const std::string& proto) {
  int fd = ::socket(AF_INET, (proto == "udp" ? SOCK_DGRAM : SOCK_STREAM) | SOCK_CLOEXEC, 0);
  if (fd < 0) return true;
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  ::inet_pton(AF_INET, ip.empty() ? "0.0.0.0" : ip.c_str(), &a.sin_addr);
  bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  ::close(fd);
  return ok;
}

net_supervisor_actor nets_of(self_ptr self) {
  return self->home_system().registry().get<net_supervisor_actor>(
      registry_key(net_supervisor_name));
}

// Watches the net supervisor that plugged the container. If it crashes, its successor adopts
// the bridges and leases but knows nothing of this container's taps and published ports: the
// container is plugged again (see the plug_atom handler), as on adoption.
void watch_nets(self_ptr self, const net_supervisor_actor& nets) {
  auto& st = self->state;
  if (st.plugged_into == nets.address()) return;
  st.plugged_into = nets.address();
  self->monitor(nets);
}

// Plugs a running container into `nets` again (adopted, or its net supervisor restarted): its
// taps are still on their bridges (QEMU holds them) and plug takes them up again; its published
// ports reopen on the host ports they had. `why` is for the log.
void plug_again(self_ptr self, const net_supervisor_actor& nets, const char* why) {
  auto& st = self->state;
  st.plugged = true;
  self->request(nets, std::chrono::seconds(60), plug_atom_v, st.rec.id, st.rec.endpoints,
                st.rec.published)
      .then(
          [self, nets, why](std::vector<std::string>& taps, std::vector<api::port_mapping>& ports) {
            auto& st = self->state;
            if (st.ph == phase::idle) return;
            vm_log.info("container={} plugged again ({})", st.short_id(), why);
            st.nics.clear();
            for (std::size_t i = 0; i < taps.size() && i < st.rec.endpoints.size(); ++i)
              st.nics.push_back({taps[i], st.rec.endpoints[i].mac, {}});
            st.rec.published = std::move(ports);
            watch_nets(self, nets);
            persist(self);
          },
          [self, why](caf::error& err) {
            vm_log.warn("container={} could not be plugged again ({}): {}", self->state.short_id(),
                        why, describe(err));
          });
}

class no_network : public attachment {
 public:
  void plug(self_ptr, std::function<void(caf::error)> done) const override { done({}); }
  agent::network_config guest_network(const vm_state&) const override { return {}; }
  std::string hosts_entry(const container_record& rec) const override {
    return "127.0.1.1\t" + rec.process.hostname;
  }
  std::string resolver(const container_record&) const override { return {}; }
  void adopt(self_ptr) const override {}
  void unplug(self_ptr self) const override {
    self->state.nics.clear();
    self->state.rec.published.clear();
  }
  void forget(self_ptr) const override {}
  void release(self_ptr, std::function<void()> done) const override { done(); }
};

// QEMU's user-mode network (slirp): the guest is 10.0.2.15 behind QEMU's NAT, and published
// ports are QEMU's host forwards.
class user_network : public no_network {
 public:
  void plug(self_ptr self, std::function<void(caf::error)> done) const override {
    auto& st = self->state;
    net_device nic;
    nic.mac = user_mode_mac(st.rec.id);
    for (auto m : st.rec.ports) {
      if (m.host_port == 0) {
        auto p = free_port(m.host_ip, m.protocol);
        if (!p) return done(p.error());
        m.host_port = *p;
      } else if (!port_free(m.host_ip, m.host_port, m.protocol)) {
        return done(make_error(
            errc::conflict,
            "host port " + (m.host_ip.empty() ? std::string("0.0.0.0") : m.host_ip) + ":" +
                std::to_string(m.host_port) + "/" + m.protocol + " is already in use"));
      }
      nic.hostfwd.push_back(m.protocol + ":" + m.host_ip + ":" + std::to_string(m.host_port) +
                            "-:" + std::to_string(m.container_port));
      st.rec.published.push_back(m);
    }
    st.nics.push_back(std::move(nic));
    done({});
  }
  agent::network_config guest_network(const vm_state& st) const override {
    agent::network_config cfg;
    agent::interface_config i;
    i.mac = user_mode_mac(st.rec.id);
    i.address = "10.0.2.15";
    i.prefix_len = 24;
    i.gateway = "10.0.2.2";
    cfg.interfaces.push_back(i);
    return cfg;
  }
  std::string hosts_entry(const container_record& rec) const override {
    return "10.0.2.15\t" + rec.process.hostname;
  }
  std::string resolver(const container_record&) const override { return "10.0.2.3"; }
};

// Bridge networks: a tap per endpoint on its network's bridge, plugged by the net supervisor.
class bridge_network : public attachment {
 public:
  void plug(self_ptr self, std::function<void(caf::error)> done) const override {
    auto& st = self->state;
    auto nets = nets_of(self);
    if (!nets) return done(make_error(errc::unavailable, "the network service is not running"));
    // Saved as starting before its taps exist: a berthd killed from here on finds the record
    // live and cleans up after it.
    persist(self);
    self->request(nets, std::chrono::seconds(60), plug_atom_v, st.rec.id, st.rec.endpoints,
                  st.rec.ports)
        .then(
            [self, nets, done](std::vector<std::string>& taps,
                               std::vector<api::port_mapping>& ports) {
              auto& st = self->state;
              st.plugged = true;
              if (taps.size() != st.rec.endpoints.size())
                return done(make_error(
                    errc::internal, "plug answered " + std::to_string(taps.size()) + " taps for " +
                                        std::to_string(st.rec.endpoints.size()) + " endpoints"));
              if (st.cancel) return done(make_error(errc::cancelled, "stopped before it started"));
              for (std::size_t i = 0; i < taps.size(); ++i)
                st.nics.push_back({taps[i], st.rec.endpoints[i].mac, {}});
              st.rec.published = std::move(ports);
              watch_nets(self, nets);
              done({});
            },
            [self, done](caf::error& err) {
              self->state.plugged =
                  true;  // whatever a failed plug left is undone by it; unplug is harmless
              done(std::move(err));
            });
  }

  agent::network_config guest_network(const vm_state& st) const override {
    agent::network_config cfg;
    for (auto& e : st.rec.endpoints) {
      agent::interface_config i;
      i.mac = e.mac;
      i.address = e.ip;
      i.prefix_len = e.prefix_len;
      i.gateway = e.gateway;
      cfg.interfaces.push_back(i);
    }
    return cfg;
  }

  // Its first network's address, under its hostname and (other containers know it so) its name.
  std::string hosts_entry(const container_record& rec) const override {
    auto& host = rec.process.hostname;
    return rec.endpoints.front().ip + "\t" + host + (rec.name != host ? " " + rec.name : "");
  }

  // The first network's DNS responder (empty on an internal network).
  std::string resolver(const container_record& rec) const override {
    return rec.endpoints.front().gateway;
  }

  void adopt(self_ptr self) const override {
    if (auto nets = nets_of(self))
      plug_again(self, nets, "adopted");
    else
      vm_log.warn("container={} adopted without its network: the network service is not running",
                  self->state.short_id());
  }

  // The VM ended (or never started): its taps, names and ports go; the leases stay.
  void unplug(self_ptr self) const override {
    auto& st = self->state;
    st.nics.clear();
    st.rec.published.clear();
    if (!st.plugged) return;
    st.plugged = false;
    if (auto nets = nets_of(self))
      self->request(nets, std::chrono::seconds(30), unplug_atom_v, st.rec.id)
          .then([] {},
                [id = st.short_id()](caf::error& err) {
                  vm_log.warn("container={} unplug failed: {}", id, describe(err));
                });
  }

  // Its taps, if the net supervisor did not clean them up (berthd was killed): plug adopts
  // them, unplug deletes them.
  void forget(self_ptr self) const override {
    auto nets = nets_of(self);
    if (!nets) return;
    auto id = self->state.rec.id;
    self->request(nets, std::chrono::seconds(60), plug_atom_v, id, self->state.rec.endpoints,
                  std::vector<api::port_mapping>{})
        .then(
            [self, nets, id](std::vector<std::string>&, std::vector<api::port_mapping>&) {
              self->request(nets, std::chrono::seconds(30), unplug_atom_v, id)
                  .then([] {}, [](caf::error&) {});
            },
            [](caf::error&) {});
  }

  // Its leases go with it (before the record, so no lease outlives its container).
  void release(self_ptr self, std::function<void()> done) const override {
    auto nets = nets_of(self);
    if (!nets) return done();
    self->request(nets, std::chrono::seconds(30), release_atom_v, self->state.rec.id, std::string{})
        .then([done] { done(); },
              [self, done](caf::error& err) {
                vm_log.error("container={} cannot release its addresses: {}",
                             self->state.short_id(), describe(err));
                done();
              });
  }
};

}  // namespace

network_mode network_mode_of(const container_record& rec) {
  if (rec.network_mode == "bridge") return network_mode::bridge;
  if (rec.network_mode == "user") return network_mode::user;
  return network_mode::none;
}

const attachment& attachment_of(const container_record& rec) {
  static const no_network none;
  static const user_network user;
  static const bridge_network bridge;
  switch (network_mode_of(rec)) {
    case network_mode::bridge:
      return rec.endpoints.empty() ? static_cast<const attachment&>(none) : bridge;
    case network_mode::user:
      return user;
    case network_mode::none:
      break;
  }
  return none;
}

// The net supervisor that plugged the running container went down: plug it into its successor.
void replug(self_ptr self, uint64_t gen) {
  auto& st = self->state;
  if (gen != st.replug_gen || (st.ph != phase::running && st.ph != phase::stopping)) return;
  if (auto nets = nets_of(self)) return plug_again(self, nets, "the network service restarted");
  // Still restarting (its backoff): try again shortly.
  self->delayed_send(self, std::chrono::milliseconds(250), plug_atom_v, gen);
}

}  // namespace berth::vm::detail

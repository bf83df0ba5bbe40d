// attachment.cpp: the container's network: plugging it into its bridge networks through the
// net supervisor (and again after that one restarts), unplugging it when its VM ends, and the
// host ports of user-mode networking.
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

net_supervisor_actor nets_of(self_ptr self) {
  return self->home_system().registry().get<net_supervisor_actor>(caf::atom_from_string(net_supervisor_name));
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
  self->request(nets, std::chrono::seconds(60), plug_atom_v, st.rec.id, st.rec.endpoints, st.rec.published)
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
            vm_log.warn("container={} could not be plugged again ({}): {}", self->state.short_id(), why,
                        describe(err));
          });
}

// The net supervisor that plugged the running container went down: plug it into its successor.
void replug(self_ptr self, uint64_t gen) {
  auto& st = self->state;
  if (gen != st.replug_gen || (st.ph != phase::running && st.ph != phase::stopping)) return;
  if (auto nets = nets_of(self)) return plug_again(self, nets, "the network service restarted");
  // Still restarting (its backoff): try again shortly.
  self->delayed_send(self, std::chrono::milliseconds(250), plug_atom_v, gen);
}

// The VM ended (or never started): its taps, names and ports go; the leases stay.
void unplug(self_ptr self) {
  auto& st = self->state;
  st.nics.clear();
  st.rec.published.clear();
  if (!st.plugged) return;
  st.plugged = false;
  if (auto nets = nets_of(self))
    self->request(nets, std::chrono::seconds(30), unplug_atom_v, st.rec.id)
        .then([] {}, [id = st.short_id()](caf::error& err) {
          vm_log.warn("container={} unplug failed: {}", id, describe(err));
        });
}

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
    return make_error(errc::io, "no free port on " + (ip.empty() ? std::string("0.0.0.0") : ip) + ": " + e);
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

}  // namespace berth::vm::detail

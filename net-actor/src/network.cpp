// network.cpp: the network actor: bridge, leases, taps, names and published ports of one network.
#include "network.hpp"

#include "addr.hpp"
#include "host_links.hpp"
#include "proxy.hpp"

#include "berth/actors/job.hpp"
#include "berth/actors/log.hpp"
#include "berth/actors/store.hpp"
#include "berth/actors/supervision.hpp"

#include <caf/actor_registry.hpp>
#include <caf/actor_system.hpp>
#include <caf/exit_reason.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <cerrno>
#include <functional>
#include <map>
#include <set>

namespace berth::net {

namespace {

inline constexpr log::logger net_log("net");

using proxy_list = std::vector<std::shared_ptr<port_proxy>>;

// A container plugged on this network.
struct plugged_container {
  std::map<uint32_t, std::string> taps;  ///< By endpoint index.
  proxy_list proxies;                    ///< Its published ports (on its first endpoint only).
};

struct network_state {
  network_record rec;
  subnet net;
  ipv4 gateway;
  std::shared_ptr<const network_settings> settings;
  network_listener listener;
  std::string setup_error;  ///< Why the bridge is not there ("" when it is).
  std::unique_ptr<dns::responder> dns;
  std::map<std::string, plugged_container> plugged;  ///< By container id.
  std::map<std::string, uint64_t> unplugs;           ///< Unplugs so far, by container id.
  std::map<std::string, uint32_t> plugging;          ///< Plugs in flight, by container id.
  /// Tear-downs (taps, proxies) in flight, by container id, and the plugs waiting for them: a
  /// plug right after an unplug (a restart) must not have its new tap or ports torn down.
  std::map<std::string, uint32_t> tearing;
  std::map<std::string, std::vector<std::function<void()>>> after_teardown;
  bool removing = false;
  bool stopping = false;
  static inline const char* name = "network";
};

using self_ptr = network_actor::stateful_pointer<network_state>;

std::string short_id(const std::string& id) {
  return id.substr(0, 12);
}

store_actor store_of(self_ptr self) {
  return berth::store_of(self->home_system());
}

const api::network_lease* lease_of(const network_state& st, const std::string& container) {
  for (auto& l : st.rec.leases)
    if (l.container == container) return &l;
  return nullptr;
}

api::endpoint endpoint_of(const network_state& st, const api::network_lease& lease,
                          const std::vector<std::string>& aliases) {
  api::endpoint ep;
  ep.network = st.rec.name;
  ep.ip = lease.ip;
  ep.prefix_len = st.net.prefix;
  ep.gateway = st.rec.internal ? std::string{} : st.rec.gateway;
  ep.mac = lease.mac;
  ep.aliases = aliases;
  return ep;
}

// Saves the record through the store, tells the supervisor, then calls ok(); err(error) if the
// store did not take it.
template <class Ok, class Err>
void persist(self_ptr self, Ok ok, Err err) {
  auto store = store_of(self);
  if (!store) {
    err(make_error(errc::unavailable, "the store is not running"));
    return;
  }
  auto rec = self->state.rec;
  self->request(store, caf::infinite, save_atom_v, rec)
      .then(
          [self, rec, ok]() mutable {
            // Sent before the answer, so the supervisor's copy is current when it sees it.
            if (self->state.listener) self->send(self->state.listener, save_atom_v, rec);
            ok();
          },
          [err](caf::error& e) mutable { err(e); });
}

// What a published port asks for, checked.
caf::expected<port_proxy::spec> proxy_spec(const api::port_mapping& m, ipv4 target) {
  port_proxy::spec s;
  if (m.protocol == "udp")
    s.udp = true;
  else if (!m.protocol.empty() && m.protocol != "tcp")
    return make_error(errc::invalid_argument,
                      "unknown protocol \"" + m.protocol + "\" (tcp or udp)");
  if (m.container_port == 0)
    return make_error(errc::invalid_argument, "a published port needs a container port");
  if (!m.host_ip.empty()) {
    auto a = parse_ipv4(m.host_ip);
    if (!a)
      return make_error(errc::invalid_argument,
                        "host ip \"" + m.host_ip + "\" is not an IPv4 address");
    s.host_ip = *a;
  }
  s.host_port = m.host_port;
  s.target = target;
  s.target_port = m.container_port;
  return s;
}

bool same_port(const port_proxy::spec& have, const port_proxy::spec& want) {
  return have.udp == want.udp && have.host_ip == want.host_ip && have.target == want.target &&
         have.target_port == want.target_port &&
         (want.host_port == 0 || want.host_port == have.host_port);
}

// Stops proxies on a job thread (each destructor joins its relay thread).
void dispose(self_ptr self, proxy_list proxies) {
  if (proxies.empty()) return;
  run_job(self, [proxies = std::move(proxies)]() mutable -> caf::expected<bool> {
    proxies.clear();
    return true;
  }).then([](bool) {}, [](caf::error&) {});
}

// Runs on a job thread: stops the proxies (their threads join here) and deletes the taps.
caf::expected<bool> tear_down(const std::string& table, proxy_list proxies,
                              std::vector<std::string> taps) {
  proxies.clear();
  caf::error first;
  for (auto& tap : taps)
    if (auto err = host::delete_tap(table, tap); err && !first) first = err;
  if (first) return first;
  return true;
}

// Runs on a job thread: everything of the network on the host goes (taps on the bridge that a
// previous berthd left included).
caf::expected<bool> delete_network(const std::string& table, const std::string& bridge,
                                   std::vector<std::string> taps) {
  if (auto ports = host::list_links("", bridge))
    for (auto& p : *ports)
      if (p.rfind("tb", 0) == 0 && std::find(taps.begin(), taps.end(), p) == taps.end())
        taps.push_back(p);
  for (auto& tap : taps)
    if (auto err = host::delete_tap(table, tap)) net_log.warn("{}", describe(err));
  if (auto err = host::delete_link(bridge)) return err;
  return true;
}

// Takes every tap and proxy out of the state (for a stop or a removal).
std::pair<proxy_list, std::vector<std::string>> take_all(network_state& st) {
  proxy_list proxies;
  std::vector<std::string> taps;
  for (auto& [id, p] : st.plugged) {
    for (auto& px : p.proxies) proxies.push_back(std::move(px));
    for (auto& [index, tap] : p.taps) taps.push_back(tap);
  }
  st.plugged.clear();
  return {std::move(proxies), std::move(taps)};
}

// Unplugs `container` here; calls done(error) once its taps are gone and its ports closed.
template <class Done>
void unplug(self_ptr self, const std::string& container, Done done) {
  auto& st = self->state;
  ++st.unplugs[container];  // a plug in flight for it gives up
  auto it = st.plugged.find(container);
  if (it == st.plugged.end()) {
    done(caf::error{});
    return;
  }
  std::vector<std::string> taps;
  for (auto& [index, tap] : it->second.taps) taps.push_back(tap);
  auto proxies = std::move(it->second.proxies);
  st.plugged.erase(it);
  if (st.dns) st.dns->erase(container);
  ++st.tearing[container];
  auto finished = [self, container] {
    auto& st = self->state;
    if (--st.tearing[container] > 0) return;
    st.tearing.erase(container);
    auto waiting = std::move(st.after_teardown[container]);
    st.after_teardown.erase(container);
    for (auto& plug : waiting) plug();
  };
  run_job(self, [table = st.settings->nft_table, proxies = std::move(proxies),
                 taps]() mutable { return tear_down(table, std::move(proxies), std::move(taps)); })
      .then(
          [done, finished](bool) mutable {
            finished();
            done(caf::error{});
          },
          [done, finished](caf::error& err) mutable {
            finished();
            done(err);
          });
}

// Starts the DNS responder on the gateway, once the bridge has the address.
void start_dns(self_ptr self) {
  auto& st = self->state;
  dns::responder::options o;
  o.address = st.gateway;
  o.port = st.settings->dns_port;
  // An internal network has no way out, not even for names.
  if (!st.rec.internal)
    for (auto& u : st.settings->upstreams) {
      // Never relay to ourselves.
      if (u.addr.ss_family == AF_INET) {
        auto* sin = reinterpret_cast<const sockaddr_in*>(&u.addr);
        if (ntohl(sin->sin_addr.s_addr) == st.gateway.value && ntohs(sin->sin_port) == o.port)
          continue;
      }
      o.upstreams.push_back(u);
    }
  std::string error;
  st.dns = dns::responder::start(o, error);
  if (!st.dns)
    net_log.warn("network={} no DNS responder on {}: {}", st.rec.name, to_string(st.gateway),
                 error);
}

// The answer to a plug whose tap is in place: names, then ports (the ones open as asked are
// kept, the rest opened, the ones no longer asked for closed).
caf::expected<std::vector<api::port_mapping>> finish_plug(
    self_ptr self, const std::string& id, uint32_t index, const std::string& tap,
    const std::vector<std::string>& names, ipv4 address, const std::vector<port_proxy::spec>& specs,
    const std::vector<api::port_mapping>& ports) {
  auto& st = self->state;
  auto& entry = st.plugged[id];
  entry.taps[index] = tap;
  if (st.dns) st.dns->set(id, names, address);
  if (index != 0) return std::vector<api::port_mapping>{};
  proxy_list kept;
  std::vector<api::port_mapping> out;
  auto old = std::move(entry.proxies);
  entry.proxies.clear();
  for (std::size_t i = 0; i < specs.size(); ++i) {
    std::shared_ptr<port_proxy> proxy;
    for (auto& o : old)
      if (o && same_port(o->published(), specs[i])) {
        proxy = std::move(o);
        break;
      }
    if (!proxy) {
      int errnum = 0;
      std::string text;
      proxy = port_proxy::start(specs[i], errnum, text);
      if (!proxy) {
        // What was open stays open; the caller unplugs on an error anyway.
        for (auto& k : kept) entry.proxies.push_back(std::move(k));
        for (auto& o : old)
          if (o) entry.proxies.push_back(std::move(o));
        auto where = (ports[i].host_ip.empty() ? std::string("0.0.0.0") : ports[i].host_ip) + ":" +
                     std::to_string(ports[i].host_port) + "/" + (specs[i].udp ? "udp" : "tcp");
        if (errnum == EADDRINUSE)
          return make_error(errc::conflict, "host port " + where + " is already in use");
        if (errnum == EADDRNOTAVAIL)
          return make_error(errc::invalid_argument,
                            "cannot publish on " + where + ": the host has no such address");
        return make_error(errc::io, "cannot publish port: " + text);
      }
    }
    auto m = ports[i];
    m.host_port = proxy->host_port();
    m.protocol = specs[i].udp ? "udp" : "tcp";
    out.push_back(m);
    kept.push_back(std::move(proxy));
  }
  entry.proxies = std::move(kept);
  proxy_list unused;
  for (auto& o : old)
    if (o) unused.push_back(std::move(o));
  dispose(self, std::move(unused));
  return out;
}

// A clean stop: the DNS responder, proxies, taps and bridge go (the record stays), then the
// actor ends with `reason`.
void stop(self_ptr self, caf::error reason) {
  auto& st = self->state;
  if (st.stopping) return;
  st.stopping = true;
  st.dns.reset();
  auto [proxies, taps] = take_all(st);
  run_job(self,
          [table = st.settings->nft_table, bridge = st.rec.bridge, taps = std::move(taps),
           proxies = std::move(proxies)]() mutable {
            proxies.clear();
            return delete_network(table, bridge, std::move(taps));
          })
      .then([self, reason](bool) { self->quit(reason); },
            [self, reason](caf::error& err) {
              net_log.warn("network={} cleanup: {}", self->state.rec.name, describe(err));
              self->quit(reason);
            });
}

network_actor::behavior_type network_behavior(self_ptr self, network_listener listener,
                                              network_record rec, subnet net, ipv4 gateway,
                                              std::shared_ptr<const network_settings> settings) {
  self->set_exception_handler(crash_error);
  auto& st = self->state;
  st.rec = std::move(rec);
  st.settings = std::move(settings);
  st.listener = std::move(listener);
  st.net = net;
  st.gateway = gateway;
  // A stop (not a crash) takes the bridge and the taps down before the actor ends, so that the
  // supervisor's exit means they are gone.
  self->set_exit_handler([self](caf::exit_msg& msg) {
    if (is_crash(msg.reason)) {
      net_log.error("network={} ends after a crash ({}); its bridge stays", self->state.rec.name,
                    describe(msg.reason));
      self->quit(msg.reason);
      return;
    }
    if (self->state.settings->keep_on_stop) {
      // Live restore: containers keep running on this bridge; the next berthd adopts it.
      self->quit(msg.reason);
      return;
    }
    stop(self, msg.reason);
  });
  // Nothing is served until the bridge is there (or known to be impossible).
  run_job(self,
          [bridge = st.rec.bridge, mac = bridge_mac(st.rec.id), gateway = st.gateway,
           prefix = st.net.prefix]() -> caf::expected<bool> {
            if (auto err = host::ensure_bridge(bridge, mac, gateway, prefix)) return err;
            return true;
          })
      .await(
          [self](bool) {
            net_log.info("network={} bridge {} up on {}", self->state.rec.name,
                         self->state.rec.bridge, self->state.rec.subnet);
            start_dns(self);
          },
          [self](caf::error& err) {
            self->state.setup_error = describe(err);
            net_log.error("network={} has no bridge: {}", self->state.rec.name,
                          self->state.setup_error);
          });

  return {
      [self](start_atom) -> caf::result<void> {
        if (!self->state.setup_error.empty())
          return make_error(errc::unavailable, "cannot set up network " + self->state.rec.name +
                                                   ": " + self->state.setup_error);
        return caf::unit;
      },
      [self](lease_atom, const std::string& id, const std::string& name, const std::string& ip_text,
             const std::vector<std::string>& aliases) -> caf::result<api::endpoint> {
        auto& st = self->state;
        if (st.removing || st.stopping)
          return make_error(errc::conflict, "network " + st.rec.name + " is being removed");
        if (id.empty()) return make_error(errc::invalid_argument, "no container id given");
        if (auto* lease = lease_of(st, id)) {
          if (!ip_text.empty() && ip_text != lease->ip)
            return make_error(errc::conflict, "container " + short_id(id) + " already has " +
                                                  lease->ip + " on network " + st.rec.name);
          return endpoint_of(st, *lease, aliases);
        }
        std::set<uint32_t> taken;
        for (auto& l : st.rec.leases)
          if (auto a = parse_ipv4(l.ip)) taken.insert(a->value);
        ipv4 address;
        if (!ip_text.empty()) {
          auto a = parse_ipv4(ip_text);
          if (!a)
            return make_error(errc::invalid_argument, "\"" + ip_text + "\" is not an IPv4 address");
          if (!st.net.usable(*a))
            return make_error(errc::invalid_argument,
                              "address " + ip_text + " is outside the usable range of network " +
                                  st.rec.name + " (" + st.rec.subnet + ")");
          if (*a == st.gateway)
            return make_error(errc::conflict,
                              "address " + ip_text + " is the gateway of network " + st.rec.name);
          if (taken.count(a->value)) {
            std::string owner;
            for (auto& l : st.rec.leases)
              if (l.ip == ip_text) owner = l.name.empty() ? short_id(l.container) : l.name;
            return make_error(errc::conflict, "address " + ip_text +
                                                  " is already in use by container " + owner +
                                                  " on network " + st.rec.name);
          }
          address = *a;
        } else {
          auto a = next_free(st.net, st.gateway, taken);
          if (!a)
            return make_error(errc::conflict, "no free address left on network " + st.rec.name +
                                                  " (" + st.rec.subnet + ")");
          address = *a;
        }
        api::network_lease lease;
        lease.container = id;
        lease.name = name;
        lease.ip = to_string(address);
        lease.mac = mac_for(id, st.rec.id);
        // In the table at once, so a concurrent attach cannot take the same address.
        st.rec.leases.push_back(lease);
        auto rp = self->make_response_promise<api::endpoint>();
        persist(
            self,
            [self, rp, lease, aliases]() mutable {
              net_log.info("network={} container={} leased {}", self->state.rec.name,
                           short_id(lease.container), lease.ip);
              rp.deliver(endpoint_of(self->state, lease, aliases));
            },
            [self, rp, id](const caf::error& err) mutable {
              std::erase_if(self->state.rec.leases,
                            [&](const api::network_lease& l) { return l.container == id; });
              rp.deliver(err);
            });
        return rp;
      },
      [self](release_atom, const std::string& id) -> caf::result<void> {
        auto rp = self->make_response_promise();
        unplug(self, id, [self, rp, id](caf::error err) mutable {
          if (err)
            net_log.warn("network={} container={} unplug: {}", self->state.rec.name, short_id(id),
                         describe(err));
          auto& st = self->state;
          // A tap of it may be on the bridge without a plug that knows it: one made for a start
          // that a kill -9 of berthd cut short. Nothing of a removed container stays.
          run_job(self,
                  [bridge = st.rec.bridge, table = st.settings->nft_table,
                   prefix = tap_name(id, 0).substr(0, 12)]() -> caf::expected<bool> {
                    auto links = host::list_links("", bridge);
                    if (!links) return links.error();
                    for (auto& l : *links)
                      if (l.rfind(prefix, 0) == 0)
                        if (auto e = host::delete_tap(table, l)) return e;
                    return true;
                  })
              .then([](bool) {},
                    [name = st.rec.name, id](caf::error& e) {
                      net_log.warn("network={} container={} stale taps: {}", name, short_id(id),
                                   describe(e));
                    });
          auto it = std::find_if(st.rec.leases.begin(), st.rec.leases.end(),
                                 [&](const api::network_lease& l) { return l.container == id; });
          if (it == st.rec.leases.end()) {
            rp.deliver(caf::unit);
            return;
          }
          auto lease = *it;
          st.rec.leases.erase(it);
          persist(
              self,
              [self, rp, lease]() mutable {
                net_log.info("network={} container={} released {}", self->state.rec.name,
                             short_id(lease.container), lease.ip);
                rp.deliver(caf::unit);
              },
              [self, rp, lease](const caf::error& e) mutable {
                // The store still has the lease: so must we, or its address could go twice.
                self->state.rec.leases.push_back(lease);
                rp.deliver(e);
              });
        });
        return rp;
      },
      [self](plug_atom, const std::string& id, uint32_t index, const api::endpoint& ep,
             const std::vector<api::port_mapping>& ports)
          -> caf::result<std::string, std::vector<api::port_mapping>> {
        auto& st = self->state;
        if (st.removing || st.stopping)
          return make_error(errc::conflict, "network " + st.rec.name + " is being removed");
        if (!st.setup_error.empty())
          return make_error(errc::unavailable,
                            "network " + st.rec.name + " has no bridge: " + st.setup_error);
        if (index >= 1000) return make_error(errc::invalid_argument, "endpoint index out of range");
        auto* lease = lease_of(st, id);
        if (!lease)
          return make_error(errc::conflict, "container " + short_id(id) +
                                                " is not attached to network " + st.rec.name);
        auto address = parse_ipv4(lease->ip);
        if (!address)
          return make_error(errc::internal,
                            "lease of " + short_id(id) + " has a malformed address");
        std::vector<port_proxy::spec> specs;
        for (auto& m : ports) {
          auto s = proxy_spec(m, *address);
          if (!s) return s.error();
          specs.push_back(*s);
        }
        auto tap = tap_name(id, index);
        std::vector<std::string> names{short_id(id)};
        if (!lease->name.empty()) names.push_back(lease->name);
        names.insert(names.end(), ep.aliases.begin(), ep.aliases.end());
        auto rp = self->make_response_promise<std::string, std::vector<api::port_mapping>>();
        auto generation = st.unplugs[id];
        ++st.plugging[id];
        // The tap's guest may send only as its lease: this MAC and this address.
        host::tap_pin pin{st.settings->nft_table, lease->mac, to_string(*address)};
        auto make_tap = [=]() mutable {
          run_job(self,
                  [tap, bridge = self->state.rec.bridge, pin]() -> caf::expected<bool> {
                    if (auto err = host::ensure_tap(tap, bridge, pin)) return err;
                    return true;
                  })
              .then(
                  [self, rp, id, index, tap, names, address = *address, specs, ports,
                   generation](bool) mutable {
                    auto& st = self->state;
                    if (--st.plugging[id] == 0) st.plugging.erase(id);
                    if (st.unplugs[id] != generation || st.stopping || st.removing) {
                      // Unplugged (or detached) while its tap was being made: the tap goes again,
                      // unless another plug has it meanwhile.
                      if (!st.plugged.count(id) && !st.plugging.count(id) && !st.stopping &&
                          !st.removing)
                        run_job(self,
                                [tap, table = st.settings->nft_table]() -> caf::expected<bool> {
                                  if (auto err = host::delete_tap(table, tap)) return err;
                                  return true;
                                })
                            .then([](bool) {}, [](caf::error&) {});
                      rp.deliver(make_error(errc::conflict, "container " + short_id(id) +
                                                                " was unplugged meanwhile"));
                      return;
                    }
                    auto out = finish_plug(self, id, index, tap, names, address, specs, ports);
                    if (!out) {
                      rp.deliver(out.error());
                      return;
                    }
                    net_log.info("network={} container={} plugged on {} ({} ports)", st.rec.name,
                                 short_id(id), tap, out->size());
                    rp.deliver(tap, std::move(*out));
                  },
                  [self, rp, id](caf::error& err) mutable {
                    if (--self->state.plugging[id] == 0) self->state.plugging.erase(id);
                    rp.deliver(err);
                  });
        };
        // After the tear-down of its previous run, if one is still under way.
        if (st.tearing.count(id))
          st.after_teardown[id].push_back(make_tap);
        else
          make_tap();
        return rp;
      },
      [self](unplug_atom, const std::string& id) -> caf::result<void> {
        auto rp = self->make_response_promise();
        unplug(self, id, [rp](caf::error err) mutable {
          if (err)
            rp.deliver(err);
          else
            rp.deliver(caf::unit);
        });
        return rp;
      },
      [self](remove_atom) -> caf::result<void> {
        auto& st = self->state;
        if (st.stopping) return make_error(errc::unavailable, "berthd is stopping");
        if (st.removing)
          return make_error(errc::conflict, "network " + st.rec.name + " is being removed");
        if (!st.rec.leases.empty()) {
          std::string names;
          for (auto& l : st.rec.leases)
            names +=
                (names.empty() ? "" : ", ") + (l.name.empty() ? short_id(l.container) : l.name);
          return make_error(errc::conflict,
                            "network " + st.rec.name + " has containers attached: " + names);
        }
        auto store = store_of(self);
        if (!store) return make_error(errc::unavailable, "the store is not running");
        st.removing = true;
        auto rp = self->make_response_promise();
        self->request(store, caf::infinite, erase_atom_v, network_atom_v, st.rec.id)
            .then(
                [self, rp]() mutable {
                  auto& st = self->state;
                  st.dns.reset();
                  auto [proxies, taps] = take_all(st);
                  run_job(self,
                          [table = st.settings->nft_table, bridge = st.rec.bridge,
                           taps = std::move(taps), proxies = std::move(proxies)]() mutable {
                            proxies.clear();
                            return delete_network(table, bridge, std::move(taps));
                          })
                      .then(
                          [self, rp](bool) mutable {
                            net_log.info("network={} removed", self->state.rec.name);
                            rp.deliver(caf::unit);
                            self->quit();
                          },
                          [self, rp](caf::error& err) mutable {
                            // The record is gone: the network is removed, whatever is left.
                            net_log.warn("network={} removed, but: {}", self->state.rec.name,
                                         describe(err));
                            rp.deliver(caf::unit);
                            self->quit();
                          });
                },
                [self, rp](caf::error& err) mutable {
                  self->state.removing = false;
                  rp.deliver(err);
                });
        return rp;
      },
      [self](stop_atom) { stop(self, caf::exit_reason::user_shutdown); },
  };
}

}  // namespace

caf::expected<network_actor> spawn_network(caf::local_actor* supervisor, network_listener listener,
                                           network_record rec,
                                           std::shared_ptr<const network_settings> settings) {
  auto net = parse_subnet(rec.subnet, false);
  auto gw = parse_ipv4(rec.gateway);
  if (!net || !gw || !net->usable(*gw))
    return make_error(errc::internal, "network " + rec.name +
                                          " has a malformed subnet or gateway (" + rec.subnet +
                                          ", " + rec.gateway + ")");
  if (rec.bridge.empty() || rec.bridge.size() > 15)
    return make_error(errc::internal, "network " + rec.name + " has a malformed bridge name");
  return supervisor->spawn<caf::linked>(network_behavior, std::move(listener), std::move(rec), *net,
                                        *gw, std::move(settings));
}

api::network_info info_of(const network_record& rec) {
  api::network_info info;
  info.name = rec.name;
  info.id = rec.id;
  info.subnet = rec.subnet;
  info.gateway = rec.gateway;
  info.bridge = rec.bridge;
  info.internal = rec.internal;
  info.created = rec.created;
  info.leases = rec.leases;
  return info;
}

}  // namespace berth::net

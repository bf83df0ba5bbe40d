// net_supervisor.cpp: the net supervisor: the table of networks, their actors, routing, the
// default network, and the nftables table every network shares.
#include "berth/net/net_supervisor.hpp"

#include "addr.hpp"
#include "host_links.hpp"
#include "network.hpp"

#include "berth/actors/job.hpp"
#include "berth/actors/log.hpp"
#include "berth/actors/store.hpp"
#include "berth/actors/supervision.hpp"
#include "berth/os/file.hpp"
#include "berth/os/random.hpp"
#include "berth/os/time.hpp"

#include <caf/actor_registry.hpp>
#include <caf/actor_system.hpp>
#include <caf/exit_reason.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <algorithm>
#include <functional>
#include <map>
#include <set>

namespace berth::net {

namespace {

inline constexpr log::logger nets_log("nets");

/// At most this many crashes of one network actor within the window, else the net supervisor
/// gives up (and its own supervisor decides).
constexpr std::size_t max_network_restarts = 5;
constexpr auto network_restart_window = std::chrono::seconds(30);

/// At most this many networks per container (the guest configures at most 16 interfaces).
constexpr std::size_t max_endpoints = 16;

/// The supervisor's full interface: the public one plus what its network actors send it.
using net_supervisor_impl = net_supervisor_actor::extend<
    /// A network actor saved its record.
    caf::reacts_to<save_atom, network_record>>;

struct net_entry {
  network_record rec;
  network_actor actor;
  bool creating = false;  ///< Being created: not listed, not routed to.
  bool removing = false;
  restart_intensity intensity{max_network_restarts, network_restart_window};
};

// What a container was plugged with, to plug it again into a restarted network actor.
struct plug_info {
  std::vector<api::endpoint> endpoints;
  std::vector<api::port_mapping> ports;  ///< Host ports resolved.
};

struct nets_state {
  net_options opts;
  std::shared_ptr<network_settings> settings = std::make_shared<network_settings>();
  std::map<std::string, net_entry> networks;  ///< By id.
  std::map<std::string, plug_info> plugs;     ///< By container id.
  // The firewall: one rebuild at a time; changes meanwhile make one more.
  bool fw_running = false;
  bool fw_dirty = false;
  std::vector<std::function<void()>> fw_waiters;
  // A clean stop: waiting for the network actors to take their bridges down.
  bool stopping = false;
  caf::error stop_reason;
  static inline const char* name = "nets";
};

using self_ptr = net_supervisor_impl::stateful_pointer<nets_state>;

store_actor store_of(self_ptr self) {
  return berth::store_of(self->home_system());
}

// The network named by a name, an id or a unique id prefix.
caf::expected<net_entry*> lookup(nets_state& st, const std::string& ref) {
  auto key = ref.empty() ? std::string("default") : ref;
  for (auto& [id, e] : st.networks)
    if (!e.creating && (e.rec.name == key || id == key)) return &e;
  net_entry* found = nullptr;
  for (auto& [id, e] : st.networks)
    if (!e.creating && id.compare(0, key.size(), key) == 0) {
      if (found)
        return make_error(errc::invalid_argument,
                          "more than one network matches the id prefix " + key);
      found = &e;
    }
  if (found) return found;
  return make_error(errc::not_found, "network " + key + " not found");
}

net_entry* entry_of(nets_state& st, const caf::actor_addr& who) {
  for (auto& [id, e] : st.networks)
    if (e.actor && e.actor.address() == who) return &e;
  return nullptr;
}

// Rebuilds the nft table from the networks (and turns forwarding on for NAT); calls `done` once
// the table is in place. Rebuilds never overlap: a change during one makes one more after it.
// With `blocking`, nothing else is served meanwhile (the first one, at start). Once stopping,
// nothing is rebuilt any more (the stop deletes the table after the last rebuild ended).
void rebuild_firewall(self_ptr self, std::function<void()> done = {}, bool blocking = false) {
  auto& st = self->state;
  if (done) st.fw_waiters.push_back(std::move(done));
  if (st.fw_running) {
    st.fw_dirty = true;
    return;
  }
  if (st.stopping) {
    auto waiters = std::move(st.fw_waiters);
    st.fw_waiters.clear();
    for (auto& w : waiters) w();
    return;
  }
  st.fw_running = true;
  st.fw_dirty = false;
  std::vector<host::firewall_network> nets;
  bool forward = false;
  for (auto& [id, e] : st.networks) {
    nets.push_back({e.rec.bridge, e.rec.subnet, e.rec.internal, e.rec.gateway});
    forward = forward || !e.rec.internal;
  }
  auto waiters = std::move(st.fw_waiters);
  st.fw_waiters.clear();
  auto script = host::nft_script(st.opts.nft_table, nets);
  nets_log.debug("firewall: rebuilding for {} networks", nets.size());
  auto finished = [self, waiters](const caf::error& err) {
    auto& st = self->state;
    if (err) nets_log.error("cannot set up the firewall (NAT and isolation): {}", describe(err));
    st.fw_running = false;
    for (auto& w : waiters) w();
    if (st.fw_dirty || !st.fw_waiters.empty()) rebuild_firewall(self);
  };
  auto handle = run_job(self, [script, forward]() -> caf::expected<bool> {
    if (auto err = host::apply_nft(script)) return err;
    if (forward)
      if (auto err = host::enable_ip_forward()) return err;
    return true;
  });
  if (blocking)
    handle.await([finished](bool) { finished({}); },
                 [finished](caf::error& err) { finished(err); });
  else
    handle.then([finished](bool) { finished({}); }, [finished](caf::error& err) { finished(err); });
}

caf::expected<network_actor> start_network(self_ptr self, const network_record& rec) {
  return spawn_network(self, caf::actor_cast<network_listener>(self), rec, self->state.settings);
}

// A new network's record: its id, bridge, subnet and gateway, checked against the others.
caf::expected<network_record> plan_network(nets_state& st, const api::network_create_request& req,
                                           const std::string& subnet_text) {
  if (!valid_network_name(req.name))
    return make_error(errc::invalid_argument, "invalid network name \"" + req.name +
                                                  "\": only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed");
  if (req.name == "none" || req.name == "user" || req.name == "host" || req.name == "bridge")
    return make_error(errc::invalid_argument, "network name \"" + req.name + "\" is reserved");
  for (auto& [id, e] : st.networks)
    if (e.rec.name == req.name)
      return make_error(errc::already_exists, "network with name " + req.name + " already exists");
  std::vector<subnet> used;
  for (auto& [id, e] : st.networks)
    if (auto s = parse_subnet(e.rec.subnet, false)) used.push_back(*s);
  subnet net;
  if (!subnet_text.empty()) {
    auto loose = parse_subnet(subnet_text, false);
    if (!loose || loose->prefix < 8 || loose->prefix > 30)
      return make_error(
          errc::invalid_argument,
          "invalid subnet \"" + subnet_text + "\": an IPv4 CIDR from /8 to /30 (10.90.3.0/24)");
    if (!parse_subnet(subnet_text, true))
      return make_error(errc::invalid_argument,
                        "invalid subnet " + subnet_text + ": it should be " + to_string(*loose));
    net = *loose;
    for (auto& [id, e] : st.networks)
      if (auto s = parse_subnet(e.rec.subnet, false); s && s->overlaps(net))
        return make_error(errc::conflict, "subnet " + to_string(net) + " overlaps network " +
                                              e.rec.name + " (" + e.rec.subnet + ")");
  } else {
    auto pool = parse_subnet(st.opts.pool, false);
    if (!pool)
      return make_error(errc::invalid_argument,
                        "the address pool " + st.opts.pool + " is not a subnet");
    auto free = next_free_24(*pool, used);
    if (!free)
      return make_error(errc::conflict,
                        "no free /24 left in the pool " + st.opts.pool + "; give a subnet");
    net = *free;
  }
  ipv4 gateway = net.first_host();
  if (!req.gateway.empty()) {
    auto g = parse_ipv4(req.gateway);
    if (!g || !net.usable(*g))
      return make_error(errc::invalid_argument,
                        "gateway " + req.gateway + " is not a usable address of " + to_string(net));
    gateway = *g;
  }
  network_record rec;
  rec.name = req.name;
  rec.subnet = to_string(net);
  rec.gateway = to_string(gateway);
  rec.internal = req.internal;
  rec.created = os::unix_time_ns();
  // A fresh id whose bridge name no other network has.
  for (;;) {
    rec.id = os::random_hex(32);
    rec.bridge = bridge_name(rec.id);
    bool clash = false;
    for (auto& [id, e] : st.networks) clash = clash || e.rec.bridge == rec.bridge;
    if (!clash) break;
  }
  return rec;
}

using create_done = std::function<void(caf::expected<network_record>)>;

// Creates a network: its actor brings the bridge up, the record is saved, the firewall rebuilt;
// then `done` gets the record or the error. With `blocking`, the supervisor serves nothing else
// until the record is saved (the default network at start).
void create_network(self_ptr self, network_record rec, bool blocking, create_done done) {
  auto& st = self->state;
  auto actor = start_network(self, rec);
  if (!actor) {
    done(actor.error());
    return;
  }
  net_entry entry;
  entry.rec = rec;
  entry.actor = *actor;
  entry.creating = true;
  st.networks[rec.id] = std::move(entry);
  auto fail = [self, actor = *actor, done](caf::error err) {
    // Stopped, it deletes its bridge and ends; the exit handler then drops the entry, which
    // holds the name meanwhile.
    self->send(actor, stop_atom_v);
    done(std::move(err));
  };
  auto saved = [self, rec, blocking, done]() {
    auto it = self->state.networks.find(rec.id);
    if (it == self->state.networks.end()) {
      done(make_error(errc::internal, "network " + rec.name + " went away while it was created"));
      return;
    }
    it->second.creating = false;
    nets_log.info("network={} created: {} gateway {} bridge {}{}", rec.name, rec.subnet,
                  rec.gateway, rec.bridge, rec.internal ? " internal" : "");
    rebuild_firewall(
        self, [rec, done]() { done(rec); }, blocking);
  };
  auto started = [self, rec, blocking, fail, saved]() {
    auto store = store_of(self);
    if (!store) {
      fail(make_error(errc::unavailable, "the store is not running"));
      return;
    }
    auto handle = self->request(store, caf::infinite, save_atom_v, rec);
    if (blocking)
      handle.await(saved, [fail](caf::error& err) { fail(err); });
    else
      handle.then(saved, [fail](caf::error& err) { fail(err); });
  };
  auto handle = self->request(*actor, caf::infinite, start_atom_v);
  if (blocking)
    handle.await(started, [fail](caf::error& err) { fail(err); });
  else
    handle.then(started, [fail](caf::error& err) { fail(err); });
}

// Sends a request to every network actor and calls done(first error) when all answered.
template <class... Ts>
void fan_out(self_ptr self, std::vector<network_actor> actors, std::function<void(caf::error)> done,
             Ts... xs) {
  if (actors.empty()) {
    done({});
    return;
  }
  auto left = std::make_shared<std::size_t>(actors.size());
  auto first = std::make_shared<caf::error>();
  for (auto& a : actors)
    self->request(a, caf::infinite, xs...)
        .then(
            [left, first, done]() {
              if (--*left == 0) done(*first);
            },
            [left, first, done](caf::error& err) {
              if (!*first) *first = err;
              if (--*left == 0) done(*first);
            });
}

std::vector<network_actor> all_actors(const nets_state& st) {
  std::vector<network_actor> out;
  for (auto& [id, e] : st.networks)
    if (e.actor) out.push_back(e.actor);
  return out;
}

// Plugs the containers on `rec` into its network actor `actor` again (after that actor
// restarted): taps are adopted, names come back, ports open again on the host ports they had.
void replug(self_ptr self, const network_record& rec, network_actor actor) {
  for (auto& [container, info] : self->state.plugs)
    for (uint32_t i = 0; i < info.endpoints.size(); ++i) {
      if (info.endpoints[i].network != rec.name) continue;
      auto ports = i == 0 ? info.ports : std::vector<api::port_mapping>{};
      self->request(actor, caf::infinite, plug_atom_v, container, i, info.endpoints[i], ports)
          .then([](std::string&, std::vector<api::port_mapping>&) {},
                [container = container, name = rec.name](caf::error& err) {
                  nets_log.warn("network={} container={} not plugged again: {}", name,
                                container.substr(0, 12), describe(err));
                });
    }
}

// The last step of a clean stop, once every network actor took its bridge down: the table
// goes, then the supervisor.
void finish_stop(self_ptr self) {
  auto& st = self->state;
  if (!st.networks.empty()) return;
  if (st.fw_running) {
    // A rebuild in flight would bring the table back after its deletion: wait for it.
    st.fw_waiters.push_back([self] { finish_stop(self); });
    return;
  }
  auto table = st.opts.nft_table;
  run_job(self,
          [table]() -> caf::expected<bool> {
            if (auto err = host::delete_nft_table(table)) return err;
            return true;
          })
      .then([self](bool) { self->quit(self->state.stop_reason); },
            [self](caf::error& err) {
              nets_log.warn("cannot delete the nft table: {}", describe(err));
              self->quit(self->state.stop_reason);
            });
}

// Starts the actors of the stored networks and makes the default network when there is none.
void start_networks(self_ptr self, const std::vector<network_record>& records) {
  auto& st = self->state;
  bool have_default = false;
  for (auto& rec : records) {
    auto actor = start_network(self, rec);
    if (!actor) {
      // Written by berth itself: skipped and reported rather than retried forever.
      nets_log.error("network={} skipped: {}", rec.name, describe(actor.error()));
      continue;
    }
    have_default = have_default || rec.name == "default";
    net_entry entry;
    entry.rec = rec;
    entry.actor = *actor;
    st.networks[rec.id] = std::move(entry);
  }
  nets_log.info("loaded {} networks", st.networks.size());
  // Each network actor answers `start` once its bridge is up (or known to be impossible); the
  // awaits keep everything else queued until then, so that the first answer finds them all up.
  for (auto& [id, e] : st.networks)
    self->request(e.actor, caf::infinite, start_atom_v)
        .await([] {},
               [name = e.rec.name](caf::error& err) {
                 nets_log.warn("network={} is not up: {}", name, describe(err));
               });
  if (have_default) {
    rebuild_firewall(self, {}, true);
    return;
  }
  api::network_create_request req;
  req.name = "default";
  auto rec = plan_network(st, req, st.opts.default_subnet);
  if (!rec) {
    nets_log.error("cannot make the default network: {}", describe(rec.error()));
    rebuild_firewall(self, {}, true);
    return;
  }
  create_network(self, *rec, true, [](caf::expected<network_record> r) {
    if (!r) nets_log.error("cannot make the default network: {}", describe(r.error()));
  });
}

// First deletes the bridges of networks that are gone (a berthd that died while removing one),
// before any network actor makes or adopts its own; then starts the networks.
void load(self_ptr self, std::vector<network_record> records) {
  std::set<std::string> bridges;
  for (auto& rec : records) bridges.insert(rec.bridge);
  run_job(self,
          [bridges]() -> caf::expected<bool> {
            auto links = host::list_links("bridge");
            if (!links) return links.error();
            for (auto& l : *links)
              if (l.rfind("brth-", 0) == 0 && !bridges.count(l)) {
                nets_log.info("deleting the stale bridge {}", l);
                if (auto err = host::delete_link(l)) nets_log.warn("{}", describe(err));
              }
            return true;
          })
      .await([self, records](bool) { start_networks(self, records); },
             [self, records](caf::error& err) {
               nets_log.warn("cannot look for stale bridges: {}", describe(err));
               start_networks(self, records);
             });
}

net_supervisor_impl::behavior_type nets_behavior(self_ptr self, net_options opts) {
  self->set_exception_handler(crash_error);
  auto& st = self->state;
  st.opts = std::move(opts);
  st.settings->dns_port = st.opts.dns_port;
  st.settings->nft_table = st.opts.nft_table;

  // Upstream resolvers: the options', else the host's resolv.conf (read once, at start).
  auto upstream_texts = st.opts.upstream_dns;
  if (upstream_texts.empty()) {
    try {
      upstream_texts = dns::nameservers(os::read_file("/etc/resolv.conf", 64 * 1024));
    } catch (const std::exception& e) {
      nets_log.warn("no upstream resolvers: {}", e.what());
    }
  }
  for (auto& t : upstream_texts) {
    if (auto u = dns::parse_upstream(t))
      st.settings->upstreams.push_back(*u);
    else
      nets_log.warn("ignoring the upstream resolver \"{}\": not an address", t);
  }

  self->set_exit_handler([self](caf::exit_msg& msg) {
    auto& st = self->state;
    if (auto* e = entry_of(st, msg.source)) {
      auto rec = e->rec;
      if (!is_crash(msg.reason) || st.stopping || e->creating || e->removing) {
        st.networks.erase(rec.id);
        if (st.stopping) finish_stop(self);
        return;
      }
      if (!e->intensity.allow(self->clock().now())) {
        nets_log.error("network={} crashed too often ({}); giving up", rec.name,
                       describe(msg.reason));
        self->quit(make_error(errc::unavailable, "network " + rec.name + " restarted too often"));
        return;
      }
      nets_log.error("network={} actor crashed ({}); restarting it", rec.name,
                     describe(msg.reason));
      auto actor = start_network(self, rec);
      if (!actor) {
        nets_log.error("network={} cannot restart: {}", rec.name, describe(actor.error()));
        st.networks.erase(rec.id);
        return;
      }
      e->actor = *actor;
      replug(self, rec, e->actor);
      return;
    }
    // Not one of ours: our parent, or a shutdown.
    if (!msg.reason || msg.reason == caf::exit_reason::normal) return;
    if (st.stopping) return;
    if (st.settings->keep_on_stop) {
      // Live restore: the network actors follow through their links and leave everything up.
      self->quit(msg.reason);
      return;
    }
    if (is_crash(msg.reason)) {
      // The network actors follow through their links and leave bridges, taps and the table in
      // place: a restarted net supervisor adopts them.
      self->quit(msg.reason);
      return;
    }
    nets_log.info("stopping: taking {} networks down", st.networks.size());
    st.stopping = true;
    st.stop_reason = msg.reason;
    // A message, not an exit message: CAF would unlink us from an actor we send one to, and
    // the exit of each (once its bridge is gone) is what finishes the stop.
    for (auto& [id, e] : st.networks) self->send(e.actor, stop_atom_v);
    finish_stop(self);
  });

  // Nothing is served until every network is back and the default one exists.
  if (auto store = store_to_load_from(self)) {
    self->request(store, caf::infinite, list_atom_v, network_atom_v)
        .await([self](std::vector<network_record>& records) { load(self, std::move(records)); },
               [self](caf::error& err) {
                 nets_log.error("cannot load networks: {}", describe(err));
                 self->quit(err);
               });
  }

  return {
      [self](create_atom,
             const api::network_create_request& req) -> caf::result<api::network_info> {
        auto& st = self->state;
        if (st.stopping) return make_error(errc::unavailable, "berthd is stopping");
        auto rec = plan_network(st, req, req.subnet);
        if (!rec) return rec.error();
        auto rp = self->make_response_promise<api::network_info>();
        create_network(self, *rec, false, [rp](caf::expected<network_record> r) mutable {
          if (!r)
            rp.deliver(r.error());
          else
            rp.deliver(info_of(*r));
        });
        return rp;
      },
      [self](list_atom) {
        std::vector<api::network_info> out;
        for (auto& [id, e] : self->state.networks)
          if (!e.creating) out.push_back(info_of(e.rec));
        std::sort(out.begin(), out.end(), [](auto& a, auto& b) { return a.name < b.name; });
        return out;
      },
      [self](inspect_atom, const std::string& ref) -> caf::result<api::network_info> {
        auto e = lookup(self->state, ref);
        if (!e) return e.error();
        return info_of((*e)->rec);
      },
      [self](remove_atom, const std::string& ref) -> caf::result<void> {
        auto& st = self->state;
        if (st.stopping) return make_error(errc::unavailable, "berthd is stopping");
        auto e = lookup(st, ref);
        if (!e) return e.error();
        auto* entry = *e;
        if (entry->rec.name == "default")
          return make_error(errc::conflict, "the default network cannot be removed");
        if (entry->removing)
          return make_error(errc::conflict, "network " + entry->rec.name + " is being removed");
        entry->removing = true;
        auto id = entry->rec.id;
        auto rp = self->make_response_promise();
        self->request(entry->actor, caf::infinite, remove_atom_v)
            .then(
                [self, rp, id]() mutable {
                  self->state.networks.erase(id);
                  rebuild_firewall(self, [rp]() mutable { rp.deliver(caf::unit); });
                },
                [self, rp, id](caf::error& err) mutable {
                  if (auto it = self->state.networks.find(id); it != self->state.networks.end())
                    it->second.removing = false;
                  rp.deliver(err);
                });
        return rp;
      },
      [self](prune_atom) -> caf::result<api::removed> {
        auto& st = self->state;
        if (st.stopping) return make_error(errc::unavailable, "berthd is stopping");
        std::vector<std::pair<std::string, network_actor>> victims;
        for (auto& [id, e] : st.networks)
          if (!e.creating && !e.removing && e.rec.name != "default" && e.rec.leases.empty()) {
            e.removing = true;
            victims.emplace_back(id, e.actor);
          }
        if (victims.empty()) return api::removed{};
        auto rp = self->make_response_promise<api::removed>();
        auto out = std::make_shared<api::removed>();
        auto left = std::make_shared<std::size_t>(victims.size());
        auto finish = [self, rp, out]() mutable {
          std::sort(out->deleted.begin(), out->deleted.end());
          rebuild_firewall(self, [rp, out]() mutable { rp.deliver(*out); });
        };
        for (auto& [id, actor] : victims)
          self->request(actor, caf::infinite, remove_atom_v)
              .then(
                  [self, out, left, finish, id = id]() mutable {
                    auto it = self->state.networks.find(id);
                    if (it != self->state.networks.end()) {
                      out->deleted.push_back(it->second.rec.name);
                      self->state.networks.erase(it);
                    }
                    if (--*left == 0) finish();
                  },
                  [self, left, finish, id = id](caf::error&) mutable {
                    // A container attached meanwhile: that one stays.
                    if (auto it = self->state.networks.find(id); it != self->state.networks.end())
                      it->second.removing = false;
                    if (--*left == 0) finish();
                  });
        return rp;
      },
      [self](lease_atom, const std::string& container, const std::string& name,
             const std::string& network, const std::string& ip,
             const std::vector<std::string>& aliases) -> caf::result<api::endpoint> {
        auto& st = self->state;
        if (st.stopping) return make_error(errc::unavailable, "berthd is stopping");
        auto e = lookup(st, network);
        if (!e) return e.error();
        if ((*e)->removing)
          return make_error(errc::conflict, "network " + (*e)->rec.name + " is being removed");
        return self->delegate((*e)->actor, lease_atom_v, container, name, ip, aliases);
      },
      [self](release_atom, const std::string& container,
             const std::string& network) -> caf::result<void> {
        auto& st = self->state;
        std::vector<network_actor> targets;
        if (network.empty()) {
          targets = all_actors(st);
          st.plugs.erase(container);
        } else {
          auto e = lookup(st, network);
          if (!e) return e.error();
          targets.push_back((*e)->actor);
          if (auto it = st.plugs.find(container); it != st.plugs.end())
            std::erase_if(it->second.endpoints,
                          [&](const api::endpoint& ep) { return ep.network == (*e)->rec.name; });
        }
        auto rp = self->make_response_promise();
        fan_out(
            self, targets,
            [rp](caf::error err) mutable {
              if (err)
                rp.deliver(err);
              else
                rp.deliver(caf::unit);
            },
            release_atom_v, container);
        return rp;
      },
      [self](plug_atom, const std::string& container, const std::vector<api::endpoint>& endpoints,
             const std::vector<api::port_mapping>& ports)
          -> caf::result<std::vector<std::string>, std::vector<api::port_mapping>> {
        auto& st = self->state;
        if (st.stopping) return make_error(errc::unavailable, "berthd is stopping");
        if (endpoints.empty() && !ports.empty())
          return make_error(errc::invalid_argument, "published ports need a network");
        if (endpoints.size() > max_endpoints)
          return make_error(
              errc::invalid_argument,
              "a container is on at most " + std::to_string(max_endpoints) + " networks");
        std::vector<network_actor> actors;
        std::set<std::string> seen;
        for (auto& ep : endpoints) {
          auto e = lookup(st, ep.network);
          if (!e) return e.error();
          if (!seen.insert((*e)->rec.id).second)
            return make_error(errc::invalid_argument,
                              "container is on network " + ep.network + " twice");
          actors.push_back((*e)->actor);
        }
        if (endpoints.empty())
          return {std::vector<std::string>{}, std::vector<api::port_mapping>{}};
        using result_t = std::pair<std::vector<std::string>, std::vector<api::port_mapping>>;
        auto rp =
            self->make_response_promise<std::vector<std::string>, std::vector<api::port_mapping>>();
        auto out = std::make_shared<result_t>();
        out->first.resize(endpoints.size());
        auto left = std::make_shared<std::size_t>(endpoints.size());
        auto first = std::make_shared<caf::error>();
        auto finish = [self, rp, out, first, container, endpoints, actors]() mutable {
          if (!*first) {
            self->state.plugs[container] = plug_info{endpoints, out->second};
            rp.deliver(out->first, out->second);
            return;
          }
          // Whatever was plugged goes again before the error is answered.
          self->state.plugs.erase(container);
          fan_out(
              self, actors, [rp, first](caf::error) mutable { rp.deliver(*first); }, unplug_atom_v,
              container);
        };
        for (uint32_t i = 0; i < endpoints.size(); ++i) {
          auto want = i == 0 ? ports : std::vector<api::port_mapping>{};
          self->request(actors[i], caf::infinite, plug_atom_v, container, i, endpoints[i], want)
              .then(
                  [out, left, finish, i](std::string& tap,
                                         std::vector<api::port_mapping>& open) mutable {
                    out->first[i] = tap;
                    if (i == 0) out->second = std::move(open);
                    if (--*left == 0) finish();
                  },
                  [left, first, finish](caf::error& err) mutable {
                    if (!*first) *first = err;
                    if (--*left == 0) finish();
                  });
        }
        return rp;
      },
      [self](unplug_atom, const std::string& container) -> caf::result<void> {
        auto& st = self->state;
        st.plugs.erase(container);
        auto rp = self->make_response_promise();
        fan_out(
            self, all_actors(st),
            [rp](caf::error err) mutable {
              if (err)
                rp.deliver(err);
              else
                rp.deliver(caf::unit);
            },
            unplug_atom_v, container);
        return rp;
      },
      [self](save_atom, network_record& rec) {
        auto& st = self->state;
        if (auto it = st.networks.find(rec.id); it != st.networks.end())
          it->second.rec = std::move(rec);
      },
      [self](keep_atom) {
        nets_log.info("the next stop leaves {} networks in place for the running containers",
                      self->state.networks.size());
        self->state.settings->keep_on_stop = true;
      },
  };
}

}  // namespace

net_supervisor_actor spawn_net_supervisor(caf::local_actor* parent, net_options options) {
  net_supervisor_impl impl = parent->spawn<caf::linked>(nets_behavior, std::move(options));
  return impl;
}

caf::error install_jail_firewall(const std::string& table, uint32_t uid_base) {
  return host::apply_nft(host::jail_script(table, uid_base));
}

caf::error remove_jail_firewall(const std::string& table) {
  return host::apply_nft("table inet " + table + "\ndelete table inet " + table + "\n");
}

}  // namespace berth::net

// vm_supervisor.cpp: the table of containers and volumes, and the routing of requests to the
// containers' vm actors.
#include "berth/vm/vm_supervisor.hpp"

#include "berth/actors/images.hpp"
#include "berth/actors/job.hpp"
#include "berth/actors/log.hpp"
#include "berth/actors/nets.hpp"
#include "berth/actors/supervision.hpp"
#include "berth/os/random.hpp"
#include "berth/os/time.hpp"
#include "berth/vm/container.hpp"
#include "berth/vm/disk.hpp"
#include "berth/vm/health.hpp"

#include <caf/actor_registry.hpp>
#include <caf/actor_system.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmath>
#include <map>
#include <set>
#include <thread>

namespace berth::vm {

namespace fs = std::filesystem;

namespace {

inline constexpr log::logger sup_log("vms");

/// The supervisor's full interface: the public one plus what its vm actors send it.
using vm_supervisor_impl = vm_supervisor_actor::extend<
    /// A vm actor's record changed.
    caf::reacts_to<save_atom, container_record>,
    /// A vm actor removed its container.
    caf::reacts_to<erase_atom, container_atom, std::string>>;

/// A container's actor may crash this often before the vm supervisor gives up (and its own
/// supervisor restarts it, which adopts every running VM again).
constexpr std::size_t vm_max_restarts = 5;
constexpr std::chrono::seconds vm_restart_window{60};

struct entry {
  container_record rec;
  vm_actor vm;
  restart_intensity intensity{vm_max_restarts, vm_restart_window};
};

struct vms_state {
  std::shared_ptr<const vm_environment> env;
  std::map<std::string, entry> containers;       ///< By id.
  std::set<std::string> reserved;                ///< Names of creates in flight.
  std::map<std::string, volume_record> volumes;  ///< By name.
  std::set<std::string> volumes_in_flight;       ///< Volumes being created.
  static inline const char* name = "vms";
};

using self_ptr = vm_supervisor_impl::stateful_pointer<vms_state>;

bool is_live(const std::string& s) {
  return s == state::starting || s == state::running || s == state::stopping;
}

caf::expected<entry*> lookup(vms_state& st, const std::string& ref) {
  if (ref.empty()) return make_error(errc::invalid_argument, "no container given");
  if (auto it = st.containers.find(ref); it != st.containers.end()) return &it->second;
  for (auto& [id, e] : st.containers)
    if (e.rec.name == ref) return &e;
  entry* found = nullptr;
  for (auto& [id, e] : st.containers)
    if (id.compare(0, ref.size(), ref) == 0) {
      if (found)
        return make_error(errc::invalid_argument,
                          "more than one container matches the id prefix " + ref);
      found = &e;
    }
  if (found) return found;
  return make_error(errc::not_found, "No such container: " + ref);
}

// The answer type of a handler that delegates: caf::result of what the vm actor answers.
template <class Delegated>
struct delegated_result;

template <class... Ts>
struct delegated_result<caf::delegated<Ts...>> {
  using type = caf::result<Ts...>;
};

// Hands a request about the container `ref` names (name, id or unique id prefix) to its vm actor,
// which answers the requester itself; an unknown or ambiguous `ref` is answered with lookup's
// error.
template <class... Ts>
auto forward(self_ptr self, const std::string& ref, Ts&&... xs) ->
    typename delegated_result<decltype(self->delegate(std::declval<vm_actor&>(),
                                                      std::forward<Ts>(xs)...))>::type {
  auto e = lookup(self->state, ref);
  if (!e) return e.error();
  return self->delegate((*e)->vm, std::forward<Ts>(xs)...);
}

// Asks the vm actor of the container `ref` names, and once it answered (with `Reply...`) answers
// `answer(the container's full id, reply...)`: attach, logs and exec tell the API server which
// container their stream is about. Errors, lookup's among them, are answered as they are.
template <class R, class... Reply, class Answer, class... Ts>
caf::result<R> forward_with_id(self_ptr self, const std::string& ref, Answer answer, Ts&&... xs) {
  auto e = lookup(self->state, ref);
  if (!e) return e.error();
  auto rp = self->make_response_promise<R>();
  self->request((*e)->vm, caf::infinite, std::forward<Ts>(xs)...)
      .then([rp, answer,
             id = (*e)->rec.id](Reply&... reply) mutable { rp.deliver(answer(id, reply...)); },
            [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
  return rp;
}

// The answer of attach and logs: the container's full id.
std::string id_only(const std::string& id) {
  return id;
}

bool name_taken(const vms_state& st, const std::string& name) {
  if (st.reserved.count(name)) return true;
  for (auto& [id, e] : st.containers)
    if (e.rec.name == name) return true;
  return false;
}

store_actor store_of(self_ptr self) {
  return berth::store_of(self->home_system());
}

void spawn_entry(self_ptr self, container_record rec) {
  // Linked: the vm actors end with their supervisor (their VMs do not), and a crash of one
  // reaches the exit handler below.
  auto vm = spawn_vm(self, self->state.env, rec, store_of(self), caf::actor_cast<caf::actor>(self));
  self->link_to(vm);
  auto id = rec.id;
  auto& e = self->state.containers[id];
  e.rec = std::move(rec);
  e.vm = std::move(vm);
}

// The containers that name a volume.
std::vector<const container_record*> users_of(const vms_state& st, const std::string& volume) {
  std::vector<const container_record*> out;
  for (auto& [id, e] : st.containers)
    for (auto& m : e.rec.mounts)
      if (m.type == "volume" && m.source == volume) {
        out.push_back(&e.rec);
        break;
      }
  return out;
}

api::volume_info volume_info_of(const vms_state& st, const volume_record& v) {
  api::volume_info info;
  info.name = v.name;
  info.mountpoint = v.disk;
  info.size = v.size;
  info.created = v.created;
  struct stat sb {};
  if (::stat(v.disk.c_str(), &sb) == 0) info.used = static_cast<int64_t>(sb.st_blocks) * 512;
  for (auto* rec : users_of(st, v.name)) info.containers.push_back(rec->name);
  return info;
}

// Runs on a job thread: a volume's sparse ext4 disk, made under a temporary name.
caf::expected<volume_record> make_volume(const vm_environment& env, const std::string& name,
                                         int64_t size) {
  volume_record v;
  v.name = name;
  v.disk = env.volume_disk(name).string();
  v.size = size > 0 ? size : static_cast<int64_t>(env.disk_size);
  v.created = os::unix_time_ns();
  auto dir = fs::path(v.disk).parent_path();
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return make_error(errc::io, "cannot create " + dir.string() + ": " + ec.message());
  if (auto made = make_ext4_disk(v.disk, static_cast<std::uint64_t>(v.size), name); !made) {
    fs::remove_all(dir, ec);
    return std::move(made.error());
  }
  return v;
}

// Checks the mounts of a create request; returns the named volumes that do not exist yet.
caf::expected<std::vector<std::string>> check_mounts(const vms_state& st,
                                                     const std::vector<api::mount>& mounts) {
  std::vector<std::string> missing;
  std::set<std::string> targets;
  for (auto& m : mounts) {
    if (m.target.empty() || m.target[0] != '/' || m.target == "/" ||
        m.target.find("/../") != std::string::npos || m.target.ends_with("/.."))
      return make_error(errc::invalid_argument, "invalid mount target \"" + m.target +
                                                    "\": it must be an absolute path other than /");
    if (!targets.insert(m.target).second)
      return make_error(errc::invalid_argument, "duplicate mount point: " + m.target);
    if (m.type == "volume") {
      if (!valid_name(m.source))
        return make_error(
            errc::invalid_argument,
            "invalid volume name \"" + m.source + "\": only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed");
      if (!st.volumes.count(m.source) &&
          std::find(missing.begin(), missing.end(), m.source) == missing.end())
        missing.push_back(m.source);
    } else if (m.type == "bind") {
      if (m.source.empty() || m.source[0] != '/')
        return make_error(errc::invalid_argument, "invalid bind source \"" + m.source +
                                                      "\": it must be an absolute host path");
      if (!st.env->module_sets.count("9p"))
        return make_error(
            errc::unsupported,
            "host directory shares need a guest kernel with 9p (Debian's generic kernel has it)");
    } else if (m.type != "tmpfs") {
      return make_error(errc::invalid_argument,
                        "unknown mount type \"" + m.type + "\" (volume, bind or tmpfs)");
    }
  }
  return missing;
}

// A volume attached read-write to one live container cannot be attached read-write to another.
caf::error volume_conflict(const vms_state& st, const container_record& rec) {
  for (auto& m : rec.mounts) {
    if (m.type != "volume" || m.readonly) continue;
    for (auto& [id, e] : st.containers) {
      if (id == rec.id || !is_live(e.rec.state)) continue;
      for (auto& o : e.rec.mounts)
        if (o.type == "volume" && o.source == m.source && !o.readonly)
          return make_error(errc::conflict,
                            "volume " + m.source + " is attached read-write to running container " +
                                e.rec.name + "; attach it read-only (:ro) or stop " + e.rec.name);
    }
  }
  return {};
}

net_supervisor_actor nets_of(self_ptr self) {
  return self->home_system().registry().get<net_supervisor_actor>(
      registry_key(net_supervisor_name));
}

// A create that failed after its leases were taken: they go again.
void release_leases(self_ptr self, const container_record& rec) {
  if (rec.endpoints.empty()) return;
  if (auto nets = nets_of(self))
    self->request(nets, std::chrono::seconds(30), release_atom_v, rec.id, std::string{})
        .then([] {},
              [id = rec.id.substr(0, 12)](caf::error& err) {
                sup_log.warn("container={} cannot release its addresses: {}", id, describe(err));
              });
}

bool valid_ipv4(const std::string& ip) {
  in_addr a{};
  return ::inet_pton(AF_INET, ip.c_str(), &a) == 1;
}

// The network part of a spec: sets rec.network_mode, dns and ports; answers the bridge network
// to attach to ("" for none and user).
caf::expected<std::string> plan_network(const vm_environment& env, const api::container_spec& spec,
                                        const image_runtime& img, container_record& rec) {
  auto network = spec.network;
  if (network.empty()) network = env.bridge_none ? "none" : "default";
  if (network == "bridge") network = "default";
  if (network == "host")
    return make_error(errc::invalid_argument,
                      "--network host is not supported: each container has its own VM");
  std::vector<api::port_mapping> ports = spec.ports;
  if (spec.publish_all)
    for (auto& e : img.exposed_ports) {
      api::port_mapping m;
      auto slash = e.find('/');
      try {
        auto port = std::stoul(e.substr(0, slash));
        if (port == 0 || port > 65535) continue;
        m.container_port = static_cast<uint16_t>(port);
      } catch (...) {
        continue;
      }
      m.protocol = slash == std::string::npos ? "tcp" : e.substr(slash + 1);
      if (m.protocol != "tcp" && m.protocol != "udp") continue;
      ports.push_back(m);
    }
  for (std::size_t i = 0; i < ports.size(); ++i) {
    auto& m = ports[i];
    if (m.protocol.empty()) m.protocol = "tcp";
    if (m.protocol != "tcp" && m.protocol != "udp")
      return make_error(errc::invalid_argument, "invalid protocol " + m.protocol + " (tcp or udp)");
    if (m.container_port == 0)
      return make_error(errc::invalid_argument, "invalid container port 0");
    if (!m.host_ip.empty() && !valid_ipv4(m.host_ip))
      return make_error(errc::invalid_argument,
                        "invalid host address " + m.host_ip + " (IPv4 only)");
    for (std::size_t j = 0; j < i; ++j)
      if (m.host_port != 0 && ports[j].host_port == m.host_port &&
          ports[j].protocol == m.protocol &&
          (ports[j].host_ip == m.host_ip || ports[j].host_ip.empty() || m.host_ip.empty()))
        return make_error(errc::invalid_argument, "host port " + std::to_string(m.host_port) + "/" +
                                                      m.protocol + " is published twice");
  }
  for (auto& d : spec.dns)
    if (!valid_ipv4(d))
      return make_error(errc::invalid_argument, "invalid --dns address " + d + " (IPv4 only)");
  if (!spec.ip.empty() && !valid_ipv4(spec.ip))
    return make_error(errc::invalid_argument, "invalid --ip " + spec.ip);
  rec.dns = spec.dns;
  if (network == "none" || network == "user") {
    if (!spec.ip.empty())
      return make_error(errc::invalid_argument,
                        "--ip needs a bridge network, not --network " + network);
    if (!spec.network_aliases.empty())
      return make_error(errc::invalid_argument,
                        "--network-alias needs a bridge network, not --network " + network);
    if (network == "none" && !ports.empty())
      return make_error(
          errc::invalid_argument,
          "conflicting options: port publishing and --network none (the container has no network)");
    rec.network_mode = network;
    rec.ports = std::move(ports);
    return std::string{};
  }
  if (env.bridge_none)
    return make_error(errc::unavailable,
                      "network " + network +
                          " is unavailable: berthd runs with --bridge=none (use --network none "
                          "or --network user)");
  rec.network_mode = "bridge";
  rec.ports = std::move(ports);
  return network;
}

// Creates the container: record saved, vm actor spawned.
void finish_create(self_ptr self, caf::typed_response_promise<api::created> rp,
                   container_record rec) {
  auto store = store_of(self);
  if (!store) {
    self->state.reserved.erase(rec.name);
    release_leases(self, rec);
    rp.deliver(make_error(errc::unavailable, "the store is not running"));
    return;
  }
  self->request(store, caf::infinite, save_atom_v, rec)
      .then(
          [self, rp, rec]() mutable {
            self->state.reserved.erase(rec.name);
            sup_log.info("container={} created as {} from {}", rec.id.substr(0, 12), rec.name,
                         rec.image);
            api::created out{rec.id, rec.name};
            spawn_entry(self, std::move(rec));
            rp.deliver(std::move(out));
          },
          [self, rp, rec](caf::error& err) mutable {
            self->state.reserved.erase(rec.name);
            release_leases(self, rec);
            rp.deliver(std::move(err));
          });
}

// Leases the container's address on `network` (none for ""), then creates it.
void attach_and_finish(self_ptr self, caf::typed_response_promise<api::created> rp,
                       container_record rec, std::string network, std::string ip,
                       std::vector<std::string> aliases) {
  if (network.empty()) return finish_create(self, rp, std::move(rec));
  auto nets = nets_of(self);
  if (!nets) {
    self->state.reserved.erase(rec.name);
    rp.deliver(make_error(errc::unavailable, "the network service is not running"));
    return;
  }
  auto id = rec.id;
  auto name = rec.name;
  self->request(nets, std::chrono::seconds(60), lease_atom_v, id, name, network, ip, aliases)
      .then(
          [self, rp, rec](api::endpoint& ep) mutable {
            rec.endpoints = {std::move(ep)};
            finish_create(self, rp, std::move(rec));
          },
          [self, rp, rec](caf::error& err) mutable {
            self->state.reserved.erase(rec.name);
            // A lease the answer did not reach us with would stay: release whatever there is.
            rec.endpoints.push_back({});
            release_leases(self, rec);
            rp.deliver(std::move(err));
          });
}

// Creates the named volumes in `names` one after the other, then calls `done` (or fails `rp`).
template <class Done>
void create_volumes(self_ptr self, std::vector<std::string> names,
                    caf::typed_response_promise<api::created> rp, std::string reserved_name,
                    Done done) {
  if (names.empty()) return done();
  auto name = names.back();
  names.pop_back();
  if (self->state.volumes.count(name))
    return create_volumes(self, std::move(names), rp, reserved_name, done);
  run_job(self, [env = self->state.env, name] { return make_volume(*env, name, 0); })
      .then(
          [self, names, rp, reserved_name, done](volume_record& v) mutable {
            self->state.volumes[v.name] = v;
            if (auto store = store_of(self))
              self->request(store, caf::infinite, save_atom_v, v).then([] {}, [](caf::error&) {});
            sup_log.info("volume {} created", v.name);
            create_volumes(self, std::move(names), rp, reserved_name, done);
          },
          [self, rp, reserved_name](caf::error& err) mutable {
            self->state.reserved.erase(reserved_name);
            rp.deliver(std::move(err));
          });
}

vm_supervisor_impl::behavior_type vms_behavior(self_ptr self,
                                               std::shared_ptr<const vm_environment> env) {
  self->state.env = std::move(env);
  if (auto store = store_to_load_from(self)) {
    // Nothing is served until every container and volume is back: requests wait in the mailbox.
    self->request(store, caf::infinite, list_atom_v, volume_atom_v)
        .await(
            [self](std::vector<volume_record>& vols) {
              for (auto& v : vols) self->state.volumes[v.name] = std::move(v);
            },
            [self](caf::error& err) {
              sup_log.error("cannot load volumes: {}", describe(err));
              self->quit(err);
            });
    self->request(store, caf::infinite, list_atom_v, container_atom_v)
        .await(
            [self](std::vector<container_record>& records) {
              for (auto& rec : records) spawn_entry(self, std::move(rec));
              sup_log.info("loaded {} containers and {} volumes", records.size(),
                           self->state.volumes.size());
            },
            [self](caf::error& err) {
              sup_log.error("cannot load containers: {}", describe(err));
              self->quit(err);
            });
  }
  self->set_exit_handler([self](caf::exit_msg& msg) {
    auto& st = self->state;
    for (auto it = st.containers.begin(); it != st.containers.end(); ++it) {
      if (it->second.vm.address() != msg.source) continue;
      if (!is_crash(msg.reason)) {
        st.containers.erase(it);  // removed
      } else {
        auto id = it->first;
        if (!it->second.intensity.allow(self->clock().now())) {
          sup_log.error("container={} vm actor crashed {} times in {} s ({}); giving up",
                        id.substr(0, 12), vm_max_restarts + 1, vm_restart_window.count(),
                        describe(msg.reason));
          self->quit(
              make_error(errc::unavailable, "the actor of container " + id.substr(0, 12) +
                                                " crashed too often: " + describe(msg.reason)));
          return;
        }
        sup_log.error("container={} vm actor crashed ({}); restarting it", id.substr(0, 12),
                      describe(msg.reason));
        // Started again from its last record: a running VM is adopted, not restarted.
        spawn_entry(self, it->second.rec);
      }
      return;
    }
    // A vm actor that removed its container ends normally after its entry is gone; anything
    // else is our parent going down, or a shutdown.
    if (msg.reason && msg.reason != caf::exit_reason::normal) self->quit(msg.reason);
  });
  return {
      [self](create_atom, api::container_spec spec) -> caf::result<api::created> {
        auto& st = self->state;
        if (spec.image.empty()) return make_error(errc::invalid_argument, "no image given");
        if (!spec.name.empty()) {
          if (spec.name[0] == '/') spec.name.erase(0, 1);
          if (!valid_name(spec.name))
            return make_error(errc::invalid_argument,
                              "Invalid container name (" + spec.name +
                                  "), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed");
          if (name_taken(st, spec.name))
            return make_error(errc::already_exists, "Conflict. The container name \"" + spec.name +
                                                        "\" is already in use");
        } else {
          do spec.name = random_name();
          while (name_taken(st, spec.name) &&
                 (spec.name += "_" + os::random_hex(2), name_taken(st, spec.name)));
        }
        if (spec.cpus < 0 || std::isnan(spec.cpus))
          return make_error(errc::invalid_argument, "--cpus must be positive");
        auto host_cpus = std::max(1u, std::thread::hardware_concurrency());
        uint32_t cpus = spec.cpus == 0 ? 1u : static_cast<uint32_t>(std::ceil(spec.cpus));
        if (cpus > host_cpus)
          return make_error(errc::invalid_argument,
                            "range of CPUs is from 0.01 to " + std::to_string(host_cpus) +
                                ", as there are only " + std::to_string(host_cpus) +
                                " CPUs available");
        if (spec.memory != 0 && spec.memory < (16ll << 20))
          return make_error(errc::invalid_argument, "minimum memory limit allowed is 16MB");
        auto policy = api::parse_restart_policy(spec.restart);
        if (!policy)
          return make_error(errc::invalid_argument, api::invalid_restart_policy(spec.restart));
        if (spec.auto_remove && policy->name != "no")
          return make_error(errc::invalid_argument, "conflicting options: --restart and --rm");
        if (!spec.stop_signal.empty() && os::parse_signal(spec.stop_signal) == 0)
          return make_error(errc::invalid_argument, "invalid stop signal: " + spec.stop_signal);
        if (auto err = check_healthcheck(spec.healthcheck)) return err;
        std::string log_why;
        auto log_config = api::parse_log_options(spec.log_opts, log_why);
        if (!log_config) return make_error(errc::invalid_argument, log_why);
        if (spec.labels.count(""))
          return make_error(errc::invalid_argument, "invalid label: a label needs a name");
        auto missing = check_mounts(st, spec.mounts);
        if (!missing) return missing.error();
        auto images = self->home_system().registry().get<image_supervisor_actor>(
            registry_key(image_supervisor_name));
        if (!images) return make_error(errc::unavailable, "the image service is not running");
        st.reserved.insert(spec.name);
        auto rp = self->make_response_promise<api::created>();
        self->request(images, std::chrono::seconds(60), resolve_atom_v, spec.image)
            .then(
                [self, rp, spec, cpus, log_config = *log_config,
                 missing = *missing](image_runtime& img) mutable {
                  auto& st = self->state;
                  std::string id;
                  do id = os::random_hex(32);
                  while (std::any_of(st.containers.begin(), st.containers.end(), [&](auto& kv) {
                    return kv.first.compare(0, 12, id, 0, 12) == 0;
                  }));
                  auto process = resolve_process(img, spec, id);
                  if (!process) {
                    st.reserved.erase(spec.name);
                    rp.deliver(process.error());
                    return;
                  }
                  container_record rec;
                  rec.id = id;
                  rec.name = spec.name;
                  rec.image = spec.image;
                  rec.image_id = img.id;
                  rec.image_disk = img.disk;
                  rec.process = std::move(*process);
                  rec.process.terminal = spec.tty;
                  rec.process.open_stdin = spec.open_stdin;
                  rec.process.init = spec.init;
                  if (spec.tty && std::none_of(rec.process.env.begin(), rec.process.env.end(),
                                               [](auto& e) { return e.rfind("TERM=", 0) == 0; }))
                    rec.process.env.push_back("TERM=xterm");
                  rec.stop_signal = !spec.stop_signal.empty()  ? spec.stop_signal
                                    : !img.stop_signal.empty() ? img.stop_signal
                                                               : "SIGTERM";
                  if (spec.stop_timeout >= 0) rec.stop_timeout = spec.stop_timeout;
                  rec.healthcheck = merge_healthcheck(img.healthcheck, spec.healthcheck);
                  // The image's labels, each --label over the image's of the same name (Docker).
                  rec.labels = spec.labels;
                  rec.labels.insert(img.labels.begin(), img.labels.end());
                  rec.cpus = cpus;
                  rec.memory = spec.memory > 0 ? spec.memory : st.env->default_memory;
                  rec.auto_remove = spec.auto_remove;
                  rec.restart = spec.restart.empty() ? "no" : spec.restart;
                  rec.read_only = spec.read_only;
                  rec.mounts = spec.mounts;
                  rec.log_config = log_config;
                  rec.created = os::unix_time_ns();
                  auto network = plan_network(*st.env, spec, img, rec);
                  if (!network) {
                    st.reserved.erase(spec.name);
                    rp.deliver(network.error());
                    return;
                  }
                  // Named volumes that do not exist yet are created, as Docker does for -v.
                  create_volumes(self, missing, rp, rec.name,
                                 [self, rp, rec, net_name = *network, ip = spec.ip,
                                  aliases = spec.network_aliases]() mutable {
                                   attach_and_finish(self, rp, std::move(rec), net_name, ip,
                                                     aliases);
                                 });
                },
                [self, rp, name = spec.name](caf::error& err) mutable {
                  self->state.reserved.erase(name);
                  rp.deliver(std::move(err));
                });
        return rp;
      },
      [self](start_atom, const std::string& ref) -> caf::result<void> {
        auto e = lookup(self->state, ref);
        if (!e) return e.error();
        if (auto err = volume_conflict(self->state, (*e)->rec)) {
          // A container that was to be removed when it ends ends here: it never ran.
          if ((*e)->rec.auto_remove)
            self->request((*e)->vm, caf::infinite, remove_atom_v, false)
                .then([] {}, [](caf::error&) {});
          return err;
        }
        return self->delegate((*e)->vm, start_atom_v);
      },
      [self](stop_atom, const std::string& ref, int32_t timeout, int32_t signal)
          -> caf::result<void> { return forward(self, ref, stop_atom_v, timeout, signal); },
      [self](restart_atom, const std::string& ref, int32_t timeout) -> caf::result<void> {
        return forward(self, ref, restart_atom_v, timeout);
      },
      [self](wait_atom, const std::string& ref) -> caf::result<api::exit_info> {
        return forward(self, ref, wait_atom_v);
      },
      [self](remove_atom, const std::string& ref, bool force) -> caf::result<void> {
        return forward(self, ref, remove_atom_v, force);
      },
      [self](kill_atom, const std::string& ref, int32_t sig) -> caf::result<void> {
        return forward(self, ref, kill_atom_v, sig);
      },
      [self](stats_atom, const std::string& ref) -> caf::result<api::container_stats> {
        return forward(self, ref, stats_atom_v);
      },
      [self](ping_atom, const std::string& ref) -> caf::result<api::ping_result> {
        return forward(self, ref, ping_atom_v);
      },
      [self](crash_atom, const std::string& ref) -> caf::result<void> {
        auto e = lookup(self->state, ref);
        if (!e) return e.error();
        // A message it throws on, not an exit message: CAF unlinks the receiver of an exit
        // message from its sender, and this supervisor would never hear of the crash.
        self->send((*e)->vm, crash_atom_v);
        return caf::unit;
      },
      [self](file_atom, const api::file_ref& ref) -> caf::result<api::file_info> {
        return forward(self, ref.container, file_atom_v, ref);
      },
      [self](file_atom, list_atom,
             const api::file_ref& ref) -> caf::result<std::vector<api::file_info>> {
        return forward(self, ref.container, file_atom_v, list_atom_v, ref);
      },
      [self](file_atom, read_atom,
             const api::file_read_request& req) -> caf::result<api::file_data> {
        return forward(self, req.container, file_atom_v, read_atom_v, req);
      },
      [self](file_atom, write_atom, api::file_write_request& req) -> caf::result<void> {
        auto ref = req.container;
        return forward(self, ref, file_atom_v, write_atom_v, std::move(req));
      },
      [self](file_atom, mkdir_atom, const api::file_spec& spec) -> caf::result<void> {
        return forward(self, spec.container, file_atom_v, mkdir_atom_v, spec);
      },
      [self](file_atom, symlink_atom, const api::file_spec& spec) -> caf::result<void> {
        return forward(self, spec.container, file_atom_v, symlink_atom_v, spec);
      },
      [self](file_atom, touch_atom, const api::file_spec& spec) -> caf::result<void> {
        return forward(self, spec.container, file_atom_v, touch_atom_v, spec);
      },
      [self](list_atom, bool all) {
        std::vector<api::container_info> out;
        for (auto& [id, e] : self->state.containers)
          if (all || is_live(e.rec.state)) out.push_back(to_info(e.rec, *self->state.env));
        std::sort(out.begin(), out.end(), [](auto& a, auto& b) { return a.created > b.created; });
        return out;
      },
      [self](inspect_atom, const std::string& ref) -> caf::result<api::container_info> {
        auto e = lookup(self->state, ref);
        if (!e) return e.error();
        return to_info((*e)->rec, *self->state.env);
      },
      [self](attach_atom, const std::string& ref, caf::actor sub) -> caf::result<std::string> {
        return forward_with_id<std::string>(self, ref, id_only, attach_atom_v, std::move(sub));
      },
      [self](logs_atom, const std::string& ref, caf::actor sub,
             const api::logs_request& req) -> caf::result<std::string> {
        return forward_with_id<std::string>(self, ref, id_only, logs_atom_v, std::move(sub), req);
      },
      [self](exec_atom, const api::exec_request& req,
             caf::actor sub) -> caf::result<std::vector<std::string>> {
        // Answers the container's id and the exec's.
        auto both = [](const std::string& id, std::string& exec_id) {
          return std::vector<std::string>{id, exec_id};
        };
        return forward_with_id<std::vector<std::string>, std::string>(
            self, req.container, both, exec_atom_v, req, std::move(sub));
      },
      [self](stdin_atom, const std::string& container, const std::string& process,
             std::vector<char>& data) -> caf::result<void> {
        return forward(self, container, stdin_atom_v, process, std::move(data));
      },
      [self](eof_atom, const std::string& container, const std::string& process)
          -> caf::result<void> { return forward(self, container, eof_atom_v, process); },
      [self](resize_atom, const std::string& container, const std::string& process, uint16_t rows,
             uint16_t cols) -> caf::result<void> {
        return forward(self, container, resize_atom_v, process, rows, cols);
      },
      [self](prune_atom) -> caf::result<api::removed> {
        auto& st = self->state;
        auto out = std::make_shared<api::removed>();
        auto pending = std::make_shared<std::size_t>(0);
        for (auto& [id, e] : st.containers)
          if (!is_live(e.rec.state)) ++*pending;
        if (*pending == 0) return *out;
        auto rp = self->make_response_promise<api::removed>();
        for (auto& [id, e] : st.containers) {
          if (is_live(e.rec.state)) continue;
          self->request(e.vm, caf::infinite, remove_atom_v, false)
              .then(
                  [rp, out, pending, id = id]() mutable {
                    out->deleted.push_back(id);
                    if (--*pending == 0) rp.deliver(*out);
                  },
                  [rp, out, pending](caf::error&) mutable {
                    if (--*pending == 0) rp.deliver(*out);
                  });
        }
        return rp;
      },
      [self](volume_atom, create_atom,
             const api::volume_create_request& req) -> caf::result<api::volume_info> {
        auto& st = self->state;
        auto name = req.name.empty() ? os::random_hex(16) : req.name;
        if (!valid_name(name))
          return make_error(
              errc::invalid_argument,
              "invalid volume name \"" + name + "\": only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed");
        if (req.size < 0) return make_error(errc::invalid_argument, "volume size must be positive");
        if (auto it = st.volumes.find(name); it != st.volumes.end())
          return volume_info_of(st, it->second);
        if (!st.volumes_in_flight.insert(name).second)
          return make_error(errc::conflict, "volume " + name + " is being created");
        auto rp = self->make_response_promise<api::volume_info>();
        run_job(self,
                [env = st.env, name, size = req.size] { return make_volume(*env, name, size); })
            .then(
                [self, rp](volume_record& v) mutable {
                  auto& st = self->state;
                  st.volumes_in_flight.erase(v.name);
                  st.volumes[v.name] = v;
                  auto info = volume_info_of(st, v);
                  auto store = store_of(self);
                  if (!store) {
                    rp.deliver(info);
                    return;
                  }
                  self->request(store, caf::infinite, save_atom_v, v)
                      .then([rp, info]() mutable { rp.deliver(info); },
                            [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
                },
                [self, rp, name](caf::error& err) mutable {
                  self->state.volumes_in_flight.erase(name);
                  rp.deliver(std::move(err));
                });
        return rp;
      },
      [self](volume_atom, list_atom) {
        std::vector<api::volume_info> out;
        for (auto& [name, v] : self->state.volumes) out.push_back(volume_info_of(self->state, v));
        return out;
      },
      [self](volume_atom, inspect_atom, const std::string& name) -> caf::result<api::volume_info> {
        auto it = self->state.volumes.find(name);
        if (it == self->state.volumes.end())
          return make_error(errc::not_found, "No such volume: " + name);
        return volume_info_of(self->state, it->second);
      },
      [self](volume_atom, remove_atom, const std::string& name, bool force) -> caf::result<void> {
        auto& st = self->state;
        auto it = st.volumes.find(name);
        if (it == st.volumes.end()) return make_error(errc::not_found, "No such volume: " + name);
        for (auto* rec : users_of(st, name))
          if (is_live(rec->state) || !force)
            return make_error(errc::conflict,
                              "volume " + name + " is in use by container " + rec->name +
                                  (is_live(rec->state) ? "" : " (remove it, or use -f)"));
        auto disk = it->second.disk;
        st.volumes.erase(it);
        auto rp = self->make_response_promise();
        run_job(self,
                [disk]() -> caf::expected<bool> {
                  std::error_code ec;
                  fs::remove_all(fs::path(disk).parent_path(), ec);
                  if (ec)
                    return make_error(errc::io, "cannot remove " + disk + ": " + ec.message());
                  return true;
                })
            .then(
                [self, rp, name](bool) mutable {
                  sup_log.info("volume {} removed", name);
                  auto store = store_of(self);
                  if (!store) {
                    rp.deliver(caf::unit);
                    return;
                  }
                  self->request(store, caf::infinite, erase_atom_v, volume_atom_v, name)
                      .then([rp]() mutable { rp.deliver(caf::unit); },
                            [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
                },
                [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
        return rp;
      },
      [self](volume_atom, prune_atom) -> caf::result<api::removed> {
        auto& st = self->state;
        api::removed out;
        std::vector<std::string> unused;
        for (auto& [name, v] : st.volumes)
          if (users_of(st, name).empty()) unused.push_back(name);
        for (auto& name : unused) {
          struct stat sb {};
          if (::stat(st.volumes[name].disk.c_str(), &sb) == 0)
            out.reclaimed += static_cast<uint64_t>(sb.st_blocks) * 512;
          auto disk = st.volumes[name].disk;
          st.volumes.erase(name);
          out.deleted.push_back(name);
          run_job(self, [disk]() -> caf::expected<bool> {
            std::error_code ec;
            fs::remove_all(fs::path(disk).parent_path(), ec);
            return true;
          }).then([](bool) {}, [](caf::error&) {});
          if (auto store = store_of(self))
            self->request(store, caf::infinite, erase_atom_v, volume_atom_v, name)
                .then([] {}, [](caf::error&) {});
        }
        return out;
      },
      [self](info_atom) {
        auto& st = self->state;
        api::system_info info;
        info.accelerator = std::string(to_string(st.env->accel.kind.value_or(accelerator::tcg)));
        info.accelerator_note = st.env->accel.note;
        info.kernel = st.env->kernel.source.string();
        info.kernel_version = st.env->kernel.release;
        info.agent_transport = std::string(to_string(st.env->transport));
        info.data_root = st.env->data_root.string();
        info.qemu = st.env->qemu_version;
        for (auto& [id, e] : st.containers) {
          ++info.containers;
          if (is_live(e.rec.state)) ++info.containers_running;
        }
        return info;
      },
      [self](shutdown_atom) -> caf::result<void> {
        auto& st = self->state;
        auto pending = std::make_shared<std::size_t>(0);
        for (auto& [id, e] : st.containers)
          if (is_live(e.rec.state)) ++*pending;
        if (*pending == 0) return caf::unit;
        auto rp = self->make_response_promise();
        sup_log.info("stopping {} running containers", *pending);
        for (auto& [id, e] : st.containers) {
          if (!is_live(e.rec.state)) continue;
          self->request(e.vm, std::chrono::seconds(60), shutdown_atom_v)
              .then(
                  [rp, pending]() mutable {
                    if (--*pending == 0) rp.deliver(caf::unit);
                  },
                  [rp, pending, id = id](caf::error& err) mutable {
                    sup_log.warn("container={} did not stop: {}", id.substr(0, 12), describe(err));
                    if (--*pending == 0) rp.deliver(caf::unit);
                  });
        }
        return rp;
      },
      [self](save_atom, container_record& rec) {
        auto& st = self->state;
        if (auto it = st.containers.find(rec.id); it != st.containers.end())
          it->second.rec = std::move(rec);
      },
      [self](erase_atom, container_atom, const std::string& id) {
        self->state.containers.erase(id);
      },
  };
}

}  // namespace

api::container_info to_info(const container_record& rec, const vm_environment&) {
  api::container_info info;
  info.id = rec.id;
  info.name = rec.name;
  info.image = rec.image;
  info.image_id = rec.image_id;
  info.command = rec.process.args;
  info.state = rec.state;
  info.exit_code = rec.exit_code;
  info.reason = rec.reason;
  info.created = rec.created;
  info.started = rec.started;
  info.finished = rec.finished;
  info.pid = rec.qemu_pid;
  info.cpus = rec.cpus;
  info.memory = rec.memory;
  info.auto_remove = rec.auto_remove;
  info.restart = rec.restart;
  info.restart_count = rec.restart_count;
  info.tty = rec.process.terminal;
  info.open_stdin = rec.process.open_stdin;
  info.read_only = rec.read_only;
  info.mounts = rec.mounts;
  info.hostname = rec.process.hostname;
  info.env = rec.process.env;
  info.workdir = rec.process.cwd;
  info.user = rec.process.user;
  info.network_mode = rec.network_mode;
  info.networks = rec.endpoints;
  info.ports = !rec.published.empty() ? rec.published : rec.ports;
  info.healthcheck = rec.healthcheck;
  info.health = rec.health;
  info.labels = rec.labels;
  info.log_config = api::effective_log_config(rec.log_config);
  return info;
}

vm_supervisor_actor spawn_vm_supervisor(caf::local_actor* parent,
                                        std::shared_ptr<const vm_environment> env) {
  vm_supervisor_impl impl = parent->spawn<caf::linked>(vms_behavior, std::move(env));
  return impl;
}

}  // namespace berth::vm

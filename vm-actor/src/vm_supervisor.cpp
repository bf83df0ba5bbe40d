// vm_supervisor.cpp: the table of containers and the routing of requests to their vm actors.
#include "berth/vm/vm_supervisor.hpp"

#include "berth/actors/log.hpp"
#include "berth/actors/os.hpp"
#include "berth/image/image_actor.hpp"
#include "berth/vm/container.hpp"

#include <caf/actor_registry.hpp>
#include <caf/actor_system.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <cmath>
#include <map>
#include <set>
#include <thread>

namespace berth::vm {

namespace {

inline constexpr log::logger sup_log("vms");

/// The supervisor's full interface: the public one plus what its vm actors send it.
using vm_supervisor_impl = vm_supervisor_actor::extend<
    /// A vm actor's record changed.
    caf::reacts_to<save_atom, container_record>,
    /// A vm actor removed its container.
    caf::reacts_to<erase_atom, container_atom, std::string>>;

struct entry {
  container_record rec;
  vm_actor vm;
};

struct vms_state {
  std::shared_ptr<const vm_environment> env;
  std::map<std::string, entry> containers;  ///< By id.
  std::set<std::string> reserved;           ///< Names of creates in flight.
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
      if (found) return make_error(errc::invalid_argument, "more than one container matches the id prefix " + ref);
      found = &e;
    }
  if (found) return found;
  return make_error(errc::not_found, "No such container: " + ref);
}

bool name_taken(const vms_state& st, const std::string& name) {
  if (st.reserved.count(name)) return true;
  for (auto& [id, e] : st.containers)
    if (e.rec.name == name) return true;
  return false;
}

void spawn_entry(self_ptr self, container_record rec) {
  auto store = self->home_system().registry().get<store_actor>(caf::atom_from_string(store_name));
  // Linked: the vm actors end with their supervisor (their VMs do not), and a crash of one
  // reaches the exit handler below.
  auto vm = spawn_vm(self, self->state.env, rec, store, caf::actor_cast<caf::actor>(self));
  self->link_to(vm);
  auto id = rec.id;
  self->state.containers[id] = entry{std::move(rec), std::move(vm)};
}

vm_supervisor_impl::behavior_type vms_behavior(self_ptr self, std::shared_ptr<const vm_environment> env) {
  self->state.env = std::move(env);
  auto store = self->home_system().registry().get<store_actor>(caf::atom_from_string(store_name));
  if (store) {
    // Nothing is served until every container is back: requests wait in the mailbox.
    self->request(store, caf::infinite, list_atom_v, container_atom_v)
        .await([self](std::vector<container_record>& records) {
                 for (auto& rec : records) spawn_entry(self, std::move(rec));
                 sup_log.info("loaded {} containers", records.size());
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
      if (!msg.reason || msg.reason == caf::exit_reason::normal) {
        st.containers.erase(it);  // removed
      } else {
        sup_log.error("container={} vm actor crashed ({}); restarting it", it->first.substr(0, 12),
                      describe(msg.reason));
        auto rec = it->second.rec;
        st.containers.erase(it);
        spawn_entry(self, std::move(rec));
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
            return make_error(errc::already_exists,
                              "Conflict. The container name \"" + spec.name + "\" is already in use");
        } else {
          do spec.name = random_name();
          while (name_taken(st, spec.name) && (spec.name += "_" + os::random_hex(2), name_taken(st, spec.name)));
        }
        if (spec.cpus < 0 || std::isnan(spec.cpus))
          return make_error(errc::invalid_argument, "--cpus must be positive");
        auto host_cpus = std::max(1u, std::thread::hardware_concurrency());
        uint32_t cpus = spec.cpus == 0 ? 1u : static_cast<uint32_t>(std::ceil(spec.cpus));
        if (cpus > host_cpus)
          return make_error(errc::invalid_argument, "range of CPUs is from 0.01 to " +
                                                        std::to_string(host_cpus) + ", as there are only " +
                                                        std::to_string(host_cpus) + " CPUs available");
        if (spec.memory != 0 && spec.memory < (16ll << 20))
          return make_error(errc::invalid_argument, "minimum memory limit allowed is 16MB");
        auto images = self->home_system().registry().get<image::image_actor>(
            caf::atom_from_string(image::image_supervisor_name));
        if (!images) return make_error(errc::unavailable, "the image service is not running");
        st.reserved.insert(spec.name);
        auto rp = self->make_response_promise<api::created>();
        self->request(images, std::chrono::seconds(60), resolve_atom_v, spec.image)
            .then(
                [self, rp, spec, cpus](image_runtime& img) mutable {
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
                  if (!img.stop_signal.empty()) rec.stop_signal = img.stop_signal;
                  rec.cpus = cpus;
                  rec.memory = spec.memory > 0 ? spec.memory : st.env->default_memory;
                  rec.auto_remove = spec.auto_remove;
                  rec.created = os::unix_time_ns();
                  auto store = self->home_system().registry().get<store_actor>(caf::atom_from_string(store_name));
                  if (!store) {
                    st.reserved.erase(spec.name);
                    rp.deliver(make_error(errc::unavailable, "the store is not running"));
                    return;
                  }
                  self->request(store, caf::infinite, save_atom_v, rec)
                      .then(
                          [self, rp, rec]() mutable {
                            self->state.reserved.erase(rec.name);
                            sup_log.info("container={} created as {} from {}", rec.id.substr(0, 12),
                                         rec.name, rec.image);
                            api::created out{rec.id, rec.name};
                            spawn_entry(self, std::move(rec));
                            rp.deliver(std::move(out));
                          },
                          [self, rp, name = rec.name](caf::error& err) mutable {
                            self->state.reserved.erase(name);
                            rp.deliver(std::move(err));
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
        return self->delegate((*e)->vm, start_atom_v);
      },
      [self](stop_atom, const std::string& ref, int32_t timeout) -> caf::result<void> {
        auto e = lookup(self->state, ref);
        if (!e) return e.error();
        return self->delegate((*e)->vm, stop_atom_v, timeout);
      },
      [self](wait_atom, const std::string& ref) -> caf::result<api::exit_info> {
        auto e = lookup(self->state, ref);
        if (!e) return e.error();
        return self->delegate((*e)->vm, wait_atom_v);
      },
      [self](remove_atom, const std::string& ref, bool force) -> caf::result<void> {
        auto e = lookup(self->state, ref);
        if (!e) return e.error();
        return self->delegate((*e)->vm, remove_atom_v, force);
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
        auto e = lookup(self->state, ref);
        if (!e) return e.error();
        auto rp = self->make_response_promise<std::string>();
        auto id = (*e)->rec.id;
        self->request((*e)->vm, caf::infinite, attach_atom_v, std::move(sub))
            .then([rp, id]() mutable { rp.deliver(id); },
                  [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
        return rp;
      },
      [self](logs_atom, const std::string& ref, caf::actor sub) -> caf::result<std::string> {
        auto e = lookup(self->state, ref);
        if (!e) return e.error();
        auto rp = self->make_response_promise<std::string>();
        auto id = (*e)->rec.id;
        self->request((*e)->vm, caf::infinite, logs_atom_v, std::move(sub))
            .then([rp, id]() mutable { rp.deliver(id); },
                  [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
        return rp;
      },
      [self](info_atom) {
        auto& st = self->state;
        api::system_info info;
        info.accelerator = st.env->accel.name;
        info.accelerator_note = st.env->accel.note;
        info.kernel = st.env->kernel.source.string();
        info.kernel_version = st.env->kernel.release;
        info.agent_transport = st.env->transport;
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
          self->request(e.vm, std::chrono::seconds(30), stop_atom_v, int32_t{10})
              .then([rp, pending]() mutable {
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
        if (auto it = st.containers.find(rec.id); it != st.containers.end()) it->second.rec = std::move(rec);
      },
      [self](erase_atom, container_atom, const std::string& id) { self->state.containers.erase(id); },
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
  return info;
}

vm_supervisor_actor spawn_vm_supervisor(caf::local_actor* parent,
                                        std::shared_ptr<const vm_environment> env) {
  vm_supervisor_impl impl = parent->spawn<caf::linked>(vms_behavior, std::move(env));
  return impl;
}

}  // namespace berth::vm

// system.cpp: system.ping, system.info (the vm supervisor's view with the image count added)
// and debug.crash (fault injection, only with berthd --fault-injection).
#include "api/handler.hpp"

#include "berth/actors/images.hpp"
#include "berth/actors/log.hpp"
#include "berth/actors/nets.hpp"
#include "berth/actors/store.hpp"
#include "berth/actors/vms.hpp"

#include <caf/actor_cast.hpp>
#include <caf/actor_registry.hpp>
#include <caf/actor_system.hpp>

namespace berth::api_server {

namespace {

inline constexpr log::logger system_log("rpc");

void ping(caf::io::broker* self, const session_ptr& st, rpc::message& m) {
  reply(self, *st, m.id, api::empty{});
}

void info(caf::io::broker* self, const session_ptr& st, rpc::message& m) {
  auto id = m.id;
  auto vms = vm_supervisor_of(self->home_system());
  if (!vms) return reply_error(self, *st, id, unavailable("container"));
  self->request(vms, caf::infinite, info_atom_v)
      .then(
          [self, st, id](api::system_info& info) {
            info.version = st->opts.version;
            auto images = image_supervisor_of(self->home_system());
            if (!images) return reply(self, *st, id, info);
            self->request(images, caf::infinite, list_atom_v)
                .then(
                    [self, st, id, info](std::vector<api::image_info>& list) mutable {
                      info.images = static_cast<uint32_t>(list.size());
                      reply(self, *st, id, info);
                    },
                    [self, st, id, info](caf::error&) { reply(self, *st, id, info); });
          },
          [self, st, id](caf::error& err) { reply_error(self, *st, id, err); });
}

// A supervisor of the tree ends with an error (its own supervisor restarts it), or a
// container's vm actor throws.
void crash(caf::io::broker* self, const session_ptr& st, rpc::message& m) {
  auto target = rpc::arg<api::crash_request>(m).target;
  if (target == store_name || target == image_supervisor_name || target == net_supervisor_name ||
      target == vm_supervisor_name) {
    auto h = self->home_system().registry().get(caf::atom_from_string(target));
    if (!h)
      return reply_error(self, *st, m.id,
                         make_error(errc::not_found, "no actor " + target + " is running"));
    system_log.warn("debug.crash: crashing {}", target);
    self->send_exit(caf::actor_cast<caf::actor>(h),
                    make_error(errc::internal, "a crash injected by debug.crash"));
    return reply(self, *st, m.id, api::empty{});
  }
  system_log.warn("debug.crash: crashing the vm actor of {}", target);
  ask<void>(self, st, m.id, vm_supervisor_of(self->home_system()), unavailable("container"),
            crash_atom_v, target);
}

}  // namespace

void system_routes(route_table& table, const options& opts) {
  table.emplace(api::method::system_ping, ping);
  table.emplace(api::method::system_info, info);
  if (opts.fault_injection) table.emplace(api::method::debug_crash, crash);
}

}  // namespace berth::api_server

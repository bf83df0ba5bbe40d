// containers.cpp: the container.* methods (lifecycle, attach, logs, exec, signals, stats),
// each asking the vm supervisor; attach, logs and exec open a stream.
#include "api/handler.hpp"

#include "berth/os/signal.hpp"

#include <caf/actor_cast.hpp>

namespace berth::api_server {

namespace {

void create(caf::io::broker* self, const session_ptr& st, rpc::message& m) {
  vm_call<api::created>(self, st, m.id, create_atom_v, rpc::arg<api::container_spec>(m));
}

void start(caf::io::broker* self, const session_ptr& st, rpc::message& m) {
  vm_call<void>(self, st, m.id, start_atom_v, rpc::arg<api::container_ref>(m).container);
}

void stop(caf::io::broker* self, const session_ptr& st, rpc::message& m) {
  auto req = rpc::arg<api::stop_request>(m);
  int32_t sig = 0;
  if (!req.signal.empty() && (sig = os::parse_signal(req.signal)) == 0)
    return reply_error(self, *st, m.id,
                       make_error(errc::invalid_argument, "invalid signal: " + req.signal));
  vm_call<void>(self, st, m.id, stop_atom_v, req.container, req.timeout, sig);
}

void wait(caf::io::broker* self, const session_ptr& st, rpc::message& m) {
  vm_call<api::exit_info>(self, st, m.id, wait_atom_v, rpc::arg<api::container_ref>(m).container);
}

void remove(caf::io::broker* self, const session_ptr& st, rpc::message& m) {
  auto req = rpc::arg<api::remove_request>(m);
  vm_call<void>(self, st, m.id, remove_atom_v, req.container, req.force);
}

void list(caf::io::broker* self, const session_ptr& st, rpc::message& m) {
  vm_call<std::vector<api::container_info>>(self, st, m.id, list_atom_v,
                                            rpc::arg<api::list_request>(m).all);
}

void inspect(caf::io::broker* self, const session_ptr& st, rpc::message& m) {
  vm_call<api::container_info>(self, st, m.id, inspect_atom_v,
                               rpc::arg<api::container_ref>(m).container);
}

// Opens a stream fed by the vm supervisor's answer to `ask(forwarder)`, a request answering the
// container id; the answer to the client names the stream.
template <class Ask>
void open_stream(caf::io::broker* self, const session_ptr& st, uint32_t id, bool stdin, Ask ask) {
  auto vms = vm_supervisor_of(self->home_system());
  if (!vms) return reply_error(self, *st, id, unavailable("container"));
  auto s = add_stream(self, *st, stdin);
  ask(vms, s.forwarder)
      .then(
          [self, st, id, s](const std::string& container) {
            stream_ready(self, *st, id, s, container, container, api::stream{s.id});
          },
          [self, st, id, s](caf::error& err) { stream_failed(self, *st, id, s, err); });
}

void attach(caf::io::broker* self, const session_ptr& st, rpc::message& m) {
  auto req = rpc::arg<api::attach_request>(m);
  open_stream(self, st, m.id, req.stdin,
              [self, req](const vm_supervisor_actor& vms, const caf::actor& fwd) {
                return self->request(vms, caf::infinite, attach_atom_v, req.container, fwd);
              });
}

void logs(caf::io::broker* self, const session_ptr& st, rpc::message& m) {
  auto req = rpc::arg<api::logs_request>(m);
  open_stream(self, st, m.id, false,
              [self, req](const vm_supervisor_actor& vms, const caf::actor& fwd) {
                return self->request(vms, caf::infinite, logs_atom_v, req.container, fwd, req);
              });
}

// Detached: answered once the process started. Else a stream of its output that ends with its
// exit code; the answer names the stream and the exec id.
void exec(caf::io::broker* self, const session_ptr& st, rpc::message& m) {
  auto id = m.id;
  auto req = rpc::arg<api::exec_request>(m);
  auto vms = vm_supervisor_of(self->home_system());
  if (!vms) return reply_error(self, *st, id, unavailable("container"));
  if (req.detach) {
    self->request(vms, caf::infinite, exec_atom_v, req, caf::actor{})
        .then(
            [self, st, id](std::vector<std::string>& ids) {
              reply(self, *st, id, api::exec_started{ids.at(1), 0});
            },
            [self, st, id](caf::error& err) { reply_error(self, *st, id, err); });
    return;
  }
  auto s = add_stream(self, *st, req.open_stdin);
  self->request(vms, caf::infinite, exec_atom_v, req, s.forwarder)
      .then(
          [self, st, id, s](std::vector<std::string>& ids) {
            stream_ready(self, *st, id, s, ids.at(0), ids.at(1),
                         api::exec_started{ids.at(1), s.id});
          },
          [self, st, id, s](caf::error& err) { stream_failed(self, *st, id, s, err); });
}

void kill(caf::io::broker* self, const session_ptr& st, rpc::message& m) {
  auto req = rpc::arg<api::kill_request>(m);
  int sig = os::parse_signal(req.signal);
  if (sig == 0)
    return reply_error(self, *st, m.id,
                       make_error(errc::invalid_argument, "invalid signal: " + req.signal));
  vm_call<void>(self, st, m.id, kill_atom_v, req.container, static_cast<int32_t>(sig));
}

void restart(caf::io::broker* self, const session_ptr& st, rpc::message& m) {
  auto req = rpc::arg<api::stop_request>(m);
  vm_call<void>(self, st, m.id, restart_atom_v, req.container, req.timeout);
}

void ping(caf::io::broker* self, const session_ptr& st, rpc::message& m) {
  vm_call<api::ping_result>(self, st, m.id, ping_atom_v, rpc::arg<api::container_ref>(m).container);
}

void stats(caf::io::broker* self, const session_ptr& st, rpc::message& m) {
  vm_call<api::container_stats>(self, st, m.id, stats_atom_v,
                                rpc::arg<api::container_ref>(m).container);
}

void prune(caf::io::broker* self, const session_ptr& st, rpc::message& m) {
  vm_call<api::removed>(self, st, m.id, prune_atom_v);
}

}  // namespace

void container_routes(route_table& table) {
  namespace mth = api::method;
  table.emplace(mth::container_create, create);
  table.emplace(mth::container_start, start);
  table.emplace(mth::container_stop, stop);
  table.emplace(mth::container_wait, wait);
  table.emplace(mth::container_remove, remove);
  table.emplace(mth::container_list, list);
  table.emplace(mth::container_inspect, inspect);
  table.emplace(mth::container_attach, attach);
  table.emplace(mth::container_logs, logs);
  table.emplace(mth::container_exec, exec);
  table.emplace(mth::container_kill, kill);
  table.emplace(mth::container_restart, restart);
  table.emplace(mth::container_ping, ping);
  table.emplace(mth::container_stats, stats);
  table.emplace(mth::container_prune, prune);
}

}  // namespace berth::api_server

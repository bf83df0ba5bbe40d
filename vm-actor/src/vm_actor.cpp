// vm_actor.cpp: the container state machine around one QEMU process: its phases, start, stop,
// removal, the end of its VM and the restart policy, and the behaviour that dispatches to the
// parts beside it (see vm_state.hpp).
#include "vm_state.hpp"

#include "berth/actors/job.hpp"
#include "berth/actors/supervision.hpp"
#include "berth/os/time.hpp"
#include "berth/rpc/codec.hpp"
#include "berth/vm/container.hpp"

#include <signal.h>

#include <stdexcept>
#include <string_view>
#include <utility>

namespace berth::vm {
namespace detail {

void persist(self_ptr self) {
  auto& st = self->state;
  if (st.store)
    self->request(st.store, caf::infinite, save_atom_v, st.rec)
        .then([] {},
              [id = st.short_id()](caf::error& err) {
                vm_log.error("container={} cannot save its record: {}", id, describe(err));
              });
  if (st.listener) caf::anon_send(st.listener, save_atom_v, st.rec);
}

void signal_vm(self_ptr self, int sig) {
  auto& st = self->state;
  if (st.qemu_pid > 0) st.backend().kill(st.qemu_pid, sig);
}

// Ends the VM: a clean shutdown through the agent when there is one, QMP quit when not, and
// SIGKILL when neither answers in time. QEMU's exit then finishes the job (on_qemu_exit).
void shutdown_vm(self_ptr self) {
  auto& st = self->state;
  if (st.ph == phase::shutting_down || st.ph == phase::idle) return;
  st.ph = phase::shutting_down;
  auto gen = ++st.timer_gen;
  self->delayed_send(self, std::chrono::seconds(15), tick_atom_v, gen);
  if (st.agent) {
    call_agent(self, agent::method::shutdown, rpc::pack(agent::empty{}), std::chrono::seconds(10))
        .then([](const std::string&) {},
              [self](caf::error& err) {
                vm_log.warn("container={} agent did not shut down ({}); killing the VM",
                            self->state.short_id(), describe(err));
                signal_vm(self, SIGKILL);
              });
    return;
  }
  run_job(self, [env = st.env, rec = st.rec] {
    return env->backend->monitor(*env, rec, "quit", std::chrono::seconds(5));
  }).then([](const std::string&) {}, [self](caf::error&) { signal_vm(self, SIGKILL); });
}

void fail_start(self_ptr self, caf::error err) {
  auto& st = self->state;
  if (st.start_error) return;  // the first reason is the one to report
  auto code = code_of(err);
  st.rec.exit_code = code == errc::exec_not_found ? 127 : code == errc::exec_denied ? 126 : 125;
  st.rec.reason = describe(err);
  st.start_error = std::move(err);
  vm_log.warn("container={} failed to start: {}", st.short_id(), st.rec.reason);
  if (st.ph == phase::booting || st.ph == phase::running) shutdown_vm(self);
}

void finish_removal(self_ptr self) {
  auto& st = self->state;
  auto id = st.rec.id;
  auto dir = st.dir();
  auto run = st.run_dir();
  run_job(self,
          [dir, run]() -> caf::expected<bool> {
            std::error_code ec;
            fs::remove_all(run, ec);
            fs::remove_all(dir, ec);
            if (ec)
              return make_error(errc::io, "cannot remove " + dir.string() + ": " + ec.message());
            return true;
          })
      .then(
          [self, id](bool) {
            auto& st = self->state;
            auto done = [self, id] {
              auto& st = self->state;
              if (st.listener) caf::anon_send(st.listener, erase_atom_v, container_atom_v, id);
              for (auto& rp : st.removers) rp.deliver(caf::unit);
              st.removers.clear();
              for (auto& rp : st.waiters)
                rp.deliver(api::exit_info{st.rec.exit_code, st.rec.reason});
              st.waiters.clear();
              for (auto& rp : st.starters) rp.deliver(st.removal_reply);
              st.starters.clear();
              vm_log.info("container={} removed", id.substr(0, 12));
              self->quit();
            };
            auto erase = [self, id, done] {
              auto& st = self->state;
              if (!st.store) return done();
              self->request(st.store, caf::infinite, erase_atom_v, container_atom_v, id)
                  .then([done] { done(); },
                        [self, done](caf::error& err) {
                          vm_log.error("container={} cannot erase its record: {}",
                                       self->state.short_id(), describe(err));
                          done();
                        });
            };
            attachment_of(st.rec).release(self, erase);
          },
          [self](caf::error& err) {
            auto& st = self->state;
            st.removing = false;
            for (auto& rp : st.removers) rp.deliver(err);
            st.removers.clear();
            for (auto& rp : st.waiters) rp.deliver(api::exit_info{st.rec.exit_code, st.rec.reason});
            st.waiters.clear();
            for (auto& rp : st.starters) rp.deliver(st.removal_reply ? st.removal_reply : err);
            st.starters.clear();
          });
}

// The container is no longer running: persist that, answer everybody waiting on it, and apply
// `restart` or the restart policy.
void finalize(self_ptr self) {
  auto& st = self->state;
  bool ran_long = st.running_since != caf::actor_clock::time_point{} &&
                  now(self) - st.running_since > std::chrono::seconds(10);
  st.running_since = {};
  st.ph = phase::idle;
  st.qemu_pid = 0;
  st.rec.qemu_pid = 0;
  st.rec.state = state::exited;
  st.rec.finished = os::unix_time_ns();
  st.cancel = false;
  st.kill_sent = false;
  st.log.reset();
  stop_health(self);
  vm_log.info("container={} exited with {}{}", st.short_id(), st.rec.exit_code,
              st.rec.reason.empty() ? "" : " (" + st.rec.reason + ")");
  auto start_error = std::move(st.start_error);
  st.start_error = caf::error{};
  // A restart the policy made that could not start (a full disk, a host short of memory) is
  // tried again with backoff: what failed may pass. A start someone asked for is answered with
  // its error instead.
  bool by_policy = std::exchange(st.policy_launch, false);
  bool removal_follows = st.rec.auto_remove || !st.removers.empty();
  if (removal_follows && start_error) {
    // `run --rm` of a command that cannot start: answer once the container is gone.
    st.removal_reply = start_error;
  } else {
    for (auto& rp : st.starters) {
      if (start_error)
        rp.deliver(start_error);
      else
        rp.deliver(caf::unit);
    }
    st.starters.clear();
  }
  for (auto& rp : st.stoppers) rp.deliver(caf::unit);
  st.stoppers.clear();
  for (auto& sub : st.subscribers) caf::anon_send(sub, end_atom_v, st.rec.id, st.rec.exit_code);
  st.subscribers.clear();
  for (auto& [n, f] : st.followers) {
    f.held.push_back(caf::make_message(end_atom_v, st.rec.id, st.rec.exit_code));
  }
  for (auto& [id, e] : st.execs)
    if (e.subscriber) caf::anon_send(e.subscriber, end_atom_v, id, int32_t{-1});
  st.execs.clear();
  if (removal_follows) {
    // Waiters hear of the exit once the container is gone, so `run --rm` leaves nothing behind
    // by the time it returns.
    persist(self);
    st.removing = true;
    finish_removal(self);
    return;
  }
  bool restart_now = !st.restarters.empty();
  bool policy_restart =
      !restart_now && (!start_error || by_policy) && !st.daemon_stopping &&
      restart_wanted(st.policy, st.rec.exit_code, st.rec.restart_count, st.rec.stopped_by_user);
  if (policy_restart) {
    // Counted when it happens (as Docker does), so "exited" with N restarts means no more follow.
    st.backoff_step = ran_long ? 1 : st.backoff_step + 1;
    auto delay = restart_delay(st.backoff_step);
    vm_log.info("container={} restart {} by policy {} in {} ms", st.short_id(),
                st.rec.restart_count + 1, st.rec.restart, delay.count());
    self->delayed_send(self, delay, backoff_atom_v, ++st.restart_gen);
  }
  persist(self);
  for (auto& rp : st.waiters) rp.deliver(api::exit_info{st.rec.exit_code, st.rec.reason});
  st.waiters.clear();
  if (restart_now) {
    st.starters = std::move(st.restarters);
    st.restarters.clear();
    launch(self);
  }
}

// QEMU is gone: record how the container ended, clean up after the VM, answer the waiters.
void on_qemu_exit(self_ptr self, int status) {
  auto& st = self->state;
  ++st.heartbeat_gen;
  // The record, not the phase: a VM killed under a running workload usually closes the agent
  // connection first, and that already moved the phase on to shutting down.
  bool was_running =
      st.rec.state == state::running || st.rec.state == state::stopping || st.main_exited;
  st.watch.reset();
  if (st.agent) {
    caf::anon_send_exit(st.agent, caf::exit_reason::user_shutdown);
    st.agent = nullptr;
  }
  std::error_code ec;
  fs::remove_all(st.run_dir(), ec);
  attachment_of(st.rec).unplug(self);
  if (!st.main_exited && !st.start_error && !st.kill_reason.empty()) {
    // berthd killed it: unresponsive, or unreachable once adopted.
    st.rec.exit_code = 137;
    st.rec.reason = std::move(st.kill_reason);
  } else if (!st.main_exited && !st.start_error) {
    // The VM ended under the workload: killed, crashed or powered off from inside.
    st.rec.exit_code = 137;
    st.rec.reason = "the VM exited unexpectedly (QEMU " +
                    (status < 0     ? std::string("status unknown")
                     : status > 128 ? "killed by signal " + std::to_string(status - 128)
                                    : "exit status " + std::to_string(status)) +
                    ")";
    if (!was_running) {
      // QEMU's own complaint (a disk it cannot open) comes first, else the guest's console.
      auto qemu = console_tail(st.dir() / "qemu.log", 4);
      auto tail = console_tail(st.dir() / "console.log", 8);
      st.start_error =
          make_error(errc::unavailable, st.rec.reason + (!qemu.empty()  ? ": " + qemu
                                                         : tail.empty() ? ""
                                                                        : "; console:\n" + tail));
    }
  }
  finalize(self);
}

// The main process exited (told by its `exit` notification, or by the answer to `wait` after an
// adoption, whichever comes first): the VM goes down and the container with it.
void main_exit(self_ptr self, const agent::exit_status& status) {
  auto& st = self->state;
  if (st.main_exited) return;
  st.main_exited = true;
  st.rec.exit_code = status.exit_code;
  st.rec.reason = status.signal ? "killed by signal " + std::to_string(status.signal) : "";
  vm_log.info("container={} main process exited with {}", st.short_id(), status.exit_code);
  shutdown_vm(self);
}

void on_notice(self_ptr self, const std::string& method, const std::string& packed) {
  auto& st = self->state;
  st.last_answer = now(self);
  if (method == agent::notice::output) {
    auto got = from_guest<agent::output_chunk>(self, "output notification", packed);
    if (!got) return;
    auto& chunk = *got;
    auto time = os::unix_time_ns();
    if (st.probe && chunk.id == st.probe->id) {
      append_health_output(st.probe->output, chunk.data.data(), chunk.data.size());
      return;
    }
    if (chunk.id != st.rec.process.id) {
      auto it = st.execs.find(chunk.id);
      if (it != st.execs.end() && it->second.subscriber)
        caf::anon_send(it->second.subscriber, output_atom_v, chunk.id, chunk.fd, time, chunk.data);
      return;
    }
    // Each byte once: a new host is sent again what the agent last sent (it cannot know what
    // reached the log before a berthd died), and a gap is output the agent had to drop.
    auto end = st.log.seq_end();
    if (chunk.seq + chunk.data.size() <= end) return;
    if (chunk.seq < end) {
      chunk.data.erase(chunk.data.begin(),
                       chunk.data.begin() + static_cast<std::ptrdiff_t>(end - chunk.seq));
      chunk.seq = end;
    } else if (chunk.seq > end && st.log) {
      vm_log.warn("container={} the guest dropped {} bytes of output", st.short_id(),
                  chunk.seq - end);
    }
    append_log(st, time, chunk.fd, chunk.seq, chunk.data);
    for (auto& sub : st.subscribers)
      caf::anon_send(sub, output_atom_v, st.rec.id, chunk.fd, time, chunk.data);
    for (auto& [n, f] : st.followers)
      f.held.push_back(caf::make_message(output_atom_v, st.rec.id, chunk.fd, time, chunk.data));
  } else if (method == agent::notice::exit) {
    auto got = from_guest<agent::exit_status>(self, "exit notification", packed);
    if (!got) return;
    auto& status = *got;
    if (st.probe && status.id == st.probe->id) return finish_probe(self, status.exit_code);
    if (status.id != st.rec.process.id) {
      auto it = st.execs.find(status.id);
      if (it == st.execs.end()) return;
      if (it->second.subscriber)
        caf::anon_send(it->second.subscriber, end_atom_v, status.id, status.exit_code);
      vm_log.debug("container={} exec {} exited with {}", st.short_id(), status.id,
                   status.exit_code);
      st.execs.erase(it);
      return;
    }
    main_exit(self, status);
  }
}

void send_signal(self_ptr self, int sig) {
  auto& st = self->state;
  if (!st.agent) return;
  agent::signal_request req{st.rec.process.id, sig};
  call_agent(self, agent::method::signal, rpc::pack(req), std::chrono::seconds(10))
      .then([](const std::string&) {},
            [self, sig](caf::error& err) {
              vm_log.warn("container={} signal {} not delivered: {}", self->state.short_id(), sig,
                          describe(err));
              if (sig == SIGKILL) shutdown_vm(self);
            });
}

// The running container goes to stopping: `signal` (0: its stop signal, else SIGTERM) now,
// SIGKILL after `timeout` seconds (none when negative).
void begin_stop(self_ptr self, int32_t timeout, int signal) {
  auto& st = self->state;
  st.ph = phase::stopping;
  st.rec.state = state::stopping;
  int sig = signal ? signal : parse_signal(st.rec.stop_signal);
  send_signal(self, sig ? sig : SIGTERM);
  if (timeout >= 0) {
    auto gen = ++st.timer_gen;
    self->delayed_send(self, std::chrono::seconds(timeout), tick_atom_v, gen);
  }
}

// Stops the running container: its stop signal, SIGKILL after `timeout` seconds.
caf::result<void> stop_container(self_ptr self, int32_t timeout, bool by_user, int32_t signal) {
  auto& st = self->state;
  if (by_user) {
    st.rec.stopped_by_user = true;
    ++st.restart_gen;  // a pending policy restart is off
  }
  if (st.ph == phase::idle) {
    if (by_user) persist(self);
    return caf::unit;
  }
  if (timeout == -2) timeout = st.rec.stop_timeout;
  auto rp = self->make_response_promise();
  st.stoppers.push_back(rp);
  if (st.ph == phase::running) {
    begin_stop(self, timeout, signal);
    persist(self);
  } else if (st.ph == phase::booting) {
    fail_start(self, make_error(errc::cancelled, "stopped before it started"));
  } else if (st.ph == phase::launching) {
    st.cancel = true;  // on_launched ends the VM as soon as QEMU is there
  }
  return rp;
}

caf::error not_running(const vm_state& st) {
  return make_error(errc::conflict, "container " + st.rec.name + " is not running");
}

vm_impl::behavior_type vm_behavior(self_ptr self, std::shared_ptr<const vm_environment> env,
                                   container_record rec, store_actor store, caf::actor listener) {
  // A handler that throws crashes the actor with the exception's text; the vm supervisor
  // restarts it from the record, and the new actor adopts the VM.
  self->set_exception_handler(crash_error);
  auto& st = self->state;
  st.env = std::move(env);
  st.rec = std::move(rec);
  st.store = std::move(store);
  st.listener = std::move(listener);
  if (auto p = parse_restart_policy(st.rec.restart)) st.policy = *p;
  bool was_live = st.rec.state != state::created && st.rec.state != state::exited;
  bool adoptable = (st.rec.state == state::running || st.rec.state == state::stopping) &&
                   st.backend().owns(static_cast<pid_t>(st.rec.qemu_pid), *st.env, st.rec);
  if (was_live && adoptable) {
    adopt(self);
  } else if (was_live) {
    mark_lost(self);
  } else if ((st.policy.name == "always" ||
              (st.policy.name == "unless-stopped" && !st.rec.stopped_by_user)) &&
             st.rec.state == state::exited) {
    // always, and unless-stopped unless the user stopped it, come back with berthd.
    self->send(self, backoff_atom_v, ++st.restart_gen);
  }
  self->set_down_handler([self](caf::down_msg& msg) {
    auto& st = self->state;
    if (msg.source && msg.source == st.plugged_into) {
      st.plugged_into = caf::actor_addr{};
      // A clean stop of berthd takes the net supervisor down too, and this actor with it.
      if (st.plugged && (st.ph == phase::running || st.ph == phase::stopping) &&
          !st.daemon_stopping)
        self->delayed_send(self, std::chrono::milliseconds(100), plug_atom_v, ++st.replug_gen);
      return;
    }
    auto& subs = st.subscribers;
    subs.erase(std::remove_if(subs.begin(), subs.end(),
                              [&](const caf::actor& a) { return a.address() == msg.source; }),
               subs.end());
  });
  return {
      [self](start_atom) -> caf::result<void> {
        auto& st = self->state;
        if (st.removing) return make_error(errc::conflict, "container is being removed");
        if (st.ph != phase::idle) {
          if (st.ph == phase::launching || st.ph == phase::booting) {
            auto rp = self->make_response_promise();
            st.starters.push_back(rp);
            return rp;
          }
          return caf::unit;  // already running: docker start is a no-op then
        }
        st.rec.stopped_by_user = false;
        st.rec.restart_count = 0;
        st.backoff_step = 0;
        ++st.restart_gen;
        auto rp = self->make_response_promise();
        st.starters.push_back(rp);
        launch(self);
        return rp;
      },
      [self](stop_atom, int32_t timeout, int32_t signal) -> caf::result<void> {
        if (hold_while_adopting(self)) return caf::delegated<void>{};
        return stop_container(self, timeout, true, signal);
      },
      [self](shutdown_atom) -> caf::result<void> {
        if (hold_while_adopting(self)) return caf::delegated<void>{};
        self->state.daemon_stopping = true;
        return stop_container(self, -2, false);
      },
      [self](restart_atom, int32_t timeout) -> caf::result<void> {
        if (hold_while_adopting(self)) return caf::delegated<void>{};
        auto& st = self->state;
        if (st.removing) return make_error(errc::conflict, "container is being removed");
        auto rp = self->make_response_promise();
        if (st.ph == phase::idle) {
          st.rec.stopped_by_user = false;
          st.rec.restart_count = 0;
          ++st.restart_gen;
          st.starters.push_back(rp);
          launch(self);
          return rp;
        }
        st.restarters.push_back(rp);
        stop_container(self, timeout, false);
        return rp;
      },
      [self](wait_atom) -> caf::result<api::exit_info> {
        auto& st = self->state;
        if (st.ph == phase::idle && st.rec.state != state::created)
          return api::exit_info{st.rec.exit_code, st.rec.reason};
        auto rp = self->make_response_promise();
        st.waiters.push_back(rp);
        return rp;
      },
      [self](inspect_atom) { return self->state.rec; },
      [self](attach_atom, caf::actor sub) -> caf::result<void> {
        auto& st = self->state;
        self->monitor(sub);
        st.subscribers.push_back(std::move(sub));
        return caf::unit;
      },
      [self](detach_atom, const caf::actor& sub) {
        auto& subs = self->state.subscribers;
        subs.erase(std::remove(subs.begin(), subs.end(), sub), subs.end());
      },
      [self](logs_atom, caf::actor sub, const api::logs_request& req) -> caf::result<void> {
        return send_logs(self, sub, req);
      },
      [self](exec_atom, const api::exec_request& req, caf::actor sub) -> caf::result<std::string> {
        if (hold_while_adopting(self)) return caf::delegated<std::string>{};
        return start_exec(self, req, sub);
      },
      [self](stdin_atom, const std::string& process, std::vector<char>& data) -> caf::result<void> {
        if (hold_while_adopting(self)) return caf::delegated<void>{};
        return write_stdin(self, process, data);
      },
      [self](eof_atom, const std::string& process) -> caf::result<void> {
        if (hold_while_adopting(self)) return caf::delegated<void>{};
        return close_stdin(self, process);
      },
      [self](resize_atom, const std::string& process, uint16_t rows,
             uint16_t cols) -> caf::result<void> {
        if (hold_while_adopting(self)) return caf::delegated<void>{};
        return resize_tty(self, process, rows, cols);
      },
      [self](kill_atom, int32_t sig) -> caf::result<void> {
        if (hold_while_adopting(self)) return caf::delegated<void>{};
        auto& st = self->state;
        if (st.ph != phase::running && st.ph != phase::stopping) return not_running(st);
        st.rec.stopped_by_user = true;
        ++st.restart_gen;
        persist(self);
        send_signal(self, sig);
        return caf::unit;
      },
      [self](stats_atom) -> caf::result<api::container_stats> {
        if (hold_while_adopting(self)) return caf::delegated<api::container_stats>{};
        return query_stats(self);
      },
      [](crash_atom) { throw std::runtime_error("a crash injected by debug.crash"); },
      [self](ping_atom) -> caf::result<api::ping_result> {
        if (hold_while_adopting(self)) return caf::delegated<api::ping_result>{};
        return ping_agent(self);
      },
      [self](file_atom, const api::file_ref& ref) -> caf::result<api::file_info> {
        if (hold_while_adopting(self)) return caf::delegated<api::file_info>{};
        return file_stat(self, ref);
      },
      [self](file_atom, list_atom,
             const api::file_ref& ref) -> caf::result<std::vector<api::file_info>> {
        if (hold_while_adopting(self)) return caf::delegated<std::vector<api::file_info>>{};
        return file_list(self, ref);
      },
      [self](file_atom, read_atom,
             const api::file_read_request& req) -> caf::result<api::file_data> {
        if (hold_while_adopting(self)) return caf::delegated<api::file_data>{};
        return file_read(self, req);
      },
      [self](file_atom, write_atom, api::file_write_request& req) -> caf::result<void> {
        if (hold_while_adopting(self)) return caf::delegated<void>{};
        return file_write(self, req);
      },
      [self](file_atom, mkdir_atom, const api::file_spec& spec) -> caf::result<void> {
        if (hold_while_adopting(self)) return caf::delegated<void>{};
        return file_mkdir(self, spec);
      },
      [self](file_atom, symlink_atom, const api::file_spec& spec) -> caf::result<void> {
        if (hold_while_adopting(self)) return caf::delegated<void>{};
        return file_symlink(self, spec);
      },
      [self](file_atom, touch_atom, const api::file_spec& spec) -> caf::result<void> {
        if (hold_while_adopting(self)) return caf::delegated<void>{};
        return file_touch(self, spec);
      },
      [self](remove_atom, bool force) -> caf::result<void> {
        auto& st = self->state;
        // Errors are returned before a promise exists: once a handler made one, CAF sends only
        // what the promise delivers.
        if (st.ph != phase::idle && !force)
          return make_error(errc::conflict, "container " + st.rec.name +
                                                " is running: stop it first or remove it with -f");
        auto rp = self->make_response_promise();
        st.removers.push_back(rp);
        ++st.restart_gen;
        if (st.ph != phase::idle) {
          st.removing = true;
          if (st.ph == phase::launching) {
            st.cancel = true;  // on_launched ends the VM
          } else {
            st.kill_reason = "killed by a forced removal";
            signal_vm(self, SIGKILL);
          }
          return rp;
        }
        if (!st.removing) {
          st.removing = true;
          finish_removal(self);
        }
        return rp;
      },
      [self](notice_atom, const std::string& method, const std::string& packed) {
        // Answered (void) once handled: the agent session counts what this actor has not taken
        // yet and stops reading the guest while that is too much.
        on_notice(self, method, packed);
      },
      [self](closed_atom, const std::string& why) {
        auto& st = self->state;
        vm_log.debug("container={} agent connection closed: {}", st.short_id(), why);
        st.agent = nullptr;
        bool live = st.ph == phase::running || st.ph == phase::stopping;
        // The session ended it: the guest broke the protocol or a bound. It costs its VM.
        if (why != closed_by_peer && (live || st.ph == phase::shutting_down))
          return kill_vm(self, "its guest agent session ended: " + why);
        // With the agent gone nothing can be asked of the guest; QEMU's exit follows, or the
        // shutdown timer kills it.
        if (live) shutdown_vm(self);
      },
      [self](exited_atom, int64_t pid, int32_t status) {
        if (pid != self->state.qemu_pid) return;
        on_qemu_exit(self, status);
      },
      [self](tick_atom, uint64_t gen) {
        auto& st = self->state;
        if (gen != st.timer_gen) return;
        if (st.ph == phase::stopping && !st.kill_sent) {
          vm_log.info("container={} did not stop in time: SIGKILL", st.short_id());
          st.kill_sent = true;
          send_signal(self, SIGKILL);
          auto next = ++st.timer_gen;
          self->delayed_send(self, std::chrono::seconds(5), tick_atom_v, next);
        } else if (st.ph == phase::stopping) {
          shutdown_vm(self);  // the agent did not deliver SIGKILL either
        } else if (st.ph == phase::shutting_down) {
          vm_log.warn("container={} VM did not power off: SIGKILL to QEMU", st.short_id());
          signal_vm(self, SIGKILL);
        }
      },
      [self](backoff_atom, uint64_t gen) {
        auto& st = self->state;
        if (gen != st.restart_gen || st.ph != phase::idle || st.removing) return;
        ++st.rec.restart_count;
        st.policy_launch = true;
        launch(self);
      },
      [self](beat_atom, uint64_t gen) { heartbeat(self, gen); },
      [self](plug_atom, uint64_t gen) { replug(self, gen); },
      [self](health_atom, uint64_t gen) { run_probe(self, gen); },
      [self](expire_atom, uint64_t seq) { expire_probe(self, seq); },
  };
}

}  // namespace detail

vm_actor spawn_vm(caf::local_actor* parent, std::shared_ptr<const vm_environment> env,
                  container_record record, store_actor store, caf::actor listener) {
  detail::vm_impl impl = parent->spawn(detail::vm_behavior, std::move(env), std::move(record),
                                       std::move(store), std::move(listener));
  return impl;
}

}  // namespace berth::vm

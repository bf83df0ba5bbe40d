// supervision.cpp: restart decisions and the one_for_one supervisor behaviour.
#include "berth/actors/supervision.hpp"

#include "berth/actors/log.hpp"

#include <caf/actor_registry.hpp>
#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/exit_reason.hpp>
#include <caf/send.hpp>

#include <memory>

namespace berth {

namespace {

inline constexpr log::logger sup_log("sup");

struct child_state {
  child_spec spec;
  caf::actor handle;
  restart_intensity intensity;
  uint64_t generation = 0;
};

struct supervisor_state {
  std::vector<child_state> children;
  bool stopping = false;
};

// Starts one child; false (and the supervisor exits) when it cannot be started at all.
bool start_child(caf::event_based_actor* self, supervisor_state& st, child_state& child) {
  child.handle = child.spec.start(self);
  if (!child.handle) {
    sup_log.error("cannot start {}", child.spec.name);
    st.stopping = true;
    self->quit(make_error(errc::unavailable, "cannot start " + child.spec.name));
    return false;
  }
  self->home_system().registry().put(caf::atom_from_string(child.spec.name), child.handle);
  sup_log.debug("started {} (actor {})", child.spec.name, child.handle.id());
  return true;
}

}  // namespace

bool is_crash(const caf::error& reason) {
  return reason && reason != caf::exit_reason::normal &&
         reason != caf::exit_reason::user_shutdown && reason != caf::exit_reason::kill;
}

bool should_restart(child_restart policy, const caf::error& reason) {
  switch (policy) {
    case child_restart::permanent:
      return true;
    case child_restart::temporary:
      return false;
    case child_restart::transient:
      return is_crash(reason);
  }
  return false;
}

restart_intensity::restart_intensity(std::size_t max_restarts, caf::timespan window)
    : max_(max_restarts), window_(window) {}

bool restart_intensity::allow(caf::actor_clock::time_point now) {
  while (!times_.empty() && now - times_.front() > window_) times_.pop_front();
  if (times_.size() >= max_) return false;
  times_.push_back(now);
  return true;
}

std::chrono::milliseconds backoff_for(const child_spec& spec, std::size_t n) {
  auto delay = spec.backoff;
  for (std::size_t i = 1; i < n && delay < spec.max_backoff; ++i) delay *= 2;
  return std::min(delay, spec.max_backoff);
}

caf::behavior one_for_one_supervisor(caf::event_based_actor* self,
                                     std::vector<child_spec> children) {
  auto st = std::make_shared<supervisor_state>();
  for (auto& spec : children) {
    restart_intensity intensity(spec.max_restarts, spec.window);
    st->children.push_back(child_state{std::move(spec), caf::actor{}, intensity, 0});
  }
  for (auto& child : st->children)
    if (!start_child(self, *st, child)) break;

  self->set_exit_handler([self, st](caf::exit_msg& msg) {
    auto it = std::find_if(st->children.begin(), st->children.end(), [&](const child_state& c) {
      return c.handle && c.handle.address() == msg.source;
    });
    if (it == st->children.end()) {
      // Not one of ours: our parent, or a shutdown request. Children follow through the links.
      st->stopping = true;
      self->quit(msg.reason);
      return;
    }
    auto& child = *it;
    auto key = caf::atom_from_string(child.spec.name);
    auto& registry = self->home_system().registry();
    if (registry.get<caf::actor>(key) == child.handle) registry.erase(key);
    child.handle = nullptr;
    if (st->stopping) return;
    if (!should_restart(child.spec.restart, msg.reason)) {
      sup_log.info("{} exited ({}); not restarted", child.spec.name, describe(msg.reason));
      return;
    }
    if (!child.intensity.allow(self->clock().now())) {
      sup_log.error("{} exited ({}) and restarted {} times within {} ms: giving up",
                    child.spec.name, describe(msg.reason), child.spec.max_restarts,
                    child.spec.window.count());
      st->stopping = true;
      self->quit(
          make_error(errc::unavailable, "child " + child.spec.name + " restarted too often"));
      return;
    }
    auto delay = backoff_for(child.spec, child.intensity.recent());
    sup_log.warn("{} exited ({}); restarting in {} ms", child.spec.name, describe(msg.reason),
                 delay.count());
    self->delayed_send(self, delay, restart_atom_v, child.spec.name, ++child.generation);
  });

  self->attach_functor([self, st] {
    auto& registry = self->home_system().registry();
    for (auto it = st->children.rbegin(); it != st->children.rend(); ++it) {
      if (!it->handle) continue;
      auto key = caf::atom_from_string(it->spec.name);
      if (registry.get<caf::actor>(key) == it->handle) registry.erase(key);
      it->handle = nullptr;
    }
  });

  return {
      [self, st](restart_atom, const std::string& name, uint64_t generation) {
        for (auto& child : st->children)
          if (child.spec.name == name && child.generation == generation && !child.handle &&
              !st->stopping)
            start_child(self, *st, child);
      },
  };
}

}  // namespace berth

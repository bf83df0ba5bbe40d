// deterministic: an actor system on CAF's test coordinator, for tests of actor logic without
// threads or sleeps: messages run when the test says so and time moves only when advanced.
#pragma once

#include "berth/actors/vocabulary.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/atom.hpp>
#include <caf/scheduler/test_coordinator.hpp>
#include <caf/send.hpp>

#include <vector>

namespace berth::testing {

/// Config that selects the testing scheduler and registers berth's types.
class deterministic_config : public caf::actor_system_config {
 public:
  deterministic_config() {
    set("scheduler.policy", caf::atom("testing"));
    add_message_types<caf::id_block::berth>();
  }
};

/// An actor system whose scheduler the test drives.
struct deterministic {
  deterministic_config cfg;
  caf::actor_system sys{cfg};
  caf::scheduler::test_coordinator& sched =
      dynamic_cast<caf::scheduler::test_coordinator&>(sys.scheduler());

  /// Actors the test owns: stopped when the fixture ends, so a failed check cannot leave the
  /// actor system waiting forever for them.
  std::vector<caf::actor> owned;

  /// Spawns an actor that the fixture stops at its end.
  template <class... Ts>
  caf::actor spawn_owned(Ts&&... xs) {
    auto handle = caf::actor_cast<caf::actor>(sys.spawn(std::forward<Ts>(xs)...));
    owned.push_back(handle);
    return handle;
  }

  ~deterministic() {
    for (auto& a : owned) caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
    owned.clear();
    sched.run();
  }

  /// Runs every pending message, including ones sent while running.
  void run() { sched.run(); }

  /// Moves the clock forward, fires due timers and runs what they caused.
  void advance(caf::timespan d) {
    sched.advance_time(d);
    sched.run();
  }
};

}  // namespace berth::testing

// job: running blocking work (disk images, process spawns, file reads) off the scheduler.
//
// Actors never block. A job runs a function on a detached actor (its own thread), answers the
// actor that asked with the function's caf::expected result, and ends. The caller handles the
// answer with .then(...) like any other response.
//
// On CAF's test coordinator (deterministic tests) the job is an ordinary scheduled actor instead,
// so it runs when the test runs the scheduler, on the test's thread, and nothing races it.
#pragma once

#include "berth/actors/vocabulary.hpp"

#include <caf/event_based_actor.hpp>
#include <caf/expected.hpp>
#include <caf/local_actor.hpp>
#include <caf/result.hpp>
#include <caf/scheduler/test_coordinator.hpp>
#include <caf/spawn_options.hpp>

#include <type_traits>

namespace berth {

/// Runs `fn` (returning caf::expected<T>) on its own thread; returns the response handle of a
/// request for its result, to be continued with .then(on_value, on_error).
template <class Self, class F>
auto run_job(Self* self, F fn) {
  using expected_t = std::invoke_result_t<F>;
  using value_t = typename expected_t::value_type;
  // The unused int: CAF 0.17 binds a reference to a null shared_ptr<tuple<>> when a function
  // actor takes no arguments (chaos-tests/ubsan.supp), and jobs run inside the fuzzers too.
  auto body = [fn = std::move(fn)](caf::event_based_actor* job, int) mutable -> caf::behavior {
    return {
        [job, fn = std::move(fn)](go_atom) mutable -> caf::result<value_t> {
          auto r = fn();
          job->quit();
          if (!r) return std::move(r.error());
          return std::move(*r);
        },
    };
  };
  bool deterministic =
      dynamic_cast<caf::scheduler::test_coordinator*>(&self->home_system().scheduler()) != nullptr;
  auto worker = deterministic ? self->spawn(std::move(body), 0)
                              : self->template spawn<caf::detached>(std::move(body), 0);
  return self->request(worker, caf::infinite, go_atom_v);
}

}  // namespace berth

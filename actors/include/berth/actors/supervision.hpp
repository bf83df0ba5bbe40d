// supervision: child specs and the one_for_one supervisor behaviour of berth's actor tree.
//
// Modelled on OTP: each child has a child restart (permanent, transient, temporary), a restart
// intensity (at most N restarts in a window) and a backoff. A supervisor links to its children,
// restarts the ones whose child restart asks for it, publishes the current handle of each child in
// the actor system's registry under the child's name (a restarted child has a new handle; callers
// look it up there), and gives up when a child restarts too often: it then exits with
// berth::errc::unavailable, so its own supervisor (or, for the root, berthd's main) sees it.
#pragma once

#include "berth/actors/vocabulary.hpp"

#include <caf/actor.hpp>
#include <caf/actor_clock.hpp>
#include <caf/fwd.hpp>

#include <chrono>
#include <deque>
#include <exception>
#include <functional>
#include <string>
#include <vector>

namespace berth {

/// When a supervisor restarts a child that exited.
enum class child_restart {
  permanent,  ///< Always.
  transient,  ///< Only when it exited abnormally (not normal or user_shutdown).
  temporary,  ///< Never.
};

/// How a supervisor starts and restarts one child.
struct child_spec {
  /// Registry name of the child (an atom text, at most 10 characters).
  std::string name;
  child_restart restart = child_restart::permanent;
  /// At most this many restarts within `window`, else the supervisor gives up.
  std::size_t max_restarts = 5;
  std::chrono::milliseconds window{std::chrono::seconds(30)};
  /// Delay before the first restart; doubles for each restart in the window, up to max_backoff.
  std::chrono::milliseconds backoff{50};
  std::chrono::milliseconds max_backoff{std::chrono::seconds(5)};
  /// Spawns the child linked to `supervisor` and returns its handle.
  std::function<caf::actor(caf::local_actor* supervisor)> start;
};

/// Whether an actor that exited with `reason` crashed: it ended abnormally, not by finishing its
/// work (normal), by a clean stop (user_shutdown) or by being killed on purpose (kill). The one
/// definition every supervisor of the tree uses.
bool is_crash(const caf::error& reason);

/// Whether a child that exited with `reason` is restarted under `policy`.
bool should_restart(child_restart policy, const caf::error& reason);

/// Counts restarts in a sliding window (OTP's intensity and period).
class restart_intensity {
 public:
  /// Makes a counter allowing `max_restarts` per `window`.
  restart_intensity(std::size_t max_restarts, caf::timespan window);

  /// Records a restart at `now`; false when that would exceed the limit.
  bool allow(caf::actor_clock::time_point now);

  /// Restarts recorded within the window ending at the last allow().
  std::size_t recent() const { return times_.size(); }

 private:
  std::size_t max_;
  caf::timespan window_;
  std::deque<caf::actor_clock::time_point> times_;
};

/// The backoff before restart number `n` (1-based) under `spec`.
std::chrono::milliseconds backoff_for(const child_spec& spec, std::size_t n);

/// A one_for_one supervisor over `children`, started in order. It stops its children in reverse
/// order when it exits.
caf::behavior one_for_one_supervisor(caf::event_based_actor* self,
                                     std::vector<child_spec> children);

/// An exception an actor's handler threw, as the error that ends the actor: internal, with the
/// exception's text (for set_exception_handler; its supervisor sees a crash and restarts it).
inline caf::error crash_error(std::exception_ptr& eptr) {
  try {
    std::rethrow_exception(eptr);
  } catch (const std::exception& e) {
    return make_error(errc::internal, e.what());
  } catch (...) {
  }
  return make_error(errc::internal, "unknown exception");
}

}  // namespace berth

// Tests for the one_for_one supervisor, on CAF's test coordinator: restarts follow the policy,
// the backoff and the intensity limit; the registry always names the live child.
#include "berth/actors/supervision.hpp"
#include "berth/actors/testing/deterministic.hpp"

#include <caf/actor_registry.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/send.hpp>
#include <catch2/catch.hpp>

#include <atomic>

using namespace berth;
using namespace std::chrono_literals;

namespace {

// A child that exits with the reason it is told, and counts how often it was started.
caf::behavior worker(caf::event_based_actor* self, std::shared_ptr<int> starts) {
  ++*starts;
  return {
      [self](exited_atom, caf::error reason) { self->quit(std::move(reason)); },
      [](info_atom) { return std::string("alive"); },
  };
}

child_spec worker_spec(std::string name, child_restart policy, std::shared_ptr<int> starts) {
  child_spec spec;
  spec.name = std::move(name);
  spec.restart = policy;
  spec.max_restarts = 3;
  spec.window = 10s;
  spec.backoff = 100ms;
  spec.start = [starts](caf::local_actor* sup) -> caf::actor {
    return sup->spawn<caf::linked>(worker, starts);
  };
  return spec;
}

struct fixture : testing::deterministic {
  caf::actor child(const char* name) {
    return sys.registry().get<caf::actor>(caf::atom_from_string(name));
  }
  void crash(const char* name) {
    caf::anon_send(child(name), exited_atom_v, make_error(errc::internal, "boom"));
    run();
  }
};

}  // namespace

TEST_CASE("should_restart follows permanent, transient and temporary") {
  auto boom = make_error(errc::internal, "boom");
  caf::error normal = caf::exit_reason::normal;
  CHECK(should_restart(child_restart::permanent, normal));
  CHECK(should_restart(child_restart::permanent, boom));
  CHECK_FALSE(should_restart(child_restart::transient, normal));
  CHECK(should_restart(child_restart::transient, boom));
  CHECK_FALSE(should_restart(child_restart::temporary, boom));
}

TEST_CASE("restart intensity allows N restarts per window and forgets old ones") {
  restart_intensity r(2, std::chrono::seconds(10));
  caf::actor_clock::time_point t0{};
  CHECK(r.allow(t0));
  CHECK(r.allow(t0 + 1s));
  CHECK_FALSE(r.allow(t0 + 2s));
  CHECK(r.allow(t0 + 12s));
}

TEST_CASE("backoff doubles per restart up to its maximum") {
  child_spec spec;
  spec.backoff = 100ms;
  spec.max_backoff = 350ms;
  CHECK(backoff_for(spec, 1) == 100ms);
  CHECK(backoff_for(spec, 2) == 200ms);
  CHECK(backoff_for(spec, 3) == 350ms);
  CHECK(backoff_for(spec, 9) == 350ms);
}

TEST_CASE_METHOD(fixture, "a crashed permanent child is restarted after its backoff") {
  auto starts = std::make_shared<int>(0);
  auto sup =
      spawn_owned(one_for_one_supervisor,
                  std::vector<child_spec>{worker_spec("w", child_restart::permanent, starts)});
  run();
  auto first = child("w");
  REQUIRE(first);
  CHECK(*starts == 1);
  crash("w");
  CHECK_FALSE(child("w"));  // gone from the registry while it waits for the backoff
  advance(99ms);
  CHECK(*starts == 1);
  advance(1ms);
  CHECK(*starts == 2);
  REQUIRE(child("w"));
  CHECK(child("w") != first);
}

TEST_CASE_METHOD(fixture, "a transient child that ends normally stays down") {
  auto starts = std::make_shared<int>(0);
  auto sup =
      spawn_owned(one_for_one_supervisor,
                  std::vector<child_spec>{worker_spec("t", child_restart::transient, starts)});
  run();
  caf::anon_send(child("t"), exited_atom_v, caf::error{caf::exit_reason::normal});
  run();
  advance(10s);
  CHECK(*starts == 1);
  CHECK_FALSE(child("t"));
}

TEST_CASE_METHOD(fixture, "a child that crashes too often makes its supervisor give up") {
  auto starts = std::make_shared<int>(0);
  auto sup =
      spawn_owned(one_for_one_supervisor,
                  std::vector<child_spec>{worker_spec("w", child_restart::permanent, starts)});
  auto sup_exit = std::make_shared<caf::error>();
  auto watcher = spawn_owned([sup, sup_exit](caf::event_based_actor* self) {
    self->monitor(sup);
    self->set_down_handler([sup_exit](caf::down_msg& m) { *sup_exit = m.reason; });
    return caf::behavior{[](info_atom) {}};
  });
  run();
  for (int i = 0; i < 3; ++i) {
    crash("w");
    advance(1s);  // past any backoff, still inside the 10 s window
  }
  CHECK(*starts == 4);
  crash("w");  // the fourth crash inside the window exceeds max_restarts = 3
  CHECK(code_of(*sup_exit) == errc::unavailable);
  CHECK_FALSE(child("w"));
}

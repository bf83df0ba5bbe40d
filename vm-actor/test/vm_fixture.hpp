// vm_fixture: the vm actor on CAF's test coordinator with a fake backend (fake_backend.hpp), for
// the tests of its state machine and of what it does with a hostile guest.
#pragma once

#include "fake_backend.hpp"

#include "berth/actors/testing/deterministic.hpp"
#include "berth/vm/vm_actor.hpp"

#include <caf/event_based_actor.hpp>
#include <catch2/catch.hpp>

#include <stdlib.h>

#include <filesystem>
#include <memory>
#include <optional>
#include <type_traits>

namespace berth::vm::testing {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

/// A request's answer, once there is one.
template <class T>
struct reply {
  bool done = false;
  caf::error error;
  std::optional<T> value;
  bool ok() const { return done && !error; }
};

struct none {};

/// What the vm actor told its listener.
struct heard {
  std::vector<container_record> saves;
  bool erased = false;
};

struct fixture : berth::testing::deterministic {
  std::shared_ptr<fake_backend> vms = std::make_shared<fake_backend>();
  std::shared_ptr<vm_environment> env = std::make_shared<vm_environment>();
  std::shared_ptr<heard> listener_heard = std::make_shared<heard>();
  fs::path root;
  caf::actor vm;

  fixture() {
    char tmpl[] = "/tmp/berth-vm-actor-XXXXXX";
    REQUIRE(::mkdtemp(tmpl) != nullptr);
    root = tmpl;
    env->data_root = root / "data";
    env->run_root = root / "run";
    env->backend = vms;
    env->heartbeat_timeout = 0ms;  // off, unless a case turns it on
  }

  ~fixture() {
    std::error_code ec;
    fs::remove_all(root, ec);
  }

  static container_record record(std::string restart = "no") {
    container_record rec;
    rec.id = std::string(64, 'c');
    rec.name = "web";
    rec.process.id = rec.id;
    rec.process.args = {"sh"};
    rec.restart = std::move(restart);
    rec.network_mode = "none";
    return rec;
  }

  // Spawns the vm actor of `rec` the way the vm supervisor does, with a listener that records.
  caf::actor spawn(container_record rec) {
    auto h = listener_heard;
    auto listener = spawn_owned([h](caf::event_based_actor*) -> caf::behavior {
      return {
          [h](save_atom, const container_record& r) { h->saves.push_back(r); },
          [h](erase_atom, container_atom, const std::string&) { h->erased = true; },
      };
    });
    auto out = std::make_shared<vm_actor>();
    spawn_owned([out, e = env, rec, listener](caf::event_based_actor* self) {
      *out = spawn_vm(self, e, rec, store_actor{}, listener);
      return caf::behavior{[](info_atom) {}};
    });
    run();
    vm = caf::actor_cast<caf::actor>(*out);
    owned.push_back(vm);
    return vm;
  }

  // Sends a request to the vm actor without running the system; see the answer once it ran.
  template <class T = none, class... Ts>
  std::shared_ptr<reply<T>> post(Ts... xs) {
    return post_to<T>(vm, xs...);
  }

  // Sends a request to the vm actor `h` without running the system.
  template <class T = none, class... Ts>
  std::shared_ptr<reply<T>> post_to(caf::actor h, Ts... xs) {
    auto out = std::make_shared<reply<T>>();
    sys.spawn([=](caf::event_based_actor* self) {
      auto fail = [=](caf::error& err) {
        out->done = true;
        out->error = err;
      };
      if constexpr (std::is_same_v<T, none>)
        self->request(h, caf::infinite, xs...).then([=] { out->done = true; }, fail);
      else
        self->request(h, caf::infinite, xs...)
            .then(
                [=](T& value) {
                  out->done = true;
                  out->value = std::move(value);
                },
                fail);
    });
    return out;
  }

  // Sends a request and runs the system until nothing is left to do.
  template <class T = none, class... Ts>
  std::shared_ptr<reply<T>> ask(Ts... xs) {
    auto out = post<T>(xs...);
    run();
    return out;
  }

  // Sends a request to the vm actor `h` and runs the system until nothing is left to do.
  template <class T = none, class... Ts>
  std::shared_ptr<reply<T>> ask_to(caf::actor h, Ts... xs) {
    auto out = post_to<T>(h, xs...);
    run();
    return out;
  }

  container_record current() { return current_of(vm); }

  // The record of the vm actor `h`, which must answer.
  container_record current_of(caf::actor h) {
    auto r = ask_to<container_record>(h, inspect_atom_v);
    REQUIRE(r->ok());
    return *r->value;
  }

  // Starts the container and checks it runs.
  std::shared_ptr<fake_vm> start() {
    auto r = ask(start_atom_v);
    REQUIRE(r->ok());
    REQUIRE(current().state == state::running);
    return vms->last();
  }
};

}  // namespace berth::vm::testing

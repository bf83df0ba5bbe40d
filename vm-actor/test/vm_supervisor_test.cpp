// Tests for the vm supervisor's own logic on CAF's test coordinator: creating containers from an
// image and a spec, names and id prefixes, loading the store's records before serving anything.
// The store and the image supervisor are small in-memory actors here (both have their own tests
// against SQLite and real images); no VM is booted: created containers are not started.
#include "berth/vm/vm_supervisor.hpp"

#include "berth/actors/images.hpp"
#include "berth/actors/testing/deterministic.hpp"
#include "berth/vm/container.hpp"

#include <caf/actor_registry.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <catch2/catch.hpp>

#include <map>
#include <variant>

using namespace berth;
using namespace berth::vm;

namespace {

struct fake_store_data {
  std::map<std::string, container_record> containers;
};

store_actor::behavior_type fake_store(store_actor::pointer, std::shared_ptr<fake_store_data> d) {
  return {
      [d](save_atom, const container_record& r) { d->containers[r.id] = r; },
      [d](erase_atom, container_atom, const std::string& id) { d->containers.erase(id); },
      [d](list_atom, container_atom) {
        std::vector<container_record> out;
        for (auto& [id, r] : d->containers) out.push_back(r);
        return out;
      },
      [](save_atom, const image_record&) {},
      [](erase_atom, image_atom, const std::string&) {},
      [](list_atom, image_atom) { return std::vector<image_record>{}; },
      [](save_atom, const volume_record&) {},
      [](erase_atom, volume_atom, const std::string&) {},
      [](list_atom, volume_atom) { return std::vector<volume_record>{}; },
      [](save_atom, const network_record&) {},
      [](erase_atom, network_atom, const std::string&) {},
      [](list_atom, network_atom) { return std::vector<network_record>{}; },
  };
}

image_supervisor_actor::behavior_type fake_images(image_supervisor_actor::pointer) {
  return {
      [](load_atom, const std::string&) -> caf::result<std::vector<api::image_info>> {
        return make_error(errc::unsupported, "not here");
      },
      [](list_atom) { return std::vector<api::image_info>{}; },
      [](pull_atom, const std::string&, const std::string&, const caf::actor&)
          -> caf::result<api::image_info> { return make_error(errc::unsupported, "not here"); },
      [](push_atom, const std::string&, const caf::actor&) -> caf::result<api::pushed> {
        return make_error(errc::unsupported, "not here");
      },
      [](tag_atom, const std::string&, const std::string&) -> caf::result<void> {
        return make_error(errc::unsupported, "not here");
      },
      [](remove_atom, const std::string&, bool) -> caf::result<api::removed> {
        return make_error(errc::unsupported, "not here");
      },
      [](prune_atom, bool) -> caf::result<api::removed> {
        return make_error(errc::unsupported, "not here");
      },
      [](save_atom, const std::vector<std::string>&, const caf::actor&) -> caf::result<void> {
        return make_error(errc::unsupported, "not here");
      },
      [](inspect_atom, const std::string&) -> caf::result<api::image_detail> {
        return make_error(errc::unsupported, "not here");
      },
      [](login_atom, const std::string&, const std::string&, const std::string&)
          -> caf::result<void> { return make_error(errc::unsupported, "not here"); },
      [](logout_atom, const std::string&) -> caf::result<void> {
        return make_error(errc::unsupported, "not here");
      },
      [](resolve_atom, const std::string& ref) -> caf::result<image_runtime> {
        if (ref != "busybox") return make_error(errc::not_found, "No such image: " + ref);
        image_runtime rt;
        rt.id = "sha256:aaaa";
        rt.disk = "/images/aaaa/rootfs.erofs";
        rt.cmd = {"sh"};
        rt.env = {"PATH=/bin"};
        rt.stop_signal = "SIGQUIT";
        rt.healthcheck.test = {"CMD", "/bin/check"};
        rt.healthcheck.interval = 5'000'000'000;
        rt.healthcheck.retries = 5;
        rt.labels = {{"maintainer", "berth"}, {"tier", "base"}};
        return rt;
      },
  };
}

struct fixture : testing::deterministic {
  std::shared_ptr<fake_store_data> store_data = std::make_shared<fake_store_data>();
  std::shared_ptr<vm_environment> env = std::make_shared<vm_environment>();
  vm_supervisor_actor vms;

  fixture() {
    env->data_root = "/nonexistent/data";
    env->run_root = "/nonexistent/run";
    env->bridge_none = true;  // no net supervisor here: containers default to --network none
  }

  // Starts store, images and the vm supervisor the way berthd's root does.
  void start() {
    auto store = sys.spawn(fake_store, store_data);
    owned.push_back(caf::actor_cast<caf::actor>(store));
    sys.registry().put(registry_key(store_name), store);
    auto images = sys.spawn(fake_images);
    owned.push_back(caf::actor_cast<caf::actor>(images));
    sys.registry().put(registry_key(image_supervisor_name), images);
    auto out = std::make_shared<vm_supervisor_actor>();
    owned.push_back(
        caf::actor_cast<caf::actor>(sys.spawn([out, e = env](caf::event_based_actor* self) {
          *out = spawn_vm_supervisor(self, e);
          self->set_exit_handler([](caf::exit_msg&) {});
          return caf::behavior{[](info_atom) {}};
        })));
    run();
    vms = *out;
  }

  ~fixture() {
    sys.registry().erase(registry_key(store_name));
    sys.registry().erase(registry_key(image_supervisor_name));
  }

  // Sends a request and runs the system until it is answered.
  template <class T, class... Ts>
  std::variant<T, caf::error> ask(Ts... xs) {
    auto out =
        std::make_shared<std::variant<T, caf::error>>(make_error(errc::internal, "no answer"));
    auto h = vms;
    sys.spawn([=](caf::event_based_actor* self) {
      self->request(h, caf::infinite, xs...)
          .then([=](T& value) { *out = std::move(value); }, [=](caf::error& err) { *out = err; });
    });
    run();
    return *out;
  }

  api::created create(api::container_spec spec) {
    auto r = ask<api::created>(create_atom_v, spec);
    REQUIRE(std::holds_alternative<api::created>(r));
    return std::get<api::created>(r);
  }

  errc create_error(api::container_spec spec) {
    auto r = ask<api::created>(create_atom_v, spec);
    REQUIRE(std::holds_alternative<caf::error>(r));
    return code_of(std::get<caf::error>(r));
  }
};

api::container_spec spec(std::string name, std::vector<std::string> cmd = {}) {
  api::container_spec s;
  s.image = "busybox";
  s.name = std::move(name);
  s.cmd = std::move(cmd);
  return s;
}

}  // namespace

TEST_CASE_METHOD(fixture, "a created container is stored, listed and found by name, id or prefix") {
  start();
  auto c = create(spec("web", {"echo", "hi"}));
  CHECK(c.name == "web");
  CHECK(c.id.size() == 64);
  REQUIRE(store_data->containers.count(c.id) == 1);
  auto& rec = store_data->containers[c.id];
  CHECK(rec.process.args == std::vector<std::string>{"echo", "hi"});
  CHECK(rec.image_disk == "/images/aaaa/rootfs.erofs");
  CHECK(rec.stop_signal == "SIGQUIT");
  CHECK(rec.state == state::created);
  for (auto ref : {std::string("web"), c.id, c.id.substr(0, 6)}) {
    auto info = ask<api::container_info>(inspect_atom_v, ref);
    REQUIRE(std::holds_alternative<api::container_info>(info));
    CHECK(std::get<api::container_info>(info).id == c.id);
  }
  auto all = std::get<std::vector<api::container_info>>(
      ask<std::vector<api::container_info>>(list_atom_v, true));
  CHECK(all.size() == 1);
  auto running = std::get<std::vector<api::container_info>>(
      ask<std::vector<api::container_info>>(list_atom_v, false));
  CHECK(running.empty());
}

TEST_CASE_METHOD(fixture, "a name in use or not matching Docker's pattern is refused") {
  start();
  create(spec("web"));
  CHECK(create_error(spec("web")) == errc::already_exists);
  CHECK(create_error(spec("/web")) == errc::already_exists);
  CHECK(create_error(spec("bad name")) == errc::invalid_argument);
  auto unnamed = create(spec(""));
  CHECK(valid_name(unnamed.name));
  CHECK(unnamed.name != "web");
}

TEST_CASE_METHOD(fixture, "an unknown image fails the create and leaves the name free") {
  start();
  auto s = spec("db");
  s.image = "nosuch";
  CHECK(create_error(s) == errc::not_found);
  CHECK(store_data->containers.empty());
  CHECK(create(spec("db")).name == "db");
}

TEST_CASE_METHOD(fixture, "bad resources are refused before anything is stored") {
  start();
  auto s = spec("x");
  s.cpus = 10000;
  CHECK(create_error(s) == errc::invalid_argument);
  s.cpus = 0;
  s.memory = 1 << 20;
  CHECK(create_error(s) == errc::invalid_argument);
  CHECK(store_data->containers.empty());
}

TEST_CASE_METHOD(
    fixture, "an id prefix shared by two containers is ambiguous and an unknown one not_found") {
  start();
  // 17 containers: two of them must share their first hex digit.
  std::map<char, int> first_digits;
  for (int i = 0; i < 17; ++i) ++first_digits[create(spec("c" + std::to_string(i))).id[0]];
  char shared = 0;
  for (auto& [digit, n] : first_digits)
    if (n > 1) shared = digit;
  REQUIRE(shared != 0);
  auto r = ask<api::container_info>(inspect_atom_v, std::string(1, shared));
  REQUIRE(std::holds_alternative<caf::error>(r));
  CHECK(code_of(std::get<caf::error>(r)) == errc::invalid_argument);
  auto missing = ask<api::container_info>(inspect_atom_v, std::string("nosuchname"));
  CHECK(code_of(std::get<caf::error>(missing)) == errc::not_found);
}

TEST_CASE_METHOD(
    fixture,
    "records in the store are loaded, and one that says running without a VM is marked exited") {
  container_record exited;
  exited.id = std::string(64, 'a');
  exited.name = "old";
  exited.state = state::exited;
  exited.exit_code = 4;
  container_record was_running;
  was_running.id = std::string(64, 'b');
  was_running.name = "orphan";
  was_running.state = state::running;
  store_data->containers[exited.id] = exited;
  store_data->containers[was_running.id] = was_running;
  start();
  auto all = std::get<std::vector<api::container_info>>(
      ask<std::vector<api::container_info>>(list_atom_v, true));
  REQUIRE(all.size() == 2);
  auto orphan = std::get<api::container_info>(
      ask<api::container_info>(inspect_atom_v, std::string("orphan")));
  CHECK(orphan.state == state::exited);
  CHECK(orphan.reason.find("while berthd was not running") != std::string::npos);
  CHECK(store_data->containers[was_running.id].state == state::exited);
  CHECK(std::get<api::container_info>(ask<api::container_info>(inspect_atom_v, std::string("old")))
            .exit_code == 4);
  CHECK(create_error(spec("old")) == errc::already_exists);
}

TEST_CASE_METHOD(fixture, "berth cp's file calls need a running VM and name their container") {
  start();
  auto id = create(spec("idle")).id;
  auto stat = ask<api::file_info>(file_atom_v, api::file_ref{"idle", "/etc"});
  REQUIRE(std::holds_alternative<caf::error>(stat));
  CHECK(code_of(std::get<caf::error>(stat)) == errc::conflict);
  CHECK(describe(std::get<caf::error>(stat)) ==
        "container idle is not running; berth cp needs its VM");
  api::file_write_request write;
  write.container = id.substr(0, 6);
  write.path = "/x";
  write.create = true;
  auto wrote = std::make_shared<caf::error>(make_error(errc::internal, "no answer"));
  sys.spawn([wrote, h = vms, write](caf::event_based_actor* self) {
    self->request(h, caf::infinite, file_atom_v, write_atom_v, write)
        .then([wrote] { *wrote = caf::error{}; }, [wrote](caf::error& err) { *wrote = err; });
  });
  run();
  CHECK(code_of(*wrote) == errc::conflict);
  auto unknown =
      ask<std::vector<api::file_info>>(file_atom_v, list_atom_v, api::file_ref{"nosuchname", "/"});
  CHECK(code_of(std::get<caf::error>(unknown)) == errc::not_found);
}

TEST_CASE_METHOD(fixture, "the health flags override the image's HEALTHCHECK field by field") {
  start();
  auto image_only = create(spec("plain"));
  auto& plain = store_data->containers[image_only.id].healthcheck;
  CHECK(plain.test == std::vector<std::string>{"CMD", "/bin/check"});
  CHECK(plain.interval == 5'000'000'000);
  CHECK(plain.retries == 5);
  auto s = spec("flags");
  s.healthcheck.test = {"CMD-SHELL", "test -f /ok"};
  s.healthcheck.timeout = 2'000'000'000;
  auto merged = create(s);
  auto& h = store_data->containers[merged.id].healthcheck;
  CHECK(h.test == std::vector<std::string>{"CMD-SHELL", "test -f /ok"});
  CHECK(h.interval == 5'000'000'000);  // the image's
  CHECK(h.timeout == 2'000'000'000);   // the flag's
  CHECK(h.retries == 5);
  auto info = ask<api::container_info>(inspect_atom_v, std::string("flags"));
  REQUIRE(std::holds_alternative<api::container_info>(info));
  CHECK(std::get<api::container_info>(info).healthcheck.test == h.test);
  CHECK(std::get<api::container_info>(info).health.status.empty());  // not started: no health yet
  auto off = spec("off");
  off.healthcheck.test = {"NONE"};
  auto disabled = create(off);
  CHECK(store_data->containers[disabled.id].healthcheck.test == std::vector<std::string>{"NONE"});
}

TEST_CASE_METHOD(fixture, "a malformed health check is refused and nothing is created") {
  start();
  auto bad = [](auto change) {
    auto s = spec("hc");
    change(s.healthcheck);
    return s;
  };
  CHECK(create_error(bad([](api::healthcheck& h) { h.interval = -1; })) == errc::invalid_argument);
  CHECK(create_error(bad([](api::healthcheck& h) { h.timeout = 999; })) == errc::invalid_argument);
  CHECK(create_error(bad([](api::healthcheck& h) { h.retries = -2; })) == errc::invalid_argument);
  CHECK(create_error(bad([](api::healthcheck& h) {
          h.test = {"SHELL", "true"};
        })) == errc::invalid_argument);
  CHECK(create_error(bad([](api::healthcheck& h) { h.test = {"CMD-SHELL"}; })) ==
        errc::invalid_argument);
  CHECK(store_data->containers.empty());
  CHECK(create(spec("hc")).name == "hc");
}

TEST_CASE_METHOD(
    fixture,
    "a container's labels are its image's with each --label over the image's of that name") {
  start();
  auto image_only = create(spec("plain"));
  CHECK(store_data->containers[image_only.id].labels ==
        std::map<std::string, std::string>{{"maintainer", "berth"}, {"tier", "base"}});
  auto s = spec("labelled");
  s.labels = {{"tier", "web"}, {"team", ""}};
  auto c = create(s);
  std::map<std::string, std::string> want{{"maintainer", "berth"}, {"team", ""}, {"tier", "web"}};
  CHECK(store_data->containers[c.id].labels == want);
  auto all = std::get<std::vector<api::container_info>>(
      ask<std::vector<api::container_info>>(list_atom_v, true));
  REQUIRE(all.size() == 2);
  for (auto& info : all) CHECK(info.labels == store_data->containers[info.id].labels);
  auto unnamed = spec("unnamed");
  unnamed.labels = {{"", "x"}};
  CHECK(create_error(unnamed) == errc::invalid_argument);
}

TEST_CASE_METHOD(fixture,
                 "calls forwarded to a container's vm actor find it by name, id or prefix, and "
                 "fail as it does") {
  start();
  auto c = create(spec("fwd"));
  auto sub = spawn_owned([](caf::event_based_actor*) -> caf::behavior {
    return {[](output_atom, const std::string&, int32_t, int64_t, const std::vector<char>&) {}};
  });
  // attach and logs answer the container's full id, however it was named.
  for (auto ref : {std::string("fwd"), c.id, c.id.substr(0, 5)}) {
    auto attached = ask<std::string>(attach_atom_v, ref, sub);
    REQUIRE(std::holds_alternative<std::string>(attached));
    CHECK(std::get<std::string>(attached) == c.id);
  }
  // The vm actor's own refusal comes back as it is: exec needs a running container.
  api::exec_request exec;
  exec.container = "fwd";
  exec.cmd = {"true"};
  auto refused = ask<std::vector<std::string>>(exec_atom_v, exec, sub);
  REQUIRE(std::holds_alternative<caf::error>(refused));
  CHECK(code_of(std::get<caf::error>(refused)) == errc::conflict);
  // A container no one has: lookup's errors, before any vm actor is asked.
  CHECK(code_of(std::get<caf::error>(ask<api::exit_info>(wait_atom_v, std::string("nosuch")))) ==
        errc::not_found);
  CHECK(code_of(std::get<caf::error>(
            ask<api::container_stats>(stats_atom_v, std::string("nosuch")))) == errc::not_found);
  CHECK(code_of(std::get<caf::error>(ask<std::string>(logs_atom_v, std::string("nosuch"), sub,
                                                      api::logs_request{}))) == errc::not_found);
  exec.container = "";
  CHECK(code_of(std::get<caf::error>(ask<std::vector<std::string>>(exec_atom_v, exec, sub))) ==
        errc::invalid_argument);
}

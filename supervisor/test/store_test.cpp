// Tests for the store against real SQLite: records survive a reopen, erase deletes, damaged
// rows are skipped without losing the rest, and a newer schema is refused.
#include "berth/supervisor/store.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/scoped_actor.hpp>
#include "berth/actors/testing/temp_dir.hpp"

#include <sqlite3.h>
#include <catch2/catch.hpp>

#include <filesystem>

using namespace berth;
namespace fs = std::filesystem;

namespace {

struct config : caf::actor_system_config {
  config() { add_message_types<caf::id_block::berth>(); }
};

// Opens the store at `db`, runs `fn(self, store)`, and closes it again.
template <class F>
void with_store(const fs::path& db, F fn) {
  config cfg;
  caf::actor_system sys{cfg};
  caf::scoped_actor self{sys};
  // The scoped actor is the store's parent for the test; it outlives the store.
  auto store = spawn_store(caf::actor_cast<caf::local_actor*>(self.ptr()), db);
  REQUIRE(store);
  fn(self, *store);
  self->unlink_from(*store);
  self->send_exit(*store, caf::exit_reason::user_shutdown);
}

container_record sample(const std::string& id, const std::string& name) {
  container_record rec;
  rec.id = id;
  rec.name = name;
  rec.image = "busybox";
  rec.process.args = {"echo", "hi"};
  rec.state = state::exited;
  rec.exit_code = 3;
  return rec;
}

}  // namespace

TEST_CASE("saved containers and images are there after the store is reopened") {
  berth::testing::temp_dir dir;
  auto db = dir.path / "berth.db";
  with_store(db, [](caf::scoped_actor& self, store_actor& store) {
    self->request(store, caf::infinite, save_atom_v, sample("a1", "web"))
        .receive([] {}, [](caf::error& e) { FAIL(describe(e)); });
    self->request(store, caf::infinite, save_atom_v, sample("b2", "db"))
        .receive([] {}, [](caf::error& e) { FAIL(describe(e)); });
    image_record img;
    img.id = "sha256:00";
    img.tags = {"docker.io/library/busybox:latest"};
    self->request(store, caf::infinite, save_atom_v, img)
        .receive([] {}, [](caf::error& e) { FAIL(describe(e)); });
  });
  with_store(db, [](caf::scoped_actor& self, store_actor& store) {
    self->request(store, caf::infinite, list_atom_v, container_atom_v)
        .receive(
            [](std::vector<container_record>& recs) {
              REQUIRE(recs.size() == 2);
              std::sort(recs.begin(), recs.end(), [](auto& a, auto& b) { return a.id < b.id; });
              CHECK(recs[0].name == "web");
              CHECK(recs[0].exit_code == 3);
              CHECK(recs[0].process.args == std::vector<std::string>{"echo", "hi"});
            },
            [](caf::error& e) { FAIL(describe(e)); });
    self->request(store, caf::infinite, list_atom_v, image_atom_v)
        .receive(
            [](std::vector<image_record>& imgs) {
              CHECK(imgs.at(0).tags.at(0) == "docker.io/library/busybox:latest");
            },
            [](caf::error& e) { FAIL(describe(e)); });
  });
}

TEST_CASE("an erased container is gone and saving again replaces, not duplicates") {
  berth::testing::temp_dir dir;
  with_store(dir.path / "berth.db", [](caf::scoped_actor& self, store_actor& store) {
    auto rec = sample("a1", "web");
    self->request(store, caf::infinite, save_atom_v, rec).receive([] {}, [](caf::error&) {});
    rec.state = state::running;
    self->request(store, caf::infinite, save_atom_v, rec).receive([] {}, [](caf::error&) {});
    self->request(store, caf::infinite, list_atom_v, container_atom_v)
        .receive(
            [](std::vector<container_record>& recs) {
              REQUIRE(recs.size() == 1);
              CHECK(recs[0].state == state::running);
            },
            [](caf::error&) {});
    self->request(store, caf::infinite, erase_atom_v, container_atom_v, std::string("a1"))
        .receive([] {}, [](caf::error&) {});
    self->request(store, caf::infinite, list_atom_v, container_atom_v)
        .receive([](std::vector<container_record>& recs) { CHECK(recs.empty()); },
                 [](caf::error&) {});
  });
}

TEST_CASE("a damaged row is skipped and the others are still read") {
  berth::testing::temp_dir dir;
  auto db = dir.path / "berth.db";
  with_store(db, [](caf::scoped_actor& self, store_actor& store) {
    self->request(store, caf::infinite, save_atom_v, sample("good", "ok"))
        .receive([] {}, [](caf::error&) {});
  });
  sqlite3* raw = nullptr;
  REQUIRE(sqlite3_open(db.c_str(), &raw) == SQLITE_OK);
  REQUIRE(sqlite3_exec(raw, "INSERT INTO containers (id, record) VALUES ('bad', x'c1c1c1');",
                       nullptr, nullptr, nullptr) == SQLITE_OK);
  sqlite3_close(raw);
  with_store(db, [](caf::scoped_actor& self, store_actor& store) {
    self->request(store, caf::infinite, list_atom_v, container_atom_v)
        .receive(
            [](std::vector<container_record>& recs) {
              REQUIRE(recs.size() == 1);
              CHECK(recs[0].id == "good");
            },
            [](caf::error& e) { FAIL(describe(e)); });
  });
}

TEST_CASE("a database with a newer schema is refused") {
  berth::testing::temp_dir dir;
  auto db = dir.path / "berth.db";
  sqlite3* raw = nullptr;
  REQUIRE(sqlite3_open(db.c_str(), &raw) == SQLITE_OK);
  sqlite3_exec(raw,
               "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
               "INSERT INTO meta VALUES ('schema', '99');",
               nullptr, nullptr, nullptr);
  sqlite3_close(raw);
  config cfg;
  caf::actor_system sys{cfg};
  caf::scoped_actor self{sys};
  auto store = spawn_store(caf::actor_cast<caf::local_actor*>(self.ptr()), db);
  REQUIRE_FALSE(store);
  CHECK(code_of(store.error()) == errc::unsupported);
}

// What a hostile guest costs: a vm actor whose guest answers its calls with wrong types,
// out-of-range values or oversized values, or sends malformed notifications, kills that guest's
// VM with the reason recorded, keeps running itself (nothing throws, so its supervisor has
// nothing to restart or count) and leaves other containers alone. On CAF's test coordinator with
// the fake backend; the bounds of the agent connection itself are attacked in
// agent_session_test.cpp, and the whole path with a real berthd in supervisor's e2e_hostile.
#include "vm_fixture.hpp"

#include "berth/os/time.hpp"
#include "berth/vm/guest_wire.hpp"

#include <string>
#include <vector>

using namespace berth;
using namespace berth::vm;
using namespace std::chrono_literals;
using berth::vm::testing::fake_backend;
using berth::vm::testing::fake_vm;
using berth::vm::testing::fixture;

namespace {

// A map whose every field any reply has is of the wrong type.
std::string wrong_fields() {
  rpc::byte_buffer buf;
  msgpack::packer<rpc::byte_buffer> pk(buf);
  const char* keys[] = {"pid",   "protocol", "agent", "id",  "exit_code", "fd",   "data", "cpu_ns",
                        "disks", "path",     "mode",  "eof", "type",      "size", "link", "cpus"};
  pk.pack_map(std::size(keys));
  for (auto* k : keys) {
    pk.pack(std::string_view(k));
    if (std::string_view(k) == "path" || std::string_view(k) == "agent" ||
        std::string_view(k) == "id")
      pk.pack(std::vector<int>{1, 2, 3});
    else
      pk.pack(std::string_view("not a number"));
  }
  return std::move(buf.data);
}

// `arrays` arrays of 65536 nils: 1 byte each on the wire, a 16-byte object each once built.
std::string nils(std::size_t arrays) {
  rpc::byte_buffer buf;
  msgpack::packer<rpc::byte_buffer> pk(buf);
  pk.pack_array(static_cast<uint32_t>(arrays));
  for (std::size_t a = 0; a < arrays; ++a) {
    pk.pack_array(1u << 16);
    for (std::size_t i = 0; i < (1u << 16); ++i) pk.pack_nil();
  }
  return std::move(buf.data);
}

// Bad answers of every kind: wrong types, truncated, with trailing bytes, nested too deep, and
// 8 MiB of nils.
std::vector<std::string> bad_answers() {
  std::string deep;
  for (int i = 0; i < 40; ++i) deep += '\x91';
  deep += '\xc0';
  return {
      rpc::pack(std::string("not a map")),
      wrong_fields(),
      std::string("\x82\xa3pid", 5),                    // truncated
      rpc::pack(agent::empty{}) + std::string("\xc0"),  // a second value after the first
      deep,
      nils(127),
  };
}

struct hostile : fixture {
  caf::actor bystander;
  std::shared_ptr<fake_vm> bystander_vm;

  // A second container that runs next to the offender; spawned first, so `vm` is the offender.
  void start_bystander() {
    auto rec = record();
    rec.id = std::string(64, 'b');
    rec.name = "db";
    rec.process.id = rec.id;
    bystander = spawn(rec);
    bystander_vm = start();
  }

  // The offender's VM is dead, its actor answers (it did not crash) with the reason recorded,
  // and the bystander runs on.
  void check_only_offender_stopped(const std::string& what) {
    auto rec = current();
    CHECK(rec.state == state::exited);
    CHECK(rec.exit_code == 137);
    CHECK_THAT(rec.reason, Catch::Contains("the guest agent sent a bad " + what));
    CHECK_FALSE(vms->last()->alive);
    REQUIRE(bystander_vm);
    CHECK(bystander_vm->alive);
    auto other = current_of(bystander);
    CHECK(other.state == state::running);
    CHECK(other.exit_code == 0);
  }
};

}  // namespace

TEST_CASE_METHOD(hostile, "a malformed answer to a call costs the guest its VM and nothing more") {
  auto answer = GENERATE(from_range(bad_answers()));
  start_bystander();
  spawn(record());
  auto offender = start();

  SECTION("stats") {
    vms->answers["stats"] = answer;
    auto r = ask<api::container_stats>(stats_atom_v);
    REQUIRE(r->done);
    CHECK(code_of(r->error) == errc::protocol);
    check_only_offender_stopped("stats answer");
  }
  SECTION("stat") {
    vms->answers["stat"] = answer;
    auto r = ask<api::file_info>(file_atom_v, api::file_ref{"web", "/etc/passwd"});
    REQUIRE(r->done);
    CHECK(code_of(r->error) == errc::protocol);
    check_only_offender_stopped("stat answer");
  }
  SECTION("list") {
    vms->answers["list"] = answer;
    auto r =
        ask<std::vector<api::file_info>>(file_atom_v, list_atom_v, api::file_ref{"web", "/etc"});
    REQUIRE(r->done);
    CHECK(code_of(r->error) == errc::protocol);
    check_only_offender_stopped("list answer");
  }
  SECTION("read") {
    vms->answers["read"] = answer;
    api::file_read_request req;
    req.path = "/etc/passwd";
    auto r = ask<api::file_data>(file_atom_v, read_atom_v, req);
    REQUIRE(r->done);
    CHECK(code_of(r->error) == errc::protocol);
    check_only_offender_stopped("read answer");
  }
}

TEST_CASE_METHOD(hostile, "a read answer with more bytes than asked for costs the guest its VM") {
  start_bystander();
  spawn(record());
  start();
  agent::read_result got;
  got.data.assign(5, 'x');
  vms->answers["read"] = rpc::pack(got);
  api::file_read_request req;
  req.path = "/etc/passwd";
  req.length = 4;
  auto r = ask<api::file_data>(file_atom_v, read_atom_v, req);
  REQUIRE(r->done);
  CHECK(code_of(r->error) == errc::protocol);
  check_only_offender_stopped("read answer");
}

TEST_CASE_METHOD(hostile, "a malformed answer while the guest boots fails the start and the VM") {
  auto method = GENERATE(as<std::string>{}, "version", "start");
  auto answer = GENERATE(from_range(bad_answers()));
  start_bystander();
  vms->answers[method] = answer;
  spawn(record());
  auto r = ask(start_atom_v);
  REQUIRE(r->done);
  CHECK(code_of(r->error) == errc::protocol);
  CHECK_THAT(describe(r->error), Catch::Contains(method + " answer"));
  auto rec = current();
  CHECK(rec.state == state::exited);
  CHECK(rec.exit_code == 125);
  CHECK_FALSE(vms->last()->alive);
  CHECK(bystander_vm->alive);
  CHECK(current_of(bystander).state == state::running);
}

TEST_CASE_METHOD(hostile, "a malformed notification costs the guest its VM and nothing more") {
  start_bystander();
  spawn(record());
  auto offender = start();
  std::string what;
  SECTION("output of the wrong shape") {
    what = "output notification";
    fake_backend::notify(*offender, "output", GENERATE(from_range(bad_answers())));
  }
  SECTION("output for a file descriptor that does not exist") {
    what = "output notification";
    fake_backend::notify(*offender, "output",
                         rpc::pack(agent::output_chunk{offender->process_id, 9, {'x'}}));
  }
  SECTION("an exit of the wrong shape") {
    what = "exit notification";
    fake_backend::notify(*offender, "exit", GENERATE(from_range(bad_answers())));
  }
  run();
  check_only_offender_stopped(what);
}

TEST_CASE_METHOD(hostile, "an adopted guest that answers wait with garbage loses its VM") {
  start_bystander();
  auto rec = record();
  rec.state = state::running;
  rec.qemu_pid = 777;
  rec.started = os::unix_time_ns();
  auto adopted = vms->running(777, rec.id);
  vms->answers["wait"] = GENERATE(from_range(bad_answers()));
  spawn(rec);
  auto after = current();
  CHECK(after.state == state::exited);
  CHECK(after.exit_code == 137);
  CHECK_THAT(after.reason, Catch::Contains("the guest agent sent a bad wait answer"));
  CHECK_FALSE(adopted->alive);
  CHECK(bystander_vm->alive);
}

TEST_CASE_METHOD(hostile,
                 "a hostile guest under restart always is restarted with backoff and never crashes "
                 "its actor") {
  start_bystander();
  spawn(record("always"));
  start();
  for (int round = 1; round <= 5; ++round) {
    fake_backend::notify(*vms->last(), "exit", nils(127));
    run();
    auto rec = current();  // the same actor answers: it never crashed
    CHECK(rec.state == state::exited);
    CHECK_THAT(rec.reason, Catch::Contains("the guest agent sent a bad exit notification"));
    // Its policy brings it back after the backoff, which doubles each time.
    advance(std::chrono::milliseconds(100 << (round - 1)));
    CHECK(vms->launches == 1 + round + 1);  // the bystander's, the first, and one per round
    CHECK(current().state == state::running);
  }
  CHECK(current().restart_count == 5);
  CHECK(bystander_vm->alive);
  CHECK(current_of(bystander).state == state::running);
}

TEST_CASE_METHOD(hostile, "a guest that floods output notifications keeps its VM and its actor") {
  spawn(record());
  auto vm = start();
  for (int i = 0; i < 200; ++i)
    fake_backend::notify(
        *vm, "output",
        rpc::pack(agent::output_chunk{vm->process_id, 1, std::vector<char>(64 * 1024, 'x')}));
  run();
  CHECK(vm->alive);
  CHECK(current().state == state::running);
}

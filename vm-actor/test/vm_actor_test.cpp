// Tests of the vm actor's state machine on CAF's test coordinator with a fake backend: restart
// policies and their backoff, the stop timeout, the heartbeat and the io-error resume, adoption
// versus marking a container lost, and removal while starting. Time moves only when a test
// advances it, and no VM is booted: each case runs in milliseconds. The e2e suites test the same
// paths against real QEMU.
#include "vm_fixture.hpp"

#include "../src/container_log.hpp"

#include "berth/os/time.hpp"

using namespace berth;
using namespace berth::vm;
using namespace std::chrono_literals;
using berth::vm::testing::fake_backend;
using berth::vm::testing::fake_vm;
using berth::vm::testing::fixture;
namespace fs = std::filesystem;

TEST_CASE_METHOD(fixture,
                 "a start boots the VM, sets up its network and root, then starts the workload") {
  spawn(record());
  auto vm = start();
  CHECK(vm->calls ==
        std::vector<std::string>{"version", "configure_network", "mount_root", "start"});
  CHECK(vms->launches == 1);
  auto rec = current();
  CHECK(rec.qemu_pid == vm->pid);
  REQUIRE(listener_heard->saves.size() >= 2);
  CHECK(listener_heard->saves.front().state == state::starting);
  CHECK(listener_heard->saves.back().state == state::running);
}

TEST_CASE_METHOD(fixture,
                 "each network mode gives the guest its interfaces, hosts entry and resolver") {
  SECTION("none: loopback only") {
    auto rec = record();
    rec.process.hostname = "web";
    spawn(rec);
    auto vm = start();
    auto net = rpc::unpack_as<agent::network_config>(vm->args["configure_network"]);
    CHECK(net.interfaces.empty());
    auto root = rpc::unpack_as<agent::mount_spec>(vm->args["mount_root"]);
    CHECK_THAT(root.hosts, Catch::Contains("127.0.1.1\tweb\n"));
    CHECK(root.resolv_conf.empty());
  }
  SECTION("user: QEMU's user-mode network and resolver") {
    auto rec = record();
    rec.network_mode = "user";
    rec.process.hostname = "web";
    spawn(rec);
    auto vm = start();
    auto net = rpc::unpack_as<agent::network_config>(vm->args["configure_network"]);
    REQUIRE(net.interfaces.size() == 1);
    CHECK(net.interfaces[0].address == "10.0.2.15");
    CHECK(net.interfaces[0].gateway == "10.0.2.2");
    auto root = rpc::unpack_as<agent::mount_spec>(vm->args["mount_root"]);
    CHECK_THAT(root.hosts, Catch::Contains("10.0.2.15\tweb\n"));
    CHECK(root.resolv_conf == "nameserver 10.0.2.3\noptions ndots:0\n");
  }
  SECTION("--dns replaces the network's resolver") {
    auto rec = record();
    rec.network_mode = "user";
    rec.dns = {"192.0.2.53"};
    spawn(rec);
    auto root = rpc::unpack_as<agent::mount_spec>(start()->args["mount_root"]);
    CHECK(root.resolv_conf == "nameserver 192.0.2.53\noptions ndots:0\n");
  }
}

TEST_CASE_METHOD(fixture, "a workload's exit ends its VM and answers wait with the exit code") {
  spawn(record());
  auto vm = start();
  auto waiting = post<api::exit_info>(wait_atom_v);
  run();
  CHECK_FALSE(waiting->done);
  fake_backend::exit_workload(*vm, 3);
  run();
  REQUIRE(waiting->ok());
  CHECK(waiting->value->exit_code == 3);
  CHECK_FALSE(vm->alive);
  CHECK(vm->count("shutdown") == 1);
  auto rec = current();
  CHECK(rec.state == state::exited);
  CHECK(rec.exit_code == 3);
  CHECK(rec.qemu_pid == 0);
}

TEST_CASE_METHOD(fixture, "on-failure restarts with a doubling backoff and stops at its limit") {
  spawn(record("on-failure:2"));
  fake_backend::exit_workload(*start(), 1);
  run();
  CHECK(current().state == state::exited);
  advance(99ms);
  CHECK(vms->launches == 1);
  advance(1ms);
  CHECK(vms->launches == 2);
  CHECK(current().state == state::running);
  CHECK(current().restart_count == 1);

  fake_backend::exit_workload(*vms->last(), 1);
  run();
  advance(199ms);
  CHECK(vms->launches == 2);
  advance(1ms);
  CHECK(vms->launches == 3);
  CHECK(current().restart_count == 2);

  fake_backend::exit_workload(*vms->last(), 1);
  run();
  advance(10min);
  CHECK(vms->launches == 3);
  auto rec = current();
  CHECK(rec.state == state::exited);
  CHECK(rec.exit_code == 1);
}

TEST_CASE_METHOD(fixture, "on-failure leaves a clean exit alone") {
  spawn(record("on-failure"));
  fake_backend::exit_workload(*start(), 0);
  run();
  advance(10min);
  CHECK(vms->launches == 1);
  CHECK(current().state == state::exited);
}

TEST_CASE_METHOD(fixture, "a run of more than ten seconds starts the backoff over") {
  spawn(record("always"));
  fake_backend::exit_workload(*start(), 0);
  run();
  advance(100ms);
  REQUIRE(vms->launches == 2);
  fake_backend::exit_workload(*vms->last(), 0);
  run();
  advance(200ms);
  REQUIRE(vms->launches == 3);
  // This run lasts 11 s: the next restart waits 100 ms again, not 400.
  advance(11s);
  fake_backend::exit_workload(*vms->last(), 0);
  run();
  advance(99ms);
  CHECK(vms->launches == 3);
  advance(1ms);
  CHECK(vms->launches == 4);
}

TEST_CASE_METHOD(fixture, "a stop by the user ends the restarts of always") {
  spawn(record("always"));
  auto vm = start();
  auto stopped = ask(stop_atom_v, int32_t{10}, int32_t{0});
  REQUIRE(stopped->ok());
  CHECK(vm->signals == std::vector<int>{SIGTERM});
  advance(10min);
  CHECK(vms->launches == 1);
  auto rec = current();
  CHECK(rec.state == state::exited);
  CHECK(rec.stopped_by_user);
  CHECK(rec.exit_code == 128 + SIGTERM);
}

TEST_CASE_METHOD(fixture,
                 "a workload that ignores the stop signal is killed when the stop timeout passes") {
  vms->ignores_sigterm = true;
  spawn(record());
  auto vm = start();
  auto stopped = post(stop_atom_v, int32_t{5}, int32_t{0});
  run();
  CHECK(vm->signals == std::vector<int>{SIGTERM});
  CHECK(current().state == state::stopping);
  advance(4999ms);
  CHECK_FALSE(stopped->done);
  advance(1ms);
  CHECK(vm->signals == std::vector<int>{SIGTERM, SIGKILL});
  REQUIRE(stopped->ok());
  CHECK(current().exit_code == 128 + SIGKILL);
}

TEST_CASE_METHOD(
    fixture, "a guest that stops answering is killed as unresponsive after the heartbeat timeout") {
  env->heartbeat_timeout = 3s;  // pinged every second
  spawn(record("on-failure"));
  auto vm = start();
  vms->agent_silent = true;
  advance(1s);
  advance(1s);
  advance(1s);
  CHECK(vm->alive);  // silent for 3 s: not more than the timeout yet
  advance(1s);
  CHECK_FALSE(vm->alive);
  // Asked why first: QEMU says the guest runs, so it is hung (quit follows the kill, and fails).
  REQUIRE_FALSE(vms->monitor_calls.empty());
  CHECK(vms->monitor_calls.front() == "query-status");
  auto rec = current();
  CHECK(rec.exit_code == 137);
  CHECK_THAT(rec.reason, Catch::Contains("unresponsive"));
  // Its policy applies: the container comes back after the backoff.
  vms->agent_silent = false;
  advance(100ms);
  CHECK(vms->launches == 2);
  CHECK(current().state == state::running);
}

TEST_CASE_METHOD(fixture, "a guest paused on a disk write error is resumed, not killed") {
  env->heartbeat_timeout = 3s;
  spawn(record());
  auto vm = start();
  vms->agent_silent = true;
  vms->status = R"({"status":"io-error","running":false})";
  for (int i = 0; i < 4; ++i) advance(1s);
  CHECK(vm->alive);
  CHECK(vms->monitor_calls == std::vector<std::string>{"query-status", "cont"});
  // The write went through: the guest runs again, answers what it was asked, and stays up.
  vms->agent_silent = false;
  fake_backend::wake(*vm);
  for (int i = 0; i < 10; ++i) advance(1s);
  CHECK(vm->alive);
  CHECK(vms->monitor_calls.size() == 2);
  CHECK(current().state == state::running);
}

namespace {
// The record of a container whose VM (QEMU `pid`) ran when berthd went away.
container_record running_record(int64_t pid) {
  auto rec = fixture::record();
  rec.state = state::running;
  rec.qemu_pid = pid;
  rec.started = os::unix_time_ns();
  return rec;
}
}  // namespace

TEST_CASE_METHOD(fixture,
                 "a VM that still runs is adopted: its agent is asked for the workload's end") {
  auto rec = running_record(777);
  auto vm = vms->running(777, rec.id);
  spawn(rec);
  CHECK(vms->launches == 0);
  CHECK(current().state == state::running);
  CHECK(vm->count("version") == 1);
  CHECK(vm->count("wait") == 1);
  fake_backend::exit_workload(*vm, 4);
  run();
  auto after = current();
  CHECK(after.state == state::exited);
  CHECK(after.exit_code == 4);
  CHECK_FALSE(vm->alive);
}

TEST_CASE_METHOD(
    fixture, "a VM paused on a disk write error while berthd was gone is resumed, then adopted") {
  auto rec = running_record(777);
  auto vm = vms->running(777, rec.id);
  vms->status = R"({"status":"io-error","running":false})";
  spawn(rec);
  CHECK(vms->monitor_calls == std::vector<std::string>{"query-status", "cont"});
  CHECK(vm->alive);
  CHECK(vm->count("version") == 1);
  CHECK(vm->count("wait") == 1);
  CHECK(current().state == state::running);
}

TEST_CASE_METHOD(fixture,
                 "a VM paused on a disk write error with still no room is killed, saying why") {
  auto rec = running_record(777);
  auto vm = vms->running(777, rec.id);
  vms->status = R"({"status":"io-error","running":false})";
  vms->no_room = true;
  spawn(rec);
  run();
  CHECK_FALSE(vm->alive);
  auto after = current();
  CHECK(after.state == state::exited);
  CHECK_THAT(after.reason, Catch::Contains("paused on a disk write error"));
}

TEST_CASE_METHOD(
    fixture,
    "a VM that is not ours is not adopted: the container is marked lost and its policy applies") {
  auto rec = record("always");
  rec.state = state::running;
  rec.qemu_pid = 778;                      // a pid the kernel gave to another process meanwhile
  auto stray = vms->running(779, rec.id);  // a QEMU of this container nobody recorded
  vms->ours.erase(779);
  spawn(rec);
  CHECK(std::find(vms->kills.begin(), vms->kills.end(), std::make_pair(pid_t{779}, SIGKILL)) !=
        vms->kills.end());
  CHECK_FALSE(stray->alive);
  REQUIRE_FALSE(listener_heard->saves.empty());
  auto lost = listener_heard->saves.front();
  CHECK(lost.state == state::exited);
  CHECK(lost.exit_code == 137);
  CHECK(lost.reason == "its VM ended while berthd was not running");
  // always: it starts again at once.
  CHECK(vms->launches == 1);
  CHECK(current().state == state::running);
}

TEST_CASE_METHOD(
    fixture,
    "a container lost while starting is marked exited, a policy out of retries leaves it so") {
  auto rec = record("on-failure:1");
  rec.state = state::starting;
  rec.restart_count = 1;
  spawn(rec);
  auto after = current();
  CHECK(after.state == state::exited);
  CHECK(after.reason == "berthd restarted while the container was starting");
  advance(10min);
  CHECK(vms->launches == 0);
}

TEST_CASE_METHOD(fixture,
                 "a forced removal while the VM is launched ends it once it is there, then removes "
                 "the container") {
  spawn(record());
  auto started = post(start_atom_v);
  auto removed = post(remove_atom_v, true);
  run();
  REQUIRE(removed->ok());
  CHECK(listener_heard->erased);
  CHECK(vms->launches == 1);
  CHECK_FALSE(vms->last()->alive);
  CHECK(vms->last()->count("start") == 0);  // the workload never started
  REQUIRE(started->done);
  CHECK(code_of(started->error) == errc::cancelled);
  CHECK_FALSE(fs::exists(env->container_dir(record().id)));
}

TEST_CASE_METHOD(
    fixture, "a launch that fails answers start with its reason and leaves the container exited") {
  vms->launch_fails = true;
  spawn(record("always"));
  auto r = ask(start_atom_v);
  REQUIRE(r->done);
  CHECK(code_of(r->error) == errc::unavailable);
  auto rec = current();
  CHECK(rec.state == state::exited);
  CHECK_THAT(rec.reason, Catch::Contains("fake failure"));
  // A start someone asked for is answered with its error, not retried by the policy.
  advance(10min);
  CHECK(vms->launches == 1);
}

TEST_CASE_METHOD(fixture,
                 "output sent again by the guest is logged once and the next run numbers on") {
  auto rec = record("always");
  spawn(rec);
  auto vm = start();
  CHECK(rpc::unpack_as<agent::process_spec>(vm->args["start"]).output_seq == 0);
  auto out = [&](uint64_t seq, const std::string& text) {
    agent::output_chunk c{vm->process_id, 1, {text.begin(), text.end()}, seq};
    fake_backend::notify(*vm, "output", rpc::pack(c));
  };
  out(0, "ab");
  out(0, "ab");    // sent again to a new host: already logged
  out(1, "bcd");   // partly logged: only "cd" is new
  out(10, "z\n");  // after a gap the guest had to drop
  run();
  std::string text;
  std::vector<uint64_t> seqs;
  for_each_log_record(open_log_files(env->container_dir(rec.id), 2), [&](log_record&& r) {
    text.append(r.data.begin(), r.data.end());
    seqs.push_back(r.seq);
  });
  CHECK(text == "abcdz\n");
  CHECK(seqs == std::vector<uint64_t>{0, 2, 10});
  // The workload ends and the policy starts another run: its output follows the log's.
  fake_backend::exit_workload(*vm, 1);
  run();
  advance(100ms);
  REQUIRE(vms->launches == 2);
  CHECK(rpc::unpack_as<agent::process_spec>(vms->last()->args["start"]).output_seq == 12);
}

// e2e_hostile: a hostile guest costs its own VM and nothing more, with a real berthd, real VMs and
// the real agent socket. berthd runs QEMU through hostile_qemu (test/hostile_qemu.cpp), which
// puts itself between berthd and each VM's berth-init and, when the test says so, sends berthd
// what a hostile guest would: 8 MiB of nils, a wrong-typed notification, endless output. The
// offender is stopped with the reason (or, for output, bounded), berthd stays up with its memory
// bounded (the figures are printed), and a container running beside it is untouched.
#include "e2e.hpp"

#include "berth/testing/skip.hpp"

#include <nlohmann/json.hpp>

#include <stdlib.h>
#include <sys/stat.h>

#include <fstream>
#include <iostream>

using namespace berth::e2e;
using namespace std::chrono;
using berthd = berth::e2e::daemon;

namespace {

// Where the test leaves orders for hostile_qemu (one file per container id).
fs::path control_dir() {
  static fs::path dir = [] {
    char tmpl[] = "/tmp/berth-hostile-XXXXXX";
    REQUIRE(::mkdtemp(tmpl) != nullptr);
    return fs::path(tmpl);
  }();
  return dir;
}

std::string real_qemu() {
  for (auto dir : {"/usr/bin", "/usr/local/bin", "/bin"})
    if (fs::exists(fs::path(dir) / "qemu-system-x86_64"))
      return (fs::path(dir) / "qemu-system-x86_64").string();
  return {};
}

berthd& suite_daemon() {
  static bool configured = [] {
    auto script = control_dir() / "qemu";
    std::ofstream(script) << "#!/bin/sh\nexec " << BERTH_HOSTILE_QEMU << " " << real_qemu() << " "
                          << control_dir().string() << " \"$@\"\n";
    ::chmod(script.c_str(), 0755);
    // The relay must reach the real QEMU and the test's control files, which a jail would hide:
    // this suite attacks berthd's side of the agent channel, e2e_jail attacks the jail.
    berthd::set_extra_args({"--qemu", script.string(), "--jail=false"});
    return true;
  }();
  (void)configured;
  return berthd::get();
}

nlohmann::json state_of(const berthd& d, const std::string& name) {
  return nlohmann::json::parse(d.ok({"inspect", name})).at(0).at("State");
}

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

// berthd's own pid: the process whose command line is berthd with this daemon's data root.
pid_t berthd_pid(const berthd& d) {
  auto found = processes("berthd", d.data_root().string());
  return found.empty() ? -1 : found.front();
}

// Starts a container whose guest turns hostile with `order`; its id.
std::string run_offender(const berthd& d, const std::string& name) {
  return trim(d.ok({"run", "-d", "--name", name, "busybox", "sleep", "100000"}));
}

void order(const std::string& id, const std::string& what) {
  std::ofstream(control_dir() / id) << what << "\n";
}

// The bystander answers an exec (through its own agent) and still runs.
void check_bystander(const berthd& d) {
  CHECK(state_of(d, "calm").at("Status") == "running");
  auto r = d.berth({"exec", "calm", "echo", "still here"});
  CHECK(r.code == 0);
  CHECK(r.out == "still here\n");
}

}  // namespace

TEST_CASE("a hostile guest costs its own VM: berthd stays up and small, its neighbour runs on") {
  if (real_qemu().empty()) BERTH_SKIP("no qemu-system-x86_64 to put hostile_qemu in front of");
  auto& d = suite_daemon();
  if (d.berth({"inspect", "calm"}).code != 0)
    d.ok({"run", "-d", "--name", "calm", "busybox", "sleep", "100000"});
  auto pid = berthd_pid(d);
  REQUIRE(pid > 0);
  auto rss_start = rss_kib(pid);

  SECTION("8 MiB of nils ends the offender's session and VM before they are built") {
    auto id = run_offender(d, "nils");
    auto before = rss_kib(pid);
    order(id, "nils");
    REQUIRE(eventually([&] { return state_of(d, "nils").at("Status") == "exited"; }, 60s));
    auto after = rss_kib(pid);
    std::cout << "berthd RSS: " << rss_start << " KiB at the start, " << before
              << " KiB before 8 MiB of nils from a guest, " << after << " KiB after\n";
    auto st = state_of(d, "nils");
    CHECK(st.at("ExitCode") == 137);
    CHECK_THAT(st.at("Error").get<std::string>(), Catch::Contains("msgpack objects"));
    CHECK(after - before < 48 * 1024);
    CHECK(berthd_pid(d) == pid);
    check_bystander(d);
  }

  SECTION("a wrong-typed notification stops the offender with the reason") {
    auto id = run_offender(d, "liar");
    order(id, "wrong-exit");
    REQUIRE(eventually([&] { return state_of(d, "liar").at("Status") == "exited"; }, 60s));
    auto st = state_of(d, "liar");
    CHECK(st.at("ExitCode") == 137);
    CHECK_THAT(st.at("Error").get<std::string>(),
               Catch::Contains("the guest agent sent a bad exit notification"));
    CHECK(berthd_pid(d) == pid);
    check_bystander(d);
  }

  SECTION("endless output is taken at berthd's pace and its memory stays bounded") {
    auto id = run_offender(d, "noisy");
    auto before = rss_kib(pid);
    order(id, "flood 8");
    long peak = before;
    auto end = steady_clock::now() + 8s;
    while (steady_clock::now() < end) {
      CHECK(d.berth({"ps"}, 30s).code == 0);  // berthd answers meanwhile
      peak = std::max(peak, rss_kib(pid));
      std::this_thread::sleep_for(500ms);
    }
    auto after = rss_kib(pid);
    std::cout << "berthd RSS: " << before << " KiB before 8 s of endless guest output, peak "
              << peak << " KiB, " << after << " KiB after\n";
    CHECK(peak - before < 64 * 1024);
    // Output is the guest's right: it keeps its VM.
    CHECK(state_of(d, "noisy").at("Status") == "running");
    check_bystander(d);
  }
  d.berth({"rm", "-f", "nils", "liar", "noisy"});
}

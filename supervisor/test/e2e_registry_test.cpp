// End-to-end: images through a real registry, driven by the CLI as a user drives it. Each case
// starts its own docker-registry on 127.0.0.1 (plain HTTP, or TLS with htpasswd), pushes with
// berth or skopeo, and checks what `berth image pull`, `push`, `run` and `registry login` print
// and how they exit.
#include "e2e.hpp"

#include "registry_support.hpp"

#include <sys/stat.h>

#include <set>

using namespace berth::e2e;
namespace fixtures = berth::image::test;

namespace {

// The berthd of this suite reaches the registries on this process's 127.0.0.1 (so it runs
// without bridge networks), and downloads one layer at a time, so that an interrupted pull has
// fetched some layers and not others.
berth::e2e::daemon& suite_daemon() {
  static bool configured = [] {
    berth::e2e::daemon::use_host_network();
    berth::e2e::daemon::set_extra_args({"--max-concurrent-downloads", "1"});
    return true;
  }();
  (void)configured;
  return berth::e2e::daemon::get();
}

// Runs `berth -H HOST args...` with `input` on its stdin.
result berth_with_input(const berth::e2e::daemon& d, const std::vector<std::string>& args,
                        const std::string& input) {
  auto in = d.root() / "stdin";
  berth::os::write_file_atomic(in, input, 0600);
  std::string cmd = (bin_dir() / "berth").string() + " -H " + d.host();
  for (auto& a : args) cmd += " '" + a + "'";
  cmd += " < " + in.string();
  auto r = berth::os::run({"sh", "-c", cmd}, std::chrono::seconds(120));
  fs::remove(in);
  return {r.exit_code, r.output, r.errors};
}

// What a busybox container says about itself: enough to tell that two runs had the same root.
const std::vector<std::string> probe = {"sh", "-c",
                                        "ls -l /bin | wc -l; busybox | head -1; cat /etc/passwd"};

// `head` followed by `tail`.
std::vector<std::string> operator+(std::vector<std::string> head,
                                   const std::vector<std::string>& tail) {
  head.insert(head.end(), tail.begin(), tail.end());
  return head;
}

// The blobs the daemon's content store holds.
std::set<std::string> stored_blobs(const berth::e2e::daemon& d) {
  std::set<std::string> out;
  auto dir = d.data_root() / "content" / "blobs" / "sha256";
  if (!fs::exists(dir)) return out;
  for (auto& e : fs::directory_iterator(dir)) out.insert(e.path().filename().string());
  return out;
}

}  // namespace

TEST_CASE("load, push, rm, pull and run give the same container, run pulls what is missing") {
  auto& d = suite_daemon();
  fixtures::registry_server reg;
  auto ref = reg.host() + "/e2e/busybox:1";

  auto before = d.ok(std::vector<std::string>{"run", "--rm", "busybox"} + probe);
  d.ok({"image", "tag", "busybox", ref});
  auto pushed = d.berth({"image", "push", ref});
  INFO(pushed.err << d.log());
  REQUIRE(pushed.code == 0);
  CHECK_THAT(pushed.out, Catch::Contains(ref + ": digest: sha256:"));
  auto digest = pushed.out.substr(pushed.out.find("sha256:"), 71);

  // Everything gone: both names, and (nothing referencing them) every blob.
  d.ok({"image", "rm", "busybox", ref});
  CHECK(d.ok({"image", "ls", "-q"}).empty());
  CHECK(stored_blobs(d).empty());

  // On a pipe, a pull prints a plain line per status change and a summary.
  auto pulled = d.berth({"image", "pull", ref});
  INFO(pulled.err << d.log());
  REQUIRE(pulled.code == 0);
  CHECK_THAT(pulled.out, Catch::Contains("Digest: " + digest));
  CHECK_THAT(pulled.out, Catch::Contains(": downloading\n") && Catch::Contains(": done\n"));
  CHECK_THAT(pulled.out, Catch::Contains(ref + ": pulled "));
  CHECK(pulled.out.find('\033') == std::string::npos);
  CHECK(d.ok(std::vector<std::string>{"run", "--rm", ref} + probe) == before);

  // `run` pulls an image it does not have, showing progress on stderr, not in the output.
  d.ok({"image", "rm", ref});
  auto ran = d.berth({"run", "--rm", ref, "echo", "pulled by run"});
  INFO(ran.err);
  CHECK(ran.code == 0);
  CHECK(ran.out == "pulled by run\n");
  CHECK_THAT(ran.err, Catch::Contains("Unable to find image") || Catch::Contains("downloading"));
  // `--pull never` does not.
  d.ok({"image", "rm", ref});
  auto never = d.berth({"run", "--rm", "--pull", "never", ref, "true"});
  CHECK(never.code == 125);
  CHECK_THAT(never.err, Catch::Contains("No such image"));

  // The rest of this suite runs busybox. Quiet, a pull prints only the full reference (as
  // docker pull -q), which here is the reference as given.
  CHECK(d.ok({"image", "pull", "-q", ref}) == ref + "\n");
  d.ok({"image", "tag", ref, "busybox"});
}

TEST_CASE("pull errors have their own exit codes and messages") {
  auto& d = suite_daemon();
  fixtures::registry_server reg;
  auto images_before = d.ok({"image", "ls", "-q"});

  auto unknown = d.berth({"image", "pull", reg.host() + "/e2e/nothing:here"});
  CHECK(unknown.code == 2);
  CHECK_THAT(unknown.err, Catch::Contains("e2e/nothing"));

  auto bad_ref = d.berth({"image", "pull", "Upper/Case:tag"});
  CHECK(bad_ref.code == 9);
  CHECK_FALSE(bad_ref.err.empty());

  // Nothing listens on this port.
  auto closed = fixtures::free_port();
  auto unavailable = d.berth({"image", "pull", "127.0.0.1:" + std::to_string(closed) + "/x:1"});
  CHECK(unavailable.code == 8);
  CHECK_FALSE(unavailable.err.empty());

  // An index with amd64 and arm64 only.
  fixtures::temp_dir dir;
  fixtures::build_registry_fixtures(dir.path());
  reg.push(dir / "multiarch-oci", "e2e/multi:1", {"--all"});
  auto platform =
      d.berth({"image", "pull", "--platform", "linux/s390x", reg.host() + "/e2e/multi:1"});
  CHECK(platform.code == 3);
  CHECK_THAT(platform.err, Catch::Contains("linux/s390x"));
  CHECK(d.ok({"image", "ls", "-q"}) == images_before);

  auto arm = d.berth({"image", "pull", "--platform", "linux/arm64", reg.host() + "/e2e/multi:1"});
  INFO(arm.err);
  REQUIRE(arm.code == 0);
  CHECK_THAT(d.ok({"image", "inspect", reg.host() + "/e2e/multi:1"}), Catch::Contains("arm64"));
  d.ok({"image", "rm", reg.host() + "/e2e/multi:1"});
}

TEST_CASE("registry login stores a credential that pulls use, logout forgets it") {
  auto& d = suite_daemon();
  fixtures::registry_server reg{
      fixtures::registry_server::options{true, "alice", "s3cret", nullptr}};
  reg.push(d.images() / "busybox-oci", "secure/busybox:1");
  auto ref = reg.host() + "/secure/busybox:1";

  auto anonymous = d.berth({"image", "pull", ref});
  CHECK(anonymous.code == 4);
  CHECK_THAT(anonymous.err, Catch::Contains("authentication required"));

  auto wrong = berth_with_input(
      d, {"registry", "login", "-u", "alice", "--password-stdin", reg.host()}, "nope\n");
  CHECK(wrong.code != 0);
  CHECK_THAT(wrong.err, Catch::Contains("login failed"));
  auto credentials = d.data_root() / "credentials.json";
  CHECK((!fs::exists(credentials) ||
         berth::os::read_file(credentials).find(reg.host()) == std::string::npos));

  auto right =
      berth_with_input(d, {"login", "-u", "alice", "--password-stdin", reg.host()}, "s3cret\n");
  INFO(right.err);
  REQUIRE(right.code == 0);
  CHECK_THAT(right.out, Catch::Contains("Login Succeeded"));
  struct stat st {};
  REQUIRE(::stat((d.data_root() / "credentials.json").c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);

  auto pulled = d.berth({"image", "pull", "-q", ref});
  INFO(pulled.err);
  CHECK(pulled.code == 0);
  // A push with the same login.
  d.ok({"image", "tag", ref, reg.host() + "/secure/copy:2"});
  auto pushed = d.berth({"image", "push", "-q", reg.host() + "/secure/copy:2"});
  INFO(pushed.err);
  CHECK(pushed.code == 0);

  d.ok({"logout", reg.host()});
  auto after = d.berth({"image", "pull", ref});
  CHECK(after.code == 4);
  d.ok({"image", "rm", ref, reg.host() + "/secure/copy:2"});
}

TEST_CASE(
    "a pull on a terminal draws progress bars, Ctrl-C stops it and a rerun fetches only what is "
    "missing") {
  auto& d = suite_daemon();
  fixtures::registry_server reg;
  fixtures::temp_dir dir;
  fixtures::build_registry_fixtures(dir.path());
  reg.push(dir / "layered-oci", "e2e/layered:1");
  fixtures::fault_proxy proxy{reg.port()};
  proxy.delay_ms = 1500;  // every request, blobs one at a time: a pull of several seconds
  auto ref = proxy.host() + "/e2e/layered:1";
  auto blobs_before = stored_blobs(d);

  std::set<std::string> fetched;
  std::size_t requests_before_rerun = 0;
  {
    pty_session pull(d, {"image", "pull", ref});
    REQUIRE(pull.expect("downloading ["));
    REQUIRE(pull.expect(": done"));
    pull.type("\x03");
    auto code = pull.wait();
    CHECK(code != 0);
    CHECK_THAT(pull.output(), Catch::Contains("\033["));
    CHECK(pull.output().find(": pulled ") == std::string::npos);
    // Let the daemon notice the client went away and stop the pull.
    std::this_thread::sleep_for(std::chrono::milliseconds(2000));
    for (auto& b : stored_blobs(d))
      if (!blobs_before.count(b)) fetched.insert(b);
    requests_before_rerun = proxy.requests().size();
  }
  INFO(d.log());
  REQUIRE_FALSE(fetched.empty());
  CHECK(d.ok({"image", "ls"}).find("e2e/layered") == std::string::npos);
  // What the interrupted pull left in the store is whole: every blob matches its digest.
  for (auto& hex : fetched) {
    auto sum =
        berth::os::run({"sha256sum", (d.data_root() / "content/blobs/sha256" / hex).string()});
    CHECK(sum.output.substr(0, 64) == hex);
  }

  proxy.delay_ms = 0;
  auto rerun = d.berth({"image", "pull", ref});
  INFO(rerun.err);
  REQUIRE(rerun.code == 0);
  CHECK_THAT(rerun.out, Catch::Contains(": exists"));
  auto seen = proxy.requests();
  for (std::size_t i = requests_before_rerun; i < seen.size(); ++i)
    for (auto& hex : fetched) CHECK(seen[i].target.find(hex) == std::string::npos);
  // And the image is whole: the layers' whiteouts and opaque directory applied.
  CHECK(d.ok({"run", "--rm", ref, "sh", "-c", "ls /data; test ! -e /etc/motd && echo no-motd"}) ==
        "c\nno-motd\n");
  d.ok({"image", "rm", ref});
}

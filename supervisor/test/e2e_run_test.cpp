// End-to-end: `berth run` boots a real VM per container and behaves like `docker run`: output,
// exit codes, the image's config and the flags over it, and --rm leaving nothing behind.
#include "e2e.hpp"

#include <sys/utsname.h>

using namespace berth::e2e;

TEST_CASE("run prints the guest's kernel, not the host's") {
  auto& d = daemon::get();
  auto guest = d.ok({"run", "--rm", "busybox", "uname", "-r"});
  utsname host{};
  ::uname(&host);
  CHECK(guest != std::string(host.release) + "\n");
  auto info = d.ok({"system", "info"});
  guest.pop_back();
  CHECK(info.find("Kernel:            " + guest) != std::string::npos);
  CHECK(d.ok({"run", "--rm", "busybox", "uname", "-a"}).rfind("Linux ", 0) == 0);
}

TEST_CASE("run passes stdout and stderr through and exits with the container's code") {
  auto& d = daemon::get();
  auto r = d.berth({"run", "--rm", "busybox", "sh", "-c", "echo hello; echo oops >&2; exit 3"});
  CHECK(r.code == 3);
  CHECK(r.out == "hello\n");
  CHECK(r.err == "oops\n");
  auto hello = d.berth({"run", "--rm", "busybox", "echo", "hello"});
  CHECK(hello.code == 0);
  CHECK(hello.out == "hello\n");
}

TEST_CASE("a command that cannot be found exits 127, one that cannot run 126, a berth error 125") {
  auto& d = daemon::get();
  auto missing = d.berth({"run", "--rm", "busybox", "nosuchcommand"});
  CHECK(missing.code == 127);
  CHECK(missing.err.find("executable file not found") != std::string::npos);
  auto denied = d.berth({"run", "--rm", "busybox", "/etc"});
  CHECK(denied.code == 126);
  CHECK(denied.err.find("permission denied") != std::string::npos);
  // A missing image is pulled first, as docker run does; no registry answers here.
  auto no_image = d.berth({"run", "--rm", "--pull", "never", "nosuchimage", "true"});
  CHECK(no_image.code == 125);
  CHECK(no_image.err.find("No such image") != std::string::npos);
  auto bad_flag = d.berth({"run", "--nosuchflag", "busybox"});
  CHECK(bad_flag.code == 125);
  // None of the failed runs is left behind.
  CHECK(d.ok({"ps", "-a", "-q"}).empty());
}

TEST_CASE("environment, working directory and user come from the flags over the image") {
  auto& d = daemon::get();
  auto env = d.ok({"run", "--rm", "-e", "GREETING=hi there", "-e", "PATH=/bin", "--hostname", "box",
                   "busybox", "env"});
  CHECK(env.find("GREETING=hi there\n") != std::string::npos);
  CHECK(env.find("PATH=/bin\n") != std::string::npos);
  CHECK(env.find("HOSTNAME=box\n") != std::string::npos);
  CHECK(env.find("HOME=/root\n") != std::string::npos);
  CHECK(d.ok({"run", "--rm", "busybox", "pwd"}) == "/\n");
  CHECK(d.ok({"run", "--rm", "-w", "/tmp/new/dir", "busybox", "pwd"}) == "/tmp/new/dir\n");
  CHECK(d.ok({"run", "--rm", "busybox", "id", "-u"}) == "0\n");
  CHECK(d.ok({"run", "--rm", "-u", "app", "busybox", "sh", "-c", "id -u; id -g; echo $HOME"}) ==
        "1000\n1000\n/home/app\n");
  CHECK(d.ok({"run", "--rm", "-u", "1234:50", "busybox", "sh", "-c", "id -u; id -g"}) ==
        "1234\n50\n");
  auto unknown = d.berth({"run", "--rm", "-u", "nobody-here", "busybox", "true"});
  CHECK(unknown.code == 125);
  CHECK(unknown.err.find("unable to find user nobody-here") != std::string::npos);
}

TEST_CASE("the image's Entrypoint, Cmd, Env, WorkingDir and User apply as in Docker") {
  auto& d = daemon::get();
  // A variant of the busybox image whose config sets everything.
  auto script = (source_dir() / "scripts/fixtures/busybox-image.sh").string();
  auto built = berth::os::run(
      {"env", "IMAGE_NAME=docker.io/library/configured:1",
       R"cfg(IMAGE_CONFIG={"Entrypoint":["/bin/sh","-c"],"Cmd":["echo $GREETING from $(pwd) as $(id -un)"],)cfg"
       R"cfg("Env":["PATH=/bin","GREETING=hello"],"WorkingDir":"/home/app","User":"app"})cfg",
       "sh", script, d.images().string()},
      std::chrono::seconds(60));
  REQUIRE(built.exit_code == 0);
  CHECK(d.ok({"image", "load", "-i", (d.images() / "configured.tar").string()}) ==
        "Loaded image: configured:1\n");
  const std::string id = "configured:1";
  CHECK(d.ok({"run", "--rm", id}) == "hello from /home/app as app\n");
  // Arguments replace Cmd and keep Entrypoint; flags override the config.
  CHECK(d.ok({"run", "--rm", "-e", "GREETING=bye", "-w", "/tmp", "-u", "root", id,
              "echo $GREETING from $(pwd) as $(id -un)"}) == "bye from /tmp as root\n");
  // --entrypoint replaces the entrypoint and clears Cmd.
  CHECK(d.ok({"run", "--rm", "--entrypoint", "pwd", id}) == "/home/app\n");
}

TEST_CASE("run --rm leaves no container, disk, socket or VM behind") {
  auto& d = daemon::get();
  auto before = qemu_processes(d.root().string()).size();
  d.ok({"run", "--rm", "--name", "ephemeral", "busybox", "true"});
  CHECK(d.berth({"inspect", "ephemeral"}).code != 0);
  CHECK(d.ok({"ps", "-a", "-q"}).empty());
  std::error_code ec;
  CHECK((!fs::exists(d.data_root() / "containers") ||
         fs::is_empty(d.data_root() / "containers", ec)));
  CHECK((!fs::exists(d.run_root()) || fs::is_empty(d.run_root(), ec)));
  CHECK(qemu_processes(d.root().string()).size() == before);
}

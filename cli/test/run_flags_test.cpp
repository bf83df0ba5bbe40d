// Tests for the flags of run and create: each flag family lands in the container spec (or the
// client's options) as Docker reads it, and every malformed value is refused with exit code 125
// and a message naming the flag and the value.
#include "run_flags.hpp"
#include "error.hpp"

#include <catch2/catch.hpp>

#include <cstdlib>
#include <map>

using namespace berth;
using namespace berth::cli;

namespace {

// `berth run ARGS...` (or create, without -d) as the command table parses it.
run_options run(std::vector<std::string> args, bool with_detach = true) {
  return run_options_from(parse(run_flags(with_detach), args, true));
}

// The message of the cli_error that `berth run ARGS...` fails with; its code must be 125.
std::string error_of(std::vector<std::string> args) {
  try {
    run(std::move(args));
  } catch (const cli_error& e) {
    CHECK(e.code == 125);
    return e.what();
  }
  return "(no error)";
}

}  // namespace

TEST_CASE("the image and everything after it are the image and the container's command") {
  auto o = run({"--rm", "busybox", "sh", "-c", "echo --rm -e X"});
  CHECK(o.spec.image == "busybox");
  CHECK(o.spec.cmd == std::vector<std::string>{"sh", "-c", "echo --rm -e X"});
  CHECK(o.spec.env.empty());
}

TEST_CASE("nothing given leaves every field to the image and the daemon") {
  auto o = run({"busybox"});
  CHECK(o.spec.cmd.empty());
  CHECK_FALSE(o.spec.entrypoint_set);
  CHECK(o.spec.cpus == 0);
  CHECK(o.spec.memory == 0);
  CHECK(o.spec.restart.empty());
  CHECK(o.spec.stop_timeout == -1);
  CHECK(o.spec.mounts.empty());
  CHECK(o.spec.ports.empty());
  CHECK_FALSE(o.detach);
  CHECK(o.pull == "missing");
}

TEST_CASE("run flag -e sets variables in order and KEY alone takes its value from the caller") {
  ::setenv("BERTH_RUN_FLAGS_TEST", "from here", 1);
  ::unsetenv("BERTH_RUN_FLAGS_UNSET");
  auto o = run({"-e", "A=1", "-eB=2=3", "--env", "C=", "-e", "BERTH_RUN_FLAGS_TEST", "-e",
                "BERTH_RUN_FLAGS_UNSET", "busybox"});
  CHECK(o.spec.env ==
        std::vector<std::string>{"A=1", "B=2=3", "C=", "BERTH_RUN_FLAGS_TEST=from here"});
}

TEST_CASE("run flag -e without a name is refused") {
  CHECK(error_of({"-e", "=x", "busybox"}) == "invalid environment variable: =x");
}

TEST_CASE("run flag -v names a volume, or a host directory when the source is absolute") {
  auto o = run({"-v", "data:/data", "-v", "/srv/www:/www:ro", "-v", "logs:/logs:rw", "busybox"});
  REQUIRE(o.spec.mounts.size() == 3);
  CHECK(o.spec.mounts[0].type == "volume");
  CHECK(o.spec.mounts[0].source == "data");
  CHECK(o.spec.mounts[0].target == "/data");
  CHECK_FALSE(o.spec.mounts[0].readonly);
  CHECK(o.spec.mounts[1].type == "bind");
  CHECK(o.spec.mounts[1].source == "/srv/www");
  CHECK(o.spec.mounts[1].readonly);
  CHECK_FALSE(o.spec.mounts[2].readonly);
}

TEST_CASE("run flag -v without a destination or with a bad mode is refused") {
  CHECK(error_of({"-v", "/data", "busybox"}) ==
        "invalid volume \"/data\": anonymous volumes need SRC:DST");
  CHECK(error_of({"-v", "a:/b:ro:x", "busybox"}) ==
        "invalid volume \"a:/b:ro:x\": use SRC:DST[:ro]");
  CHECK(error_of({"-v", "a:/b:rx", "busybox"}) == "invalid volume mode \"rx\" (ro or rw)");
}

TEST_CASE("run flag --mount reads Docker's fields and their aliases") {
  auto o =
      run({"--mount", "type=bind,src=/srv,dst=/srv,readonly", "--mount", "source=data,target=/data",
           "--mount", "type=tmpfs,destination=/scratch,tmpfs-size=64m,tmpfs-mode=1777", "busybox"});
  REQUIRE(o.spec.mounts.size() == 3);
  CHECK(o.spec.mounts[0].type == "bind");
  CHECK(o.spec.mounts[0].source == "/srv");
  CHECK(o.spec.mounts[0].readonly);
  CHECK(o.spec.mounts[1].type == "volume");
  CHECK(o.spec.mounts[1].target == "/data");
  CHECK(o.spec.mounts[2].type == "tmpfs");
  CHECK(o.spec.mounts[2].target == "/scratch");
  CHECK(o.spec.mounts[2].options == "size=64m,mode=1777");
}

TEST_CASE("run flag --mount with an unknown field is refused") {
  CHECK(error_of({"--mount", "type=bind,src=/a,dst=/b,colour=red", "busybox"}) ==
        "unknown --mount field: colour");
}

TEST_CASE("run flag -v, --mount and --tmpfs keep their order within each flag") {
  auto o = run({"--tmpfs", "/run:size=1m", "-v", "a:/a", "--tmpfs", "/tmp", "busybox"});
  REQUIRE(o.spec.mounts.size() == 3);
  CHECK(o.spec.mounts[0].target == "/a");
  CHECK(o.spec.mounts[1].type == "tmpfs");
  CHECK(o.spec.mounts[1].target == "/run");
  CHECK(o.spec.mounts[1].options == "size=1m");
  CHECK(o.spec.mounts[2].target == "/tmp");
  CHECK(o.spec.mounts[2].options.empty());
}

TEST_CASE("run flag -p publishes a port, a range, a host address and udp") {
  auto o = run({"-p", "8080:80", "-p", "127.0.0.1:5353:53/udp", "-p", "9000-9001:7000-7001", "-p",
                "443", "busybox"});
  REQUIRE(o.spec.ports.size() == 5);
  CHECK(o.spec.ports[0].host_port == 8080);
  CHECK(o.spec.ports[0].container_port == 80);
  CHECK(o.spec.ports[0].protocol == "tcp");
  CHECK(o.spec.ports[0].host_ip.empty());
  CHECK(o.spec.ports[1].host_ip == "127.0.0.1");
  CHECK(o.spec.ports[1].protocol == "udp");
  CHECK(o.spec.ports[2].host_port == 9000);
  CHECK(o.spec.ports[3].host_port == 9001);
  CHECK(o.spec.ports[3].container_port == 7001);
  CHECK(o.spec.ports[4].host_port == 0);  // a free port
  CHECK(o.spec.ports[4].container_port == 443);
}

TEST_CASE("run flag -p with a host range for one container port takes the first host port") {
  auto o = run({"-p", "8000-8010:80", "busybox"});
  REQUIRE(o.spec.ports.size() == 1);
  CHECK(o.spec.ports[0].host_port == 8000);
}

TEST_CASE("run flag -p refuses bad ports, protocols, uneven ranges and IPv6 hosts") {
  CHECK(error_of({"-p", "80/sctp", "busybox"}) ==
        "invalid protocol \"sctp\" in -p 80/sctp (tcp or udp)");
  CHECK(error_of({"-p", "70000:80", "busybox"}) == "invalid port \"70000\" in -p 70000:80");
  CHECK(error_of({"-p", "0", "busybox"}) == "invalid port \"0\" in -p 0");
  CHECK(error_of({"-p", "http", "busybox"}) == "invalid port \"http\" in -p http");
  CHECK(error_of({"-p", "90-80", "busybox"}) == "invalid port \"90-80\" in -p 90-80");
  CHECK(error_of({"-p", "1-3:1-2", "busybox"}) ==
        "host and container port ranges differ in length: -p 1-3:1-2");
  CHECK(error_of({"-p", "[::1]:80:80", "busybox"}) ==
        "IPv6 host addresses are not supported: -p [::1]:80:80");
}

TEST_CASE("run flag -P publishes every exposed port") {
  CHECK(run({"-P", "busybox"}).spec.publish_all);
}

TEST_CASE("run flag --restart takes Docker's policies and is stored as given") {
  for (auto policy : {"no", "always", "unless-stopped", "on-failure", "on-failure:3"})
    CHECK(run({"--restart", policy, "busybox"}).spec.restart == policy);
}

TEST_CASE("run flag --restart refuses an unknown policy or a bad retry count") {
  for (std::string policy :
       {"sometimes", "on-failure:", "on-failure:x", "on-failure:-1", "always:3"})
    CHECK(error_of({"--restart", policy, "busybox"}) ==
          "invalid restart policy \"" + policy +
              "\": use no, always, unless-stopped or on-failure[:N]");
}

TEST_CASE("run flag --rm with a restart policy other than no is a conflict") {
  CHECK(error_of({"--rm", "--restart", "always", "busybox"}) ==
        "conflicting options: --restart and --rm");
  CHECK(run({"--rm", "--restart", "no", "busybox"}).spec.auto_remove);
}

TEST_CASE("run flag --memory and -m read sizes with binary units") {
  CHECK(run({"--memory", "512m", "busybox"}).spec.memory == 512ll << 20);
  CHECK(run({"-m", "1g", "busybox"}).spec.memory == 1ll << 30);
  CHECK(run({"-m2048", "busybox"}).spec.memory == 2048);
}

TEST_CASE("run flag --memory refuses what is not a size") {
  CHECK(error_of({"-m", "lots", "busybox"}) == "invalid --memory value: lots");
  CHECK(error_of({"-m", "512x", "busybox"}) == "invalid --memory value: 512x");
  CHECK(error_of({"-m", "-1m", "busybox"}) == "invalid --memory value: -1m");
}

TEST_CASE("run flag --cpus takes a positive number, fractions too") {
  CHECK(run({"--cpus", "2", "busybox"}).spec.cpus == 2.0);
  CHECK(run({"--cpus=1.5", "busybox"}).spec.cpus == 1.5);
}

TEST_CASE("run flag --cpus refuses zero, negatives and what is not wholly a number") {
  CHECK(error_of({"--cpus", "0", "busybox"}) == "--cpus must be positive");
  CHECK(error_of({"--cpus", "-1", "busybox"}) == "--cpus must be positive");
  CHECK(error_of({"--cpus", "two", "busybox"}) == "invalid --cpus value: two");
  CHECK(error_of({"--cpus", "1.5x", "busybox"}) == "invalid --cpus value: 1.5x");
  CHECK(error_of({"--cpus", "nan", "busybox"}) == "invalid --cpus value: nan");
}

TEST_CASE("the health flags make the container's check") {
  auto o =
      run({"--health-cmd", "true", "--health-interval", "2s", "--health-retries", "4", "busybox"});
  CHECK(o.spec.healthcheck.test == std::vector<std::string>{"CMD-SHELL", "true"});
  CHECK(o.spec.healthcheck.interval == 2'000'000'000);
  CHECK(o.spec.healthcheck.retries == 4);
  CHECK(run({"--no-healthcheck", "busybox"}).spec.healthcheck.test ==
        std::vector<std::string>{"NONE"});
}

TEST_CASE("a bad health flag is an error of run with exit code 125") {
  auto message = error_of({"--health-interval", "soon", "busybox"});
  CHECK(message.find("--health-interval") != std::string::npos);
  CHECK(message.find("soon") != std::string::npos);
  CHECK(error_of({"--no-healthcheck", "--health-cmd", "true", "busybox"}) != "(no error)");
}

TEST_CASE(
    "run flag --network, --ip, --network-alias and --dns name the container's place on a network") {
  auto o = run({"--network", "backend", "--ip", "10.90.5.7", "--network-alias", "db",
                "--network-alias", "store", "--dns", "1.1.1.1", "--dns", "9.9.9.9", "busybox"});
  CHECK(o.spec.network == "backend");
  CHECK(o.spec.ip == "10.90.5.7");
  CHECK(o.spec.network_aliases == std::vector<std::string>{"db", "store"});
  CHECK(o.spec.dns == std::vector<std::string>{"1.1.1.1", "9.9.9.9"});
  CHECK(run({"--network=none", "busybox"}).spec.network == "none");
}

TEST_CASE("run flag --entrypoint replaces the image's, and an empty one is still given") {
  auto o = run({"--entrypoint", "/bin/echo", "busybox", "hi"});
  CHECK(o.spec.entrypoint_set);
  CHECK(o.spec.entrypoint == std::vector<std::string>{"/bin/echo"});
  CHECK(o.spec.cmd == std::vector<std::string>{"hi"});
  auto empty = run({"--entrypoint", "", "busybox"});
  CHECK(empty.spec.entrypoint_set);
  CHECK(empty.spec.entrypoint == std::vector<std::string>{""});
}

TEST_CASE("run flag -it gives the container a terminal and keeps its stdin open") {
  auto o = run({"-it", "busybox", "sh"});
  CHECK(o.spec.tty);
  CHECK(o.spec.open_stdin);
  auto t = run({"-t", "busybox"});
  CHECK(t.spec.tty);
  CHECK_FALSE(t.spec.open_stdin);
  auto i = run({"--interactive", "busybox"});
  CHECK_FALSE(i.spec.tty);
  CHECK(i.spec.open_stdin);
}

TEST_CASE("run flag --rm with -d removes a detached container when it exits") {
  auto o = run({"--rm", "-d", "busybox", "sleep", "1"});
  CHECK(o.spec.auto_remove);
  CHECK(o.detach);
}

TEST_CASE("create has no -d") {
  CHECK_THROWS_AS(run({"-d", "busybox"}, false), usage_error);
  CHECK_FALSE(run({"busybox"}, false).detach);
}

TEST_CASE("the scalar flags are copied as given") {
  auto o = run({"--name", "web", "-w", "/srv", "-u", "app:staff", "-h", "box", "--init",
                "--read-only", "--stop-signal", "SIGQUIT", "--stop-timeout", "30", "busybox"});
  CHECK(o.spec.name == "web");
  CHECK(o.spec.workdir == "/srv");
  CHECK(o.spec.user == "app:staff");
  CHECK(o.spec.hostname == "box");
  CHECK(o.spec.init);
  CHECK(o.spec.read_only);
  CHECK(o.spec.stop_signal == "SIGQUIT");
  CHECK(o.spec.stop_timeout == 30);
}

TEST_CASE(
    "run flag --label and -l set labels, KEY alone with an empty value, the last of a key "
    "winning") {
  auto o = run({"--label", "tier=web", "-l", "team", "-l", "url=http://x/?a=b", "--label=tier=db",
                "busybox"});
  CHECK(o.spec.labels ==
        std::map<std::string, std::string>{{"team", ""}, {"tier", "db"}, {"url", "http://x/?a=b"}});
  CHECK(run({"busybox"}).spec.labels.empty());
}

TEST_CASE("run flag --label without a name is refused") {
  CHECK(error_of({"--label", "=web", "busybox"}) == "invalid label '=web': empty name");
  CHECK(error_of({"-l", "", "busybox"}) == "invalid label '': empty name");
}

TEST_CASE("run flag --stop-timeout refuses what is not a whole number of seconds") {
  CHECK(error_of({"--stop-timeout", "10s", "busybox"}) == "invalid --stop-timeout value: 10s");
  CHECK(error_of({"--stop-timeout", "-5", "busybox"}) == "invalid --stop-timeout value: -5");
  CHECK(run({"--stop-timeout", "-1", "busybox"}).spec.stop_timeout == -1);
}

TEST_CASE("run flag --pull and --platform are the client's, and --pull takes three values") {
  auto o = run({"--pull", "always", "--platform", "linux/arm64", "busybox"});
  CHECK(o.pull == "always");
  CHECK(o.platform == "linux/arm64");
  CHECK(run({"--pull=never", "busybox"}).pull == "never");
  CHECK(error_of({"--pull", "sometimes", "busybox"}) ==
        "invalid --pull value \"sometimes\" (missing, always or never)");
}

TEST_CASE("run flag --log-opt sets max-size and max-file the way Docker spells them") {
  auto o = run({"--log-opt", "max-size=10m", "--log-opt=max-file=3", "busybox"});
  CHECK(o.spec.log_opts ==
        std::map<std::string, std::string>{{"max-file", "3"}, {"max-size", "10m"}});
  CHECK(run({"busybox"}).spec.log_opts.empty());
  CHECK(run({"--log-opt", "max-size=1k", "--log-opt", "max-size=2k", "busybox"})
            .spec.log_opts.at("max-size") == "2k");
}

TEST_CASE("run flag --log-opt refuses bad sizes, counts and unknown options before asking") {
  CHECK(error_of({"--log-opt", "max-size=10q", "busybox"}) ==
        "invalid --log-opt max-size=10q: use a number with an optional unit k, m or g (10m)");
  CHECK(error_of({"--log-opt", "max-size=0", "busybox"}) ==
        "invalid --log-opt max-size=0: it must be from 1k to 1000g");
  CHECK(error_of({"--log-opt", "max-file=0", "busybox"}) ==
        "invalid --log-opt max-file=0: it must be a number from 1 to 100");
  CHECK(error_of({"--log-opt", "compress=true", "busybox"}) ==
        "unknown log option \"compress\": berth's log takes max-size and max-file");
  CHECK(error_of({"--log-opt", "max-size", "busybox"}) ==
        "invalid --log-opt 'max-size': use KEY=VALUE (max-size=10m, max-file=3)");
}

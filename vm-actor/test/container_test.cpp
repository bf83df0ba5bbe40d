// Tests for how a container's main process follows Docker's rules for image config and flags.
#include "berth/vm/container.hpp"

#include <catch2/catch.hpp>

using namespace berth;
using namespace berth::vm;

namespace {

image_runtime busybox() {
  image_runtime img;
  img.cmd = {"sh"};
  img.env = {"PATH=/bin:/usr/bin", "LANG=C"};
  return img;
}

const std::string id = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

}  // namespace

TEST_CASE("arguments after the image replace its Cmd and keep its Entrypoint") {
  auto img = busybox();
  img.entrypoint = {"/bin/tini", "--"};
  api::container_spec spec;
  spec.cmd = {"echo", "hi"};
  auto p = resolve_process(img, spec, id);
  REQUIRE(p);
  CHECK(p->args == std::vector<std::string>{"/bin/tini", "--", "echo", "hi"});
}

TEST_CASE("without arguments the image's Entrypoint and Cmd run") {
  auto img = busybox();
  img.entrypoint = {"/entry"};
  auto p = resolve_process(img, {}, id);
  REQUIRE(p);
  CHECK(p->args == std::vector<std::string>{"/entry", "sh"});
}

TEST_CASE("an --entrypoint flag replaces the Entrypoint and clears the image's Cmd") {
  auto img = busybox();
  img.entrypoint = {"/entry"};
  api::container_spec spec;
  spec.entrypoint = {"/bin/date"};
  spec.entrypoint_set = true;
  auto p = resolve_process(img, spec, id);
  REQUIRE(p);
  CHECK(p->args == std::vector<std::string>{"/bin/date"});
  spec.cmd = {"-u"};
  CHECK(resolve_process(img, spec, id)->args == std::vector<std::string>{"/bin/date", "-u"});
}

TEST_CASE("an empty --entrypoint with no command leaves nothing to run: invalid_argument") {
  auto img = busybox();
  api::container_spec spec;
  spec.entrypoint = {""};
  spec.entrypoint_set = true;
  auto p = resolve_process(img, spec, id);
  REQUIRE_FALSE(p);
  CHECK(code_of(p.error()) == errc::invalid_argument);
}

TEST_CASE("run -e overrides the image's Env by key, and KEY without a value is dropped") {
  api::container_spec spec;
  spec.env = {"LANG=de_DE.UTF-8", "FOO=bar", "UNSET"};
  auto p = resolve_process(busybox(), spec, id);
  REQUIRE(p);
  CHECK(p->env == std::vector<std::string>{"PATH=/bin:/usr/bin", "LANG=de_DE.UTF-8", "FOO=bar",
                                           "HOSTNAME=0123456789ab"});
}

TEST_CASE("PATH and HOSTNAME get defaults when neither image nor flags set them") {
  image_runtime img;
  img.cmd = {"true"};
  api::container_spec spec;
  spec.hostname = "web";
  auto p = resolve_process(img, spec, id);
  REQUIRE(p);
  CHECK(p->env.front() == std::string("PATH=") + default_path);
  CHECK(p->env.back() == "HOSTNAME=web");
  CHECK(p->hostname == "web");
}

TEST_CASE("workdir and user come from flags over the image, and workdir must be absolute") {
  auto img = busybox();
  img.workdir = "/srv";
  img.user = "app";
  auto p = resolve_process(img, {}, id);
  REQUIRE(p);
  CHECK(p->cwd == "/srv");
  CHECK(p->user == "app");
  api::container_spec spec;
  spec.workdir = "/tmp";
  spec.user = "0:0";
  p = resolve_process(img, spec, id);
  CHECK(p->cwd == "/tmp");
  CHECK(p->user == "0:0");
  spec.workdir = "relative";
  CHECK(code_of(resolve_process(img, spec, id).error()) == errc::invalid_argument);
}

TEST_CASE("an environment entry without a name is invalid") {
  api::container_spec spec;
  spec.env = {"=value"};
  CHECK(code_of(resolve_process(busybox(), spec, id).error()) == errc::invalid_argument);
}

TEST_CASE("container names follow Docker's pattern") {
  CHECK(valid_name("web"));
  CHECK(valid_name("a.b_c-1"));
  CHECK_FALSE(valid_name(""));
  CHECK_FALSE(valid_name("-web"));
  CHECK_FALSE(valid_name("we b"));
  CHECK_FALSE(valid_name("x/y"));
  CHECK_FALSE(valid_name(std::string(129, 'a')));
  CHECK(valid_name(random_name()));
}

// Tests for the CLI's flag parser: Docker's spellings all work and the container's own flags
// after the image are left alone.
#include "args.hpp"

#include <catch2/catch.hpp>

using namespace berth::cli;

namespace {

const std::vector<flag> flags = {
    {"env", 'e', true, "", ""},     {"rm", 0, false, "", ""},
    {"detach", 'd', false, "", ""}, {"interactive", 'i', false, "", ""},
    {"tty", 't', false, "", ""},    {"name", 0, true, "", ""}};

}  // namespace

TEST_CASE("values attach to short and long flags in every Docker spelling") {
  auto p = parse(flags, {"-e", "A=1", "-eB=2", "--env", "C=3", "--env=D=4", "img"}, true);
  CHECK(p.all("env") == std::vector<std::string>{"A=1", "B=2", "C=3", "D=4"});
  CHECK(p.positionals == std::vector<std::string>{"img"});
}

TEST_CASE("bundled short flags are split") {
  auto p = parse(flags, {"-dit", "img"}, true);
  CHECK(p.has("detach"));
  CHECK(p.has("interactive"));
  CHECK(p.has("tty"));
}

TEST_CASE("everything after the image belongs to the container") {
  auto p = parse(flags, {"--rm", "busybox", "sh", "-c", "echo -e x", "--rm"}, true);
  CHECK(p.has("rm"));
  CHECK(p.positionals == std::vector<std::string>{"busybox", "sh", "-c", "echo -e x", "--rm"});
}

TEST_CASE("a double dash ends the flags") {
  auto p = parse(flags, {"--", "-d"}, false);
  CHECK_FALSE(p.has("detach"));
  CHECK(p.positionals == std::vector<std::string>{"-d"});
}

TEST_CASE("unknown flags and missing values are usage errors") {
  CHECK_THROWS_AS(parse(flags, {"--nope"}, true), usage_error);
  CHECK_THROWS_AS(parse(flags, {"-x"}, true), usage_error);
  CHECK_THROWS_AS(parse(flags, {"--name"}, true), usage_error);
  CHECK_THROWS_AS(parse(flags, {"-e"}, true), usage_error);
  CHECK_THROWS_AS(parse(flags, {"--rm=maybe"}, true), usage_error);
}

TEST_CASE("the last value of a flag wins for get") {
  auto p = parse(flags, {"--name", "a", "--name", "b"}, false);
  CHECK(p.get("name") == "b");
  CHECK(p.get("missing", "x") == "x");
}

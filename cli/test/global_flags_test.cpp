// Tests for the flags before the command and for which daemon berth talks to.
#include "global_flags.hpp"

#include <catch2/catch.hpp>

using namespace berth::cli;
using action = global_options::action;

TEST_CASE("without -H or BERTH_HOST berth talks to the default socket") {
  auto g = parse_global_flags({"ps"}, nullptr);
  CHECK(g.what == action::run);
  CHECK(g.host == default_host);
  CHECK(g.command == 0);
}

TEST_CASE("an empty BERTH_HOST counts as unset") {
  CHECK(parse_global_flags({"ps"}, "").host == default_host);
}

TEST_CASE("BERTH_HOST names the daemon and -H overrides it") {
  CHECK(parse_global_flags({"ps"}, "unix:///tmp/b.sock").host == "unix:///tmp/b.sock");
  auto g = parse_global_flags({"-H", "unix:///tmp/h.sock", "ps", "-a"}, "unix:///tmp/b.sock");
  CHECK(g.host == "unix:///tmp/h.sock");
  CHECK(g.command == 2);
  CHECK(parse_global_flags({"--host=unix:///x", "ps"}, "").host == "unix:///x");
}

TEST_CASE("the version and help flags end the parse") {
  CHECK(parse_global_flags({"-v"}, nullptr).what == action::version);
  CHECK(parse_global_flags({"--version", "ps"}, nullptr).what == action::version);
  CHECK(parse_global_flags({"-h"}, nullptr).what == action::help);
  CHECK(parse_global_flags({"--help"}, nullptr).what == action::help);
}

TEST_CASE("no command asks for the usage") {
  CHECK(parse_global_flags({}, nullptr).what == action::usage);
  CHECK(parse_global_flags({"-H", "unix:///x"}, nullptr).what == action::usage);
}

TEST_CASE("a bad global flag is an error with Docker's message") {
  auto missing = parse_global_flags({"-H"}, nullptr);
  CHECK(missing.what == action::error);
  CHECK(missing.error == "flag needs an argument: -H");
  auto unknown = parse_global_flags({"--colour", "ps"}, nullptr);
  CHECK(unknown.what == action::error);
  CHECK(unknown.error == "unknown flag: --colour\nSee 'berth --help'.");
}

TEST_CASE("flags after the command are the command's") {
  auto g = parse_global_flags({"run", "-v", "a:/a", "busybox"}, nullptr);
  CHECK(g.what == action::run);
  CHECK(g.command == 0);
}

// Tests for signal names: what kill -s, stop -s and --stop-signal accept.
#include "berth/os/signal.hpp"

#include <catch2/catch.hpp>

#include <csignal>

using namespace berth;

TEST_CASE("signals parse by name, short name and number") {
  CHECK(os::parse_signal("SIGTERM") == SIGTERM);
  CHECK(os::parse_signal("KILL") == SIGKILL);
  CHECK(os::parse_signal("2") == SIGINT);
  CHECK(os::parse_signal("SIGNOPE") == 0);
  CHECK(os::parse_signal("999") == 0);
  CHECK(os::parse_signal("") == 0);
}

// Tests for how the CLI prints sizes, durations and statuses, and reads --memory.
#include "format.hpp"

#include <catch2/catch.hpp>

using namespace berth::cli;

TEST_CASE("durations read like Docker's") {
  CHECK(human_duration(0) == "Less than a second");
  CHECK(human_duration(1) == "1 second");
  CHECK(human_duration(42) == "42 seconds");
  CHECK(human_duration(90) == "About a minute");
  CHECK(human_duration(600) == "10 minutes");
  CHECK(human_duration(3600) == "About an hour");
  CHECK(human_duration(5 * 3600) == "5 hours");
  CHECK(human_duration(3 * 86400) == "3 days");
}

TEST_CASE("sizes are decimal with three significant digits") {
  CHECK(human_size(12) == "12B");
  CHECK(human_size(4200000) == "4.2MB");
  CHECK(human_size(917000) == "917kB");
}

TEST_CASE("memory sizes take binary units") {
  CHECK(parse_memory("512m") == 512ll << 20);
  CHECK(parse_memory("1g") == 1ll << 30);
  CHECK(parse_memory("1.5G") == (3ll << 30) / 2);
  CHECK(parse_memory("2048") == 2048);
  CHECK(parse_memory("64mb") == 64ll << 20);
  CHECK_THROWS(parse_memory("lots"));
  CHECK_THROWS(parse_memory("5x"));
  CHECK_THROWS(parse_memory(""));
}

TEST_CASE("status text follows the container state") {
  const int64_t s = 1000000000;
  CHECK(status_text("running", 0, 0, 0, 5 * s) == "Up 5 seconds");
  CHECK(status_text("exited", 3, 0, 10 * s, 70 * s) == "Exited (3) About a minute ago");
  CHECK(status_text("created", 0, 0, 0, 0) == "Created");
}

TEST_CASE("timestamps are RFC 3339 in UTC with nanoseconds") {
  CHECK(rfc3339(1795776862123456789) == "2026-11-27T10:54:22.123456789Z");
}

TEST_CASE("long commands are quoted and cut") {
  CHECK(command_text({"echo", "hi"}, 30) == "\"echo hi\"");
  CHECK(command_text({"sh", "-c", "a very long command line indeed"}, 16).size() <= 20);
}

TEST_CASE("durations parse like Go's time.ParseDuration, as Docker's flags do") {
  CHECK(parse_duration("30s") == 30'000'000'000);
  CHECK(parse_duration("1m30s") == 90'000'000'000);
  CHECK(parse_duration("1.5h") == 5'400'000'000'000);
  CHECK(parse_duration("250ms") == 250'000'000);
  CHECK(parse_duration("10us") == 10'000);
  CHECK(parse_duration("10\u00b5s") == 10'000);
  CHECK(parse_duration("7ns") == 7);
  CHECK(parse_duration(".5s") == 500'000'000);
  CHECK(parse_duration("0") == 0);
  CHECK(parse_duration("-2s") == -2'000'000'000);
  CHECK(parse_duration("+1m") == 60'000'000'000);
  CHECK_THROWS(parse_duration(""));
  CHECK_THROWS(parse_duration("30"));  // a number needs a unit, except 0
  CHECK_THROWS(parse_duration("1d"));  // no days in Go
  CHECK_THROWS(parse_duration("s"));
  CHECK_THROWS(parse_duration("."));
  CHECK_THROWS(parse_duration("1s2"));
  CHECK_THROWS(parse_duration("99999999999h"));  // beyond int64 nanoseconds
}

TEST_CASE("a running container's status carries its health as docker ps shows it") {
  const int64_t s = 1000000000;
  CHECK(status_text("running", 0, 0, 0, 120 * s, "healthy") == "Up 2 minutes (healthy)");
  CHECK(status_text("running", 0, 0, 0, 5 * s, "unhealthy") == "Up 5 seconds (unhealthy)");
  CHECK(status_text("running", 0, 0, 0, 5 * s, "starting") == "Up 5 seconds (health: starting)");
  CHECK(status_text("running", 0, 0, 0, 5 * s, "") == "Up 5 seconds");
  CHECK(status_text("exited", 0, 0, 0, 5 * s, "healthy") == "Exited (0) 5 seconds ago");
}

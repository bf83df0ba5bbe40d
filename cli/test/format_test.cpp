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

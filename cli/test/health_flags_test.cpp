// Tests for the health flags of run and create: Docker's durations, defaults and conflicts.
#include "health_flags.hpp"

#include <catch2/catch.hpp>

using namespace berth;
using namespace berth::cli;

namespace {

api::healthcheck read(std::vector<std::string> args) {
  args.push_back("busybox");
  return healthcheck_from(parse(health_flags(), args, true));
}

}  // namespace

TEST_CASE("no health flag leaves every field to the image") {
  auto h = read({});
  CHECK(h.test.empty());
  CHECK(h.interval == 0);
  CHECK(h.timeout == 0);
  CHECK(h.start_period == 0);
  CHECK(h.retries == 0);
}

TEST_CASE("the health flags fill a CMD-SHELL check with their durations") {
  auto h =
      read({"--health-cmd", "test -f /tmp/ok", "--health-interval", "1s", "--health-timeout=1m30s",
            "--health-start-period", "250ms", "--health-retries", "2"});
  CHECK(h.test == std::vector<std::string>{"CMD-SHELL", "test -f /tmp/ok"});
  CHECK(h.interval == 1'000'000'000);
  CHECK(h.timeout == 90'000'000'000);
  CHECK(h.start_period == 250'000'000);
  CHECK(h.retries == 2);
  // A flag alone overrides only its field (the image's test stays).
  auto only = read({"--health-interval", "5s"});
  CHECK(only.test.empty());
  CHECK(only.interval == 5'000'000'000);
}

TEST_CASE("no-healthcheck is test NONE and conflicts with the other health flags") {
  CHECK(read({"--no-healthcheck"}).test == std::vector<std::string>{"NONE"});
  CHECK_THROWS_AS(read({"--no-healthcheck", "--health-cmd", "true"}), usage_error);
  CHECK_THROWS_AS(read({"--no-healthcheck", "--health-retries", "1"}), usage_error);
}

TEST_CASE("malformed or negative health values are usage errors") {
  for (auto args :
       std::vector<std::vector<std::string>>{{"--health-interval", "30"},  // no unit
                                             {"--health-interval", "soon"},
                                             {"--health-timeout", "1x"},
                                             {"--health-timeout", ""},
                                             {"--health-start-period", "-1s"},  // negative
                                             {"--health-interval", "-5ms"},
                                             {"--health-retries", "three"},
                                             {"--health-retries", "-1"},
                                             {"--health-retries", "2.5"},
                                             {"--health-retries", "99999999999"}}) {
    INFO(args[0] << " " << args[1]);
    CHECK_THROWS_AS(read(args), usage_error);
  }
}

// Tests for the restart policy parser the CLI and berthd share: Docker's four policies, and
// nothing else.
#include "berth/rpc/api/restart_policy.hpp"

#include <catch2/catch.hpp>

using namespace berth::api;

TEST_CASE("the restart policy parser reads the stored forms berthd writes") {
  CHECK(parse_restart_policy("")->name == "no");
  CHECK(parse_restart_policy("no")->name == "no");
  CHECK(parse_restart_policy("always")->name == "always");
  CHECK(parse_restart_policy("unless-stopped")->name == "unless-stopped");
  auto p = parse_restart_policy("on-failure:5");
  REQUIRE(p);
  CHECK(p->name == "on-failure");
  CHECK(p->max_retries == 5);
  CHECK(parse_restart_policy("on-failure")->max_retries == 0);
  CHECK(parse_restart_policy("on-failure:99999999")->max_retries == 99999999);
}

TEST_CASE("the restart policy parser refuses other names, bad counts and trailing text") {
  for (auto text : {"never", "Always", "always:3", "on-failure:", "on-failure:x", "on-failure:-1",
                    "on-failure:5:6", "on-failure:123456789", "on-failurex", " no"})
    CHECK_FALSE(parse_restart_policy(text));
  CHECK(invalid_restart_policy("never") ==
        "invalid restart policy \"never\": use no, always, unless-stopped or on-failure[:N]");
}

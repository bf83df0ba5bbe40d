// Tests for the Docker-shaped JSON of inspect: the shapes tools parsing Docker's output expect.
#include "inspect_json.hpp"

#include <catch2/catch.hpp>

using namespace berth;
using namespace berth::cli;
using json = nlohmann::json;

TEST_CASE("RestartPolicy is an object with a name and a maximum retry count") {
  CHECK(restart_policy_json("on-failure:3") ==
        json({{"Name", "on-failure"}, {"MaximumRetryCount", 3}}));
  CHECK(restart_policy_json("on-failure") ==
        json({{"Name", "on-failure"}, {"MaximumRetryCount", 0}}));
  CHECK(restart_policy_json("always") == json({{"Name", "always"}, {"MaximumRetryCount", 0}}));
  CHECK(restart_policy_json("unless-stopped") ==
        json({{"Name", "unless-stopped"}, {"MaximumRetryCount", 0}}));
  CHECK(restart_policy_json("no") == json({{"Name", "no"}, {"MaximumRetryCount", 0}}));
  CHECK(restart_policy_json("") == json({{"Name", "no"}, {"MaximumRetryCount", 0}}));
}

TEST_CASE("a container's HostConfig carries its restart policy as Docker's object") {
  api::container_info c;
  c.id = "abc";
  c.restart = "on-failure:5";
  auto j = container_json(c);
  CHECK(j["HostConfig"]["RestartPolicy"]["Name"] == "on-failure");
  CHECK(j["HostConfig"]["RestartPolicy"]["MaximumRetryCount"] == 5);
}

TEST_CASE("a container's HostConfig carries its log rotation, defaults filled in") {
  api::container_info c;
  c.id = "abc";
  c.log_config = {10'000'000, 3};
  auto j = container_json(c);
  CHECK(j["HostConfig"]["LogConfig"] ==
        json({{"Type", "berth"}, {"Config", {{"max-size", "10m"}, {"max-file", "3"}}}}));
  c.log_config = {};
  CHECK(container_json(c)["HostConfig"]["LogConfig"]["Config"] ==
        json({{"max-size", "20m"}, {"max-file", "2"}}));
}

TEST_CASE("a container's JSON has Docker's sections and states") {
  api::container_info c;
  c.id = "abc";
  c.name = "web";
  c.state = "running";
  c.cpus = 2;
  api::endpoint e;
  e.network = "default";
  e.ip = "10.88.0.2";
  e.prefix_len = 16;
  c.networks = {e};
  c.ports = {api::port_mapping{"", 8080, 80, "tcp"}};
  auto j = container_json(c);
  CHECK(j["State"]["Running"] == true);
  CHECK(j["HostConfig"]["NanoCpus"] == 2'000'000'000);
  CHECK(j["NetworkSettings"]["IPAddress"] == "10.88.0.2");
  CHECK(j["NetworkSettings"]["Ports"]["80/tcp"][0]["HostIp"] == "0.0.0.0");
  CHECK(j["NetworkSettings"]["Ports"]["80/tcp"][0]["HostPort"] == "8080");
  CHECK_FALSE(j["Config"].contains("Healthcheck"));
  CHECK_FALSE(j["State"].contains("Health"));
}

TEST_CASE("a health log with bytes that are not UTF-8 still makes valid JSON") {
  api::container_info c;
  c.health.status = "unhealthy";
  c.health.log = {api::health_result{1, 2, 1, std::string("bad \xff byte")}};
  auto text = container_json(c).dump();
  CHECK(text.find("bad \xef\xbf\xbd byte") != std::string::npos);
}

TEST_CASE("a container's Config carries its labels as Docker's object") {
  api::container_info c;
  c.labels = {{"tier", "web"}, {"team", ""}};
  auto j = container_json(c);
  CHECK(j["Config"]["Labels"] == json({{"team", ""}, {"tier", "web"}}));
  CHECK(container_json(api::container_info{})["Config"]["Labels"] == json::object());
}

// Tests for image configs: every field, Docker's null/absent/empty rules, and hostile input.
#include "berth/image/config.hpp"

#include "support.hpp"

#include <catch2/catch.hpp>

using namespace berth;
using namespace berth::image;
using berth::image::test::code;
using berth::image::test::message;

namespace {

const std::string diff_id = "sha256:" + std::string(64, 'd');

std::string config_with(const std::string& config_object) {
  return R"({"os":"linux","architecture":"amd64","config":)" + config_object +
         R"(,"rootfs":{"type":"layers","diff_ids":[")" + diff_id + R"("]}})";
}

}  // namespace

TEST_CASE("every field of a full config is read") {
  auto c = parse_image_config(R"({
    "os": "linux", "architecture": "arm64", "variant": "v8",
    "created": "2024-01-02T03:04:05.123456789Z",
    "config": {
      "Entrypoint": ["/entry", "--flag"], "Cmd": ["serve"],
      "Env": ["PATH=/bin", "A=b=c"], "WorkingDir": "/srv", "User": "1000:50",
      "StopSignal": "SIGQUIT", "ExposedPorts": {"80/tcp": {}, "53/udp": {}},
      "Volumes": {"/data": {}}, "Labels": {"a": "1", "b": ""},
      "Healthcheck": {"Test": ["CMD", "true"]}
    },
    "container_config": {"Cmd": ["ignored"]},
    "rootfs": {"type": "layers", "diff_ids": [")" +
                              diff_id + R"("]},
    "history": [{"created_by": "x"}]
  })");
  REQUIRE(c);
  CHECK(c->os == "linux");
  CHECK(c->architecture == "arm64");
  CHECK(c->variant == "v8");
  CHECK(c->created == 1704164645);
  CHECK(c->entrypoint_set);
  CHECK(c->entrypoint == std::vector<std::string>{"/entry", "--flag"});
  CHECK(c->cmd_set);
  CHECK(c->cmd == std::vector<std::string>{"serve"});
  CHECK(c->env == std::vector<std::string>{"PATH=/bin", "A=b=c"});
  CHECK(c->working_dir == "/srv");
  CHECK(c->user == "1000:50");
  CHECK(c->stop_signal == "SIGQUIT");
  CHECK(c->exposed_ports == std::vector<std::string>{"53/udp", "80/tcp"});
  CHECK(c->volumes == std::vector<std::string>{"/data"});
  CHECK(c->labels == std::map<std::string, std::string>{{"a", "1"}, {"b", ""}});
  CHECK(c->diff_ids == std::vector<std::string>{diff_id});
}

TEST_CASE("a null Cmd reads as no Cmd, like an absent one") {
  auto null_cmd = parse_image_config(config_with(R"({"Cmd": null, "Entrypoint": null})"));
  REQUIRE(null_cmd);
  CHECK_FALSE(null_cmd->cmd_set);
  CHECK_FALSE(null_cmd->entrypoint_set);
  CHECK(null_cmd->cmd.empty());
  auto absent = parse_image_config(config_with("{}"));
  REQUIRE(absent);
  CHECK_FALSE(absent->cmd_set);
  CHECK_FALSE(absent->entrypoint_set);
}

TEST_CASE("an empty Cmd or Entrypoint array is set but empty") {
  auto c = parse_image_config(config_with(R"({"Cmd": [], "Entrypoint": []})"));
  REQUIRE(c);
  CHECK(c->cmd_set);
  CHECK(c->cmd.empty());
  CHECK(c->entrypoint_set);
  CHECK(c->entrypoint.empty());
}

TEST_CASE("a string Cmd is a one-element command, as Docker reads it") {
  auto c = parse_image_config(config_with(R"({"Cmd": "echo hi", "Entrypoint": "/bin/sh"})"));
  REQUIRE(c);
  CHECK(c->cmd == std::vector<std::string>{"echo hi"});
  CHECK(c->entrypoint == std::vector<std::string>{"/bin/sh"});
}

TEST_CASE("null collections read as empty ones") {
  auto c = parse_image_config(config_with(
      R"({"Env": null, "Labels": null, "ExposedPorts": null, "Volumes": null, "User": null,
        "WorkingDir": null})"));
  REQUIRE(c);
  CHECK(c->env.empty());
  CHECK(c->labels.empty());
  CHECK(c->exposed_ports.empty());
  CHECK(c->volumes.empty());
  CHECK(c->user.empty());
}

TEST_CASE("a config without a config object, or with a null one, has empty defaults") {
  for (auto text :
       {R"({"rootfs":{"type":"layers","diff_ids":[]}})",
        R"({"config":null,"created":null,"rootfs":{"type":"layers","diff_ids":null}})"}) {
    auto c = parse_image_config(text);
    REQUIRE(c);
    CHECK(c->os.empty());
    CHECK(c->created == 0);
    CHECK_FALSE(c->cmd_set);
    CHECK(c->diff_ids.empty());
  }
}

TEST_CASE("wrongly typed fields are rejected naming the field") {
  struct bad_case {
    std::string json;
    std::string names;
  };
  for (const auto& [json, names] : std::vector<bad_case>{
           {config_with(R"({"Env": "PATH=/bin"})"), "Env"},
           {config_with(R"({"Env": ["A", 1]})"), "Env"},
           {config_with(R"({"Cmd": [1]})"), "Cmd"},
           {config_with(R"({"Cmd": {}})"), "Cmd"},
           {config_with(R"({"Labels": {"a": 1}})"), "Labels"},
           {config_with(R"({"ExposedPorts": ["80/tcp"]})"), "ExposedPorts"},
           {config_with(R"({"User": 0})"), "User"},
           {config_with(R"([])"), "config"},
           {R"({"os": 1, "rootfs":{"type":"layers","diff_ids":[]}})", "os"},
           {R"({"created": "yesterday", "rootfs":{"type":"layers","diff_ids":[]}})", "created"},
           {R"({"rootfs":{"type":"layers","diff_ids":["sha256:xyz"]}})", "diff_ids"},
           {R"({"rootfs":{"type":"other","diff_ids":[]}})", "rootfs"},
           {R"({"os":"linux"})", "rootfs"},
       }) {
    INFO(json);
    auto c = parse_image_config(json);
    CHECK(code(c) == errc::invalid_argument);
    CHECK_THAT(message(c), Catch::Contains(names));
  }
}

TEST_CASE("input that is not a JSON object is rejected") {
  for (auto text : {"", "not json", "[]", "null", "{\"a\":", "{\"os\":\"\xff\"}"}) {
    INFO(text);
    CHECK(code(parse_image_config(text)) == errc::invalid_argument);
  }
}

TEST_CASE("configs over the size limit or nested too deeply are rejected") {
  std::string big =
      config_with(R"({"Labels": {"a": ")" + std::string(max_config_bytes, 'x') + R"("}})");
  auto c = parse_image_config(big);
  CHECK(code(c) == errc::invalid_argument);
  CHECK_THAT(message(c), Catch::Contains("limit"));
  std::string deep = R"({"history":)" + std::string(100000, '[') + std::string(100000, ']') + "}";
  auto d = parse_image_config(deep);
  CHECK(code(d) == errc::invalid_argument);
  CHECK_THAT(message(d), Catch::Contains("nested"));
}

TEST_CASE("RFC 3339 times with fractions and offsets become Unix seconds") {
  CHECK(*parse_rfc3339("1970-01-01T00:00:00Z") == 0);
  CHECK(*parse_rfc3339("2024-01-01T00:00:00Z") == 1704067200);
  CHECK(*parse_rfc3339("2024-01-01T01:00:00.999+01:00") == 1704067200);
  CHECK(*parse_rfc3339("2023-12-31T19:00:00-05:00") == 1704067200);
  CHECK(*parse_rfc3339("2024-02-29t12:00:00z") == 1709208000);
  CHECK(*parse_rfc3339("1969-12-31T23:59:59Z") == -1);
  // Go's zero time is what Docker writes for "unknown".
  CHECK(*parse_rfc3339("0001-01-01T00:00:00Z") == 0);
  for (auto bad : {"2023-02-29T00:00:00Z", "2024-13-01T00:00:00Z", "2024-01-01 00:00:00Z",
                   "2024-01-01T24:00:00Z", "2024-01-01T00:00:60Z", "2024-01-01T00:00:00",
                   "2024-01-01T00:00:00.Z", "2024-01-01T00:00:00Zjunk", "2024-1-01T00:00:00Z"}) {
    INFO(bad);
    CHECK(code(parse_rfc3339(bad)) == errc::invalid_argument);
  }
}

TEST_CASE("a HEALTHCHECK is read with its test, durations and retries") {
  auto c =
      parse_image_config(config_with(R"({"Healthcheck": {"Test": ["CMD-SHELL", "curl -f localhost"],
      "Interval": 5000000000, "Timeout": 2000000000, "StartPeriod": 10000000000, "Retries": 4}})"));
  REQUIRE(c);
  CHECK(c->healthcheck.test == std::vector<std::string>{"CMD-SHELL", "curl -f localhost"});
  CHECK(c->healthcheck.interval == 5'000'000'000);
  CHECK(c->healthcheck.timeout == 2'000'000'000);
  CHECK(c->healthcheck.start_period == 10'000'000'000);
  CHECK(c->healthcheck.retries == 4);
  auto none = parse_image_config(config_with(R"({"Healthcheck": {"Test": ["NONE"]}})"));
  REQUIRE(none);
  CHECK(none->healthcheck.test == std::vector<std::string>{"NONE"});
  auto absent = parse_image_config(config_with(R"({"Cmd": ["sh"]})"));
  REQUIRE(absent);
  CHECK(absent->healthcheck.test.empty());
}

TEST_CASE("a Healthcheck of the wrong shape is ignored field by field, not fatal") {
  // Each of these is hostile or broken; the image still loads and the bad field reads as unset.
  auto c = parse_image_config(config_with(R"({"Healthcheck": {"Test": ["CMD", 7], "Interval": "30s",
      "Timeout": -5, "StartPeriod": 1.5, "Retries": "3"}})"));
  REQUIRE(c);
  CHECK(c->healthcheck.test.empty());
  CHECK(c->healthcheck.interval == 0);
  CHECK(c->healthcheck.timeout == 0);
  CHECK(c->healthcheck.start_period == 0);
  CHECK(c->healthcheck.retries == 0);
  for (auto bad : {R"("CMD true")", "42", "null", "[]", R"({"Test": "CMD-SHELL true"})",
                   R"({"Test": []})", R"({"Test": {"a": 1}})"}) {
    INFO(bad);
    auto b = parse_image_config(config_with(std::string(R"({"Healthcheck": )") + bad + "}"));
    REQUIRE(b);
    CHECK(b->healthcheck.test.empty());
  }
  // Out of range: more than int64 ns, under Docker's 1 ms minimum, retries beyond int32.
  auto range = parse_image_config(config_with(R"({"Healthcheck": {"Test": ["CMD", "true"],
      "Interval": 18446744073709551615, "Timeout": 999, "Retries": 4294967296}})"));
  REQUIRE(range);
  CHECK(range->healthcheck.test == std::vector<std::string>{"CMD", "true"});
  CHECK(range->healthcheck.interval == 0);
  CHECK(range->healthcheck.timeout == 0);
  CHECK(range->healthcheck.retries == 0);
}

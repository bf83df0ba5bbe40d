// Tests for `ps --filter`: Docker's keys, values of one key OR-ed and keys AND-ed, and Docker's
// messages for what it refuses.
#include "ps_filter.hpp"
#include "error.hpp"

#include <catch2/catch.hpp>

using namespace berth;
using namespace berth::cli;

namespace {

api::container_info container(std::string name, std::string state) {
  api::container_info c;
  c.id = "4f3c2b1a" + std::string(56, '0');
  c.name = std::move(name);
  c.state = std::move(state);
  c.image = "busybox";
  c.image_id = "sha256:beef" + std::string(60, '1');
  c.network_mode = "bridge";
  api::endpoint e;
  e.network = "default";
  e.ip = "10.88.0.2";
  e.prefix_len = 16;
  c.networks = {e};
  c.labels = {{"tier", "web"}, {"team", ""}, {"url", "http://x/?a=b"}};
  return c;
}

bool passes(const std::vector<std::string>& filters, const api::container_info& c) {
  return ps_filter::parse(filters).matches(c);
}

std::string error_of(const std::vector<std::string>& filters) {
  try {
    ps_filter::parse(filters);
  } catch (const cli_error& e) {
    CHECK(e.code == 1);
    return e.what();
  }
  return "(no error)";
}

}  // namespace

TEST_CASE("no filter passes every container") {
  CHECK(passes({}, container("web", "running")));
  CHECK_FALSE(ps_filter::parse({}).needs_all());
}

TEST_CASE("status matches the state and makes ps list stopped containers") {
  auto f = ps_filter::parse({"status=exited"});
  CHECK(f.needs_all());
  CHECK(f.matches(container("a", "exited")));
  CHECK_FALSE(f.matches(container("a", "running")));
  CHECK(ps_filter::parse({"status=running"}).needs_all());
  CHECK(passes({"status=created"}, container("a", "created")));
}

TEST_CASE("several values of one key are alternatives") {
  std::vector<std::string> f{"status=created", "status=exited"};
  CHECK(passes(f, container("a", "created")));
  CHECK(passes(f, container("a", "exited")));
  CHECK_FALSE(passes(f, container("a", "running")));
}

TEST_CASE("different keys must all match") {
  std::vector<std::string> f{"status=running", "name=web"};
  CHECK(passes(f, container("web", "running")));
  CHECK_FALSE(passes(f, container("web", "exited")));
  CHECK_FALSE(passes(f, container("db", "running")));
}

TEST_CASE("name matches a part of the name") {
  CHECK(passes({"name=eb"}, container("web-1", "running")));
  CHECK_FALSE(passes({"name=db"}, container("web-1", "running")));
}

TEST_CASE("id matches a prefix of the id") {
  CHECK(passes({"id=4f3c"}, container("a", "running")));
  CHECK_FALSE(passes({"id=3c2b"}, container("a", "running")));
}

TEST_CASE("ancestor matches the image by any spelling of its reference or by an id prefix") {
  auto c = container("a", "running");
  for (auto v :
       {"busybox", "busybox:latest", "docker.io/library/busybox:latest", "beef", "sha256:beef11"})
    CHECK(passes({std::string("ancestor=") + v}, c));
  CHECK_FALSE(passes({"ancestor=alpine"}, c));
  CHECK_FALSE(passes({"ancestor=busybox:1.36"}, c));
  CHECK_FALSE(passes({"ancestor=feed"}, c));
}

TEST_CASE("network matches a network the container is on, and none or user by mode") {
  auto c = container("a", "running");
  CHECK(passes({"network=default"}, c));
  CHECK_FALSE(passes({"network=backend"}, c));
  auto isolated = container("b", "running");
  isolated.network_mode = "none";
  isolated.networks.clear();
  CHECK(passes({"network=none"}, isolated));
  CHECK_FALSE(passes({"network=none"}, c));
}

TEST_CASE("health matches the check's status, none without a check") {
  auto c = container("a", "running");
  CHECK(passes({"health=none"}, c));
  c.health.status = "unhealthy";
  CHECK(passes({"health=unhealthy"}, c));
  CHECK_FALSE(passes({"health=healthy"}, c));
  c.health.status = "starting";
  CHECK(passes({"health=starting"}, c));
}

TEST_CASE("exited matches the exit code of exited containers only") {
  auto c = container("a", "exited");
  c.exit_code = 3;
  CHECK(passes({"exited=3"}, c));
  CHECK_FALSE(passes({"exited=0"}, c));
  auto running = container("b", "running");
  CHECK_FALSE(passes({"exited=0"}, running));
  CHECK_FALSE(ps_filter::parse({"exited=0"}).needs_all());  // as Docker: it needs -a
}

TEST_CASE("label with a name alone matches a container that has that label, whatever its value") {
  auto c = container("a", "running");
  CHECK(passes({"label=tier"}, c));
  CHECK(passes({"label=team"}, c));
  CHECK_FALSE(passes({"label=owner"}, c));
  CHECK_FALSE(passes({"label=tie"}, c));
  c.labels.clear();
  CHECK_FALSE(passes({"label=tier"}, c));
  CHECK_FALSE(ps_filter::parse({"label=tier"}).needs_all());
}

TEST_CASE("label with a name and a value matches only that exact value") {
  auto c = container("a", "running");
  CHECK(passes({"label=tier=web"}, c));
  CHECK_FALSE(passes({"label=tier=we"}, c));
  CHECK_FALSE(passes({"label=tier=Web"}, c));
  CHECK_FALSE(passes({"label=tier="}, c));
  CHECK(passes({"label=team="}, c));              // the empty value, given
  CHECK(passes({"label=url=http://x/?a=b"}, c));  // the value is everything after the first =
  CHECK_FALSE(passes({"label=owner=web"}, c));
}

TEST_CASE("several label filters must all match, unlike the values of other keys") {
  auto c = container("a", "running");
  CHECK(passes({"label=tier=web", "label=team"}, c));
  CHECK_FALSE(passes({"label=tier=web", "label=owner"}, c));
  CHECK_FALSE(passes({"label=tier=db", "label=tier=web"}, c));
  CHECK(passes({"label=tier", "name=a", "name=b"}, c));
  CHECK_FALSE(passes({"label=tier", "name=b"}, c));
}

TEST_CASE("a label filter without a label name is refused") {
  CHECK(error_of({"label="}) == "invalid filter 'label='");
  CHECK(error_of({"label==web"}) == "invalid filter 'label==web'");
}

TEST_CASE("an unknown key is refused as Docker refuses it") {
  CHECK(error_of({"foo=bar"}) == "invalid filter 'foo'");
  CHECK(error_of({"since=web"}) == "invalid filter 'since'");
}

TEST_CASE("a filter without a value is refused") {
  CHECK(error_of({"status"}) == "bad format of filter (expected name=value)");
}

TEST_CASE("a bad status, health or exit code is refused") {
  CHECK(error_of({"status=sleeping"}) == "invalid filter 'status=sleeping'");
  CHECK(error_of({"health=poorly"}) == "invalid filter 'health=poorly'");
  CHECK(error_of({"exited=x"}) == "invalid filter 'exited=x'");
}

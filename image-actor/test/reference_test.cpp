// Tests for image references: Docker's normalization and the distribution grammar's rejections.
#include "berth/image/reference.hpp"

#include "support.hpp"

#include <catch2/catch.hpp>

using namespace berth;
using namespace berth::image;
using berth::image::test::code;
using berth::image::test::message;

namespace {

const std::string hex64 = std::string(64, 'a');

}  // namespace

TEST_CASE("a bare name normalizes to docker.io/library with the tag latest") {
  auto ref = parse_reference("busybox");
  REQUIRE(ref);
  CHECK(ref->domain == "docker.io");
  CHECK(ref->path == "library/busybox");
  CHECK(ref->tag == "latest");
  CHECK(ref->digest.empty());
  CHECK(ref->to_string() == "docker.io/library/busybox:latest");
  CHECK(ref->familiar() == "busybox:latest");
  CHECK(ref->familiar_name() == "busybox");
}

TEST_CASE("a user repository on Docker Hub keeps its namespace and tag") {
  auto ref = parse_reference("user/app:1");
  REQUIRE(ref);
  CHECK(ref->to_string() == "docker.io/user/app:1");
  CHECK(ref->familiar() == "user/app:1");
}

TEST_CASE("a registry with a port is a domain and the last colon after a slash is the tag") {
  auto ref = parse_reference("localhost:5000/a/b:t");
  REQUIRE(ref);
  CHECK(ref->domain == "localhost:5000");
  CHECK(ref->path == "a/b");
  CHECK(ref->tag == "t");
  CHECK(ref->familiar() == "localhost:5000/a/b:t");
  auto untagged = parse_reference("localhost:5000/a");
  REQUIRE(untagged);
  CHECK(untagged->tag == "latest");
  CHECK(untagged->to_string() == "localhost:5000/a:latest");
}

TEST_CASE("localhost, dotted hosts and IPv6 hosts are registries") {
  CHECK(parse_reference("localhost/x")->domain == "localhost");
  CHECK(parse_reference("host.example/x")->domain == "host.example");
  auto v6 = parse_reference("[::1]:5000/x:y");
  REQUIRE(v6);
  CHECK(v6->domain == "[::1]:5000");
  CHECK(v6->path == "x");
  CHECK(v6->tag == "y");
}

TEST_CASE("a digest reference gets no default tag") {
  auto ref = parse_reference("host.example/x@sha256:" + hex64);
  REQUIRE(ref);
  CHECK(ref->tag.empty());
  CHECK(ref->digest == "sha256:" + hex64);
  CHECK(ref->to_string() == "host.example/x@sha256:" + hex64);
  CHECK(ref->familiar() == "host.example/x@sha256:" + hex64);
}

TEST_CASE("a tag and a digest together are both kept") {
  auto ref = parse_reference("busybox:1.36@sha256:" + hex64);
  REQUIRE(ref);
  CHECK(ref->tag == "1.36");
  CHECK(ref->to_string() == "docker.io/library/busybox:1.36@sha256:" + hex64);
  CHECK(ref->familiar() == "busybox:1.36@sha256:" + hex64);
}

TEST_CASE("every spelling of a Docker Hub official image normalizes to one reference") {
  auto a = parse_reference("busybox");
  for (auto text : {"library/busybox", "docker.io/busybox", "docker.io/library/busybox:latest",
                    "index.docker.io/library/busybox"}) {
    INFO(text);
    auto b = parse_reference(text);
    REQUIRE(b);
    CHECK(*b == *a);
  }
}

TEST_CASE("a nested Docker Hub path keeps library/ in its familiar form") {
  auto ref = parse_reference("library/a/b");
  REQUIRE(ref);
  CHECK(ref->familiar() == "library/a/b:latest");
}

TEST_CASE("a Docker Hub path that starts like a host keeps docker.io in its familiar form") {
  // Found by chaos-tests/fuzz/reference: "rnker.io/r/nz" would name the registry rnker.io.
  for (auto text : {"docker.io/rnker.io/r/nz", "docker.io/localhost/app"}) {
    INFO(text);
    auto ref = parse_reference(text);
    REQUIRE(ref);
    CHECK(ref->familiar_name() == ref->name());
    auto again = parse_reference(ref->familiar());
    REQUIRE(again);
    CHECK(*again == *ref);
  }
  auto dotted = parse_reference("my.app");
  REQUIRE(dotted);
  CHECK(dotted->familiar() == "my.app:latest");
}

TEST_CASE("an uppercase repository name is rejected with the reason") {
  auto ref = parse_reference("Busybox");
  CHECK(code(ref) == errc::invalid_argument);
  CHECK_THAT(message(ref), Catch::Contains("lowercase"));
  // An uppercase first component is a registry host, as in Docker.
  auto host = parse_reference("Host/x");
  REQUIRE(host);
  CHECK(host->domain == "Host");
}

TEST_CASE("malformed references are invalid arguments") {
  for (const std::string& text : std::vector<std::string>{
           "",        ":tag",        "a:",           "a/",
           "/a",      "a//b",        "-a",           "a-",
           "a..b",    "a___b",       "a:b c",        "a b",
           "a:-tag",  "a@",          "a@sha256:123", "a@sha256:" + std::string(64, 'A'),
           "host:/a", "host:port/a", "a/B",          "a:b@c",
           hex64}) {
    INFO("'" << text << "'");
    auto ref = parse_reference(text);
    CHECK(code(ref) == errc::invalid_argument);
    CHECK_THAT(message(ref), Catch::Contains("invalid reference"));
  }
}

TEST_CASE("separators inside path components follow the grammar") {
  for (auto text : {"a.b", "a_b", "a__b", "a-b", "a---b", "a1/b2.c_d-e"}) {
    INFO(text);
    CHECK(parse_reference(text));
  }
}

TEST_CASE("a digest with another algorithm is unsupported") {
  auto ref = parse_reference("x@sha512:" + std::string(128, 'a'));
  CHECK(code(ref) == errc::unsupported);
}

TEST_CASE("tags are at most 128 characters and names at most 255") {
  CHECK(parse_reference("a:" + std::string(128, 't')));
  CHECK(code(parse_reference("a:" + std::string(129, 't'))) == errc::invalid_argument);
  CHECK(code(parse_reference("host.example/" + std::string(250, 'a'))) == errc::invalid_argument);
  CHECK(parse_reference("host.example/" + std::string(200, 'a')));
}

TEST_CASE("is_tag accepts word characters, dots and dashes after the first") {
  CHECK(is_tag("latest"));
  CHECK(is_tag("_x.Y-1"));
  CHECK_FALSE(is_tag(".x"));
  CHECK_FALSE(is_tag("-x"));
  CHECK_FALSE(is_tag(""));
  CHECK_FALSE(is_tag("a/b"));
}

// Tests for spelling out image references in full, as `docker pull -q` prints them.
#include "reference.hpp"

#include <catch2/catch.hpp>

using namespace berth::cli;

TEST_CASE("an official image gets docker.io, library and latest") {
  CHECK(full_reference("busybox") == "docker.io/library/busybox:latest");
  CHECK(full_reference("busybox:1.36") == "docker.io/library/busybox:1.36");
  CHECK(full_reference("library/busybox") == "docker.io/library/busybox:latest");
}

TEST_CASE("a user's image on Docker Hub gets docker.io only") {
  CHECK(full_reference("user/app:1") == "docker.io/user/app:1");
  CHECK(full_reference("docker.io/user/app") == "docker.io/user/app:latest");
  CHECK(full_reference("index.docker.io/user/app") == "docker.io/user/app:latest");
}

TEST_CASE("another registry keeps its host and port") {
  CHECK(full_reference("localhost:5000/a/b:t") == "localhost:5000/a/b:t");
  CHECK(full_reference("localhost/a") == "localhost/a:latest");
  CHECK(full_reference("127.0.0.1:5000/x") == "127.0.0.1:5000/x:latest");
  CHECK(full_reference("ghcr.io/org/tool") == "ghcr.io/org/tool:latest");
}

TEST_CASE("a digest is kept and gets no default tag") {
  auto digest = "sha256:" + std::string(64, 'a');
  CHECK(full_reference("busybox@" + digest) == "docker.io/library/busybox@" + digest);
  CHECK(full_reference("busybox:1@" + digest) == "docker.io/library/busybox:1@" + digest);
}

TEST_CASE("what is not a reference is returned as it is") {
  CHECK(full_reference("") == "");
  CHECK(full_reference("Busybox") == "Busybox");
}

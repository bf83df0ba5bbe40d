// Tests for manifests and indexes: media types, limits, and choosing a platform.
#include "berth/image/manifest.hpp"

#include "support.hpp"

#include <catch2/catch.hpp>

using namespace berth;
using namespace berth::image;
using berth::image::test::code;
using berth::image::test::message;
using json = nlohmann::json;
namespace mt = berth::image::media_type;

namespace {

std::string digest_of(char c) {
  return "sha256:" + std::string(64, c);
}

json desc(std::string_view type, char c, uint64_t size = 10) {
  return json{{"mediaType", type}, {"digest", digest_of(c)}, {"size", size}};
}

json oci_manifest(json layers) {
  return json{{"schemaVersion", 2},
              {"mediaType", mt::oci_manifest},
              {"config", desc(mt::oci_config, 'c')},
              {"layers", std::move(layers)}};
}

json entry(std::string os, std::string arch, std::string variant, char c) {
  auto d = desc(mt::oci_manifest, c);
  d["platform"] = {{"os", os}, {"architecture", arch}};
  if (!variant.empty()) d["platform"]["variant"] = variant;
  return d;
}

image_index index_of(std::vector<json> entries) {
  json j{{"schemaVersion", 2}, {"manifests", entries}};
  auto index = parse_index(j.dump(), mt::oci_index);
  REQUIRE(index);
  return *index;
}

}  // namespace

TEST_CASE("an OCI manifest parses into its config and layers in order") {
  auto m = parse_manifest(
      oci_manifest({desc(mt::oci_layer_gzip, '1', 100), desc(mt::oci_layer_zstd, '2', 200),
                    desc(mt::oci_layer, '3', 300)})
          .dump(),
      mt::oci_manifest);
  REQUIRE(m);
  CHECK(m->media_type == mt::oci_manifest);
  CHECK(m->config.digest == digest_of('c'));
  REQUIRE(m->layers.size() == 3);
  CHECK(m->layers[0].digest == digest_of('1'));
  CHECK(m->layers[1].media_type == mt::oci_layer_zstd);
  CHECK(m->layers[2].size == 300);
}

TEST_CASE("a Docker schema 2 manifest parses, and an OCI one may omit its mediaType") {
  json docker{{"schemaVersion", 2},
              {"mediaType", mt::docker_manifest},
              {"config", desc(mt::docker_config, 'c')},
              {"layers", {desc(mt::docker_layer_gzip, '1')}}};
  auto m = parse_manifest(docker.dump(), mt::docker_manifest);
  REQUIRE(m);
  CHECK(m->media_type == mt::docker_manifest);
  auto bare = oci_manifest(json::array());
  bare.erase("mediaType");
  auto b = parse_manifest(bare.dump(), "");
  REQUIRE(b);
  CHECK(b->media_type == mt::oci_manifest);
  CHECK(b->layers.empty());
}

TEST_CASE("schema 1 manifests are unsupported") {
  json v1{{"schemaVersion", 1}, {"name", "x"}, {"fsLayers", json::array()}};
  CHECK(code(parse_manifest(v1.dump(), mt::docker_manifest_v1_signed)) == errc::unsupported);
  CHECK(code(parse_manifest(v1.dump(), "")) == errc::unsupported);
}

TEST_CASE("a manifest whose mediaType contradicts its descriptor is rejected") {
  auto m = parse_manifest(oci_manifest(json::array()).dump(), mt::docker_manifest);
  CHECK(code(m) == errc::invalid_argument);
  CHECK_THAT(message(m), Catch::Contains("says"));
  auto as_index = parse_index(oci_manifest(json::array()).dump(), mt::oci_index);
  CHECK(code(as_index) == errc::invalid_argument);
}

TEST_CASE("a document with both manifest and index fields is rejected") {
  auto doc = oci_manifest(json::array());
  doc["manifests"] = json::array();
  CHECK(code(parse_manifest(doc.dump(), mt::oci_manifest)) == errc::invalid_argument);
  json index{{"schemaVersion", 2}, {"manifests", json::array()}, {"layers", json::array()}};
  CHECK(code(parse_index(index.dump(), mt::oci_index)) == errc::invalid_argument);
}

TEST_CASE("foreign, non-distributable and unknown layers are unsupported") {
  for (auto type :
       {mt::docker_layer_foreign,
        std::string_view{"application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"},
        std::string_view{"application/x-tar"}}) {
    INFO(type);
    auto m = parse_manifest(oci_manifest({desc(type, '1')}).dump(), mt::oci_manifest);
    CHECK(code(m) == errc::unsupported);
    CHECK_THAT(message(m), Catch::Contains("layer 0"));
  }
}

TEST_CASE("an artifact whose config is not an image config is unsupported") {
  auto doc = oci_manifest(json::array());
  doc["config"] = desc("application/vnd.cncf.helm.config.v1+json", 'c');
  auto m = parse_manifest(doc.dump(), mt::oci_manifest);
  CHECK(code(m) == errc::unsupported);
  CHECK_THAT(message(m), Catch::Contains("not a container image"));
}

TEST_CASE("more layers than the limit are rejected") {
  json layers = json::array();
  for (size_t i = 0; i <= max_layers; ++i) layers.push_back(desc(mt::oci_layer_gzip, '1'));
  auto m = parse_manifest(oci_manifest(layers).dump(), mt::oci_manifest);
  CHECK(code(m) == errc::invalid_argument);
  CHECK_THAT(message(m), Catch::Contains("limit"));
}

TEST_CASE("descriptors with bad digests, sizes or types are rejected") {
  for (auto bad :
       {json{{"mediaType", mt::oci_layer}, {"digest", "sha256:abc"}, {"size", 1}},
        json{{"mediaType", mt::oci_layer}, {"digest", digest_of('1')}, {"size", -1}},
        json{{"mediaType", mt::oci_layer}, {"digest", digest_of('1')}, {"size", 1.5}},
        json{{"mediaType", mt::oci_layer}, {"digest", digest_of('1')}},
        json{{"digest", digest_of('1')}, {"size", 1}},
        json{{"mediaType", 5}, {"digest", digest_of('1')}, {"size", 1}}, json{"not an object"}}) {
    INFO(bad.dump());
    CHECK(code(parse_manifest(oci_manifest({bad}).dump(), mt::oci_manifest)) ==
          errc::invalid_argument);
  }
}

TEST_CASE("an index picks linux/amd64 and skips attestations") {
  auto attestation = entry("unknown", "unknown", "", 'e');
  attestation["annotations"] = {{"vnd.docker.reference.type", "attestation-manifest"}};
  auto index = index_of({entry("linux", "arm64", "v8", 'a'), attestation,
                         entry("linux", "amd64", "", 'b'), entry("linux", "amd64", "v3", 'c')});
  auto d = select_platform(index, default_platform());
  REQUIRE(d);
  CHECK(d->digest == digest_of('b'));
}

TEST_CASE("a platform the index lacks is no_such_platform naming the platforms it has") {
  auto index = index_of({entry("linux", "arm64", "v8", 'a'), entry("linux", "ppc64le", "", 'b'),
                         entry("linux", "arm64", "v8", 'c')});
  auto d = select_platform(index, default_platform());
  CHECK(code(d) == errc::no_such_platform);
  CHECK_THAT(message(d), Catch::Contains("linux/amd64") && Catch::Contains("linux/arm64/v8") &&
                             Catch::Contains("linux/ppc64le"));
}

TEST_CASE("a variant counts only when asked for, and aliases are normalized") {
  auto index = index_of({entry("linux", "arm", "v6", 'a'), entry("linux", "arm", "v7", 'b'),
                         entry("linux", "aarch64", "", 'c')});
  CHECK(select_platform(index, *parse_platform("linux/arm"))->digest == digest_of('a'));
  CHECK(select_platform(index, *parse_platform("linux/arm/v7"))->digest == digest_of('b'));
  CHECK(select_platform(index, *parse_platform("linux/arm64/v8"))->digest == digest_of('c'));
  CHECK(code(select_platform(index, *parse_platform("linux/arm/v5"))) == errc::no_such_platform);
}

TEST_CASE("platforms parse from os/arch[/variant] with aliases") {
  CHECK(parse_platform("linux/amd64")->to_string() == "linux/amd64");
  CHECK(parse_platform("Linux/x86_64")->to_string() == "linux/amd64");
  CHECK(parse_platform("linux/aarch64/v8")->to_string() == "linux/arm64");
  CHECK(parse_platform("linux/arm/v7")->variant == "v7");
  for (auto bad : {"", "linux", "linux/", "/amd64", "a/b/c/d", "linux/amd 64"})
    CHECK(code(parse_platform(bad)) == errc::invalid_argument);
}

TEST_CASE("an index with too many entries is rejected") {
  std::vector<json> entries(max_index_entries + 1, entry("linux", "amd64", "", 'a'));
  json j{{"schemaVersion", 2}, {"manifests", entries}};
  CHECK(code(parse_index(j.dump(), mt::oci_index)) == errc::invalid_argument);
}

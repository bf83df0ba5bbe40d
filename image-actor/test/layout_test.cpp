// Tests for OCI layout import from directories and archives: the busybox fixture, names,
// platforms, nesting, media types, and every way a layout can be broken.
#include "berth/image/layout.hpp"

#include "berth/image/digest.hpp"
#include "berth/image/unpack.hpp"
#include "support.hpp"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "berth/testing/skip.hpp"

#include <catch2/catch.hpp>

using namespace berth;
using namespace berth::image;
using berth::image::test::code;
using berth::image::test::message;
using json = nlohmann::json;
namespace fs = std::filesystem;
namespace mt = berth::image::media_type;

namespace {

content_store open_store(const fs::path& dir) {
  auto store = content_store::open(dir);
  REQUIRE(store);
  return std::move(*store);
}

std::vector<test::tar_entry> small_tree() {
  return {test::dir("etc"), test::file("etc/hostname", "berth\n")};
}

// A layout with one image (one gzip layer), named by `annotations`.
descriptor one_image_layout(test::layout_builder& b,
                            std::map<std::string, std::string> annotations) {
  auto m = b.add_image({test::make_layer(small_tree())});
  b.finish({test::annotated(m, std::move(annotations))});
  return m;
}

void flip_byte(const fs::path& file, size_t offset) {
  auto data = test::read_file(file);
  REQUIRE(offset < data.size());
  data[offset] = static_cast<char>(data[offset] ^ 0x55);
  fs::permissions(file, fs::perms::owner_write, fs::perm_options::add);
  test::write_file(file, data);
}

}  // namespace

TEST_CASE("the busybox fixture imports from a directory, named by its containerd annotation") {
  test::temp_dir tmp;
  test::build_busybox_fixture(tmp.path());
  auto store = open_store(tmp / "content");
  auto images = load_layout_dir(store, tmp / "busybox-oci");
  REQUIRE(images);
  REQUIRE(images->size() == 1);
  const auto& img = images->front();
  CHECK(img.name == "docker.io/library/busybox:latest");
  CHECK(img.annotations.at(std::string{annotation_ref_name}) == "latest");
  CHECK(img.image.config.os == "linux");
  CHECK(img.image.config.architecture == "amd64");
  CHECK(img.image.config.cmd == std::vector<std::string>{"sh"});
  CHECK(img.image.config.env ==
        std::vector<std::string>{
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"});
  CHECK(img.image.config.created == 1704067200);
  REQUIRE(img.image.layers.size() == 1);
  CHECK(img.image.layers[0].media_type == mt::oci_layer_gzip);
  CHECK(img.image.layers_size == img.image.layers[0].size);
  CHECK(img.image.root_digest == img.image.manifest.digest);
  for (const auto& d :
       {img.image.manifest.digest, img.image.config_digest, img.image.layers[0].digest})
    CHECK(store.contains(d));
  CHECK(*store.size_of(img.image.layers[0].digest) == img.image.layers[0].size);
}

TEST_CASE("the busybox archive imports to the same image as the directory") {
  test::temp_dir tmp;
  test::build_busybox_fixture(tmp.path());
  auto dir_store = open_store(tmp / "a");
  auto tar_store = open_store(tmp / "b");
  auto from_dir = load_layout_dir(dir_store, tmp / "busybox-oci");
  auto from_tar = load_layout_archive(tar_store, tmp / "busybox.tar");
  REQUIRE(from_dir);
  REQUIRE(from_tar);
  REQUIRE(from_tar->size() == 1);
  CHECK(from_tar->front().name == from_dir->front().name);
  CHECK(from_tar->front().image.manifest == from_dir->front().image.manifest);
  CHECK(from_tar->front().image.config_digest == from_dir->front().image.config_digest);
  CHECK(from_tar->front().image.layers == from_dir->front().image.layers);
  CHECK(*tar_store.list() == *dir_store.list());
  CHECK(fs::is_empty(tmp / "b" / "ingest"));
}

TEST_CASE("the busybox fixture is deterministic, idempotent and readable by skopeo and umoci") {
  test::temp_dir tmp;
  test::build_busybox_fixture(tmp.path());
  auto first = sha256_of(test::read_file(tmp / "busybox.tar"));
  test::build_busybox_fixture(tmp.path());
  CHECK(sha256_of(test::read_file(tmp / "busybox.tar")) == first);
  // Nothing but the two outputs is left behind.
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(tmp.path())) names.push_back(e.path().filename());
  std::sort(names.begin(), names.end());
  CHECK(names == std::vector<std::string>{"busybox-oci", "busybox.tar"});
  auto store = open_store(tmp / "content");
  auto images = load_layout_dir(store, tmp / "busybox-oci");
  REQUIRE(images);
  // The peers' view of the same files: skopeo reads the layout and the archive, umoci unpacks.
  if (!test::have_program("skopeo") || !test::have_program("umoci") || ::geteuid() != 0)
    BERTH_SKIP("the peer checks need skopeo, umoci and root");
  {
    auto r = test::run({"skopeo", "inspect", "oci:" + (tmp / "busybox-oci").string() + ":latest"});
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
    auto j = json::parse(r.output);
    CHECK(j["Digest"] == images->front().image.manifest.digest);
    CHECK(j["Architecture"] == "amd64");
    auto a = test::run({"skopeo", "inspect", "oci-archive:" + (tmp / "busybox.tar").string()});
    INFO(a.output);
    CHECK(a.exit_code == 0);
  }
  {
    auto r = test::run({"umoci", "unpack", "--image", (tmp / "busybox-oci").string() + ":latest",
                        (tmp / "bundle").string()});
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
    CHECK(fs::is_symlink(tmp / "bundle" / "rootfs" / "bin" / "sh"));
    fs::remove_all(tmp / "bundle");
  }
}

TEST_CASE("the name falls back to ref.name, which may be only a tag") {
  test::temp_dir tmp;
  test::layout_builder b{tmp / "layout"};
  one_image_layout(b, {{std::string{annotation_ref_name}, "v1"}});
  auto store = open_store(tmp / "content");
  auto images = load_layout_dir(store, b.dir());
  REQUIRE(images);
  CHECK(images->front().name == "v1");
}

TEST_CASE("an image without name annotations loads with an empty name") {
  test::temp_dir tmp;
  test::layout_builder b{tmp / "layout"};
  one_image_layout(b, {});
  auto store = open_store(tmp / "content");
  auto images = load_layout_dir(store, b.dir());
  REQUIRE(images);
  CHECK(images->front().name.empty());
}

TEST_CASE("every image index.json lists is loaded") {
  test::temp_dir tmp;
  test::layout_builder b{tmp / "layout"};
  auto one = b.add_image({test::make_layer(small_tree())});
  auto two = b.add_image({test::make_layer({test::file("x", "2")})});
  b.finish({test::annotated(one, {{"io.containerd.image.name", "docker.io/library/one:latest"}}),
            test::annotated(two, {{"io.containerd.image.name", "docker.io/library/two:latest"}})});
  auto store = open_store(tmp / "content");
  auto images = load_layout_dir(store, b.dir());
  REQUIRE(images);
  REQUIRE(images->size() == 2);
  CHECK(images->at(0).name == "docker.io/library/one:latest");
  CHECK(images->at(1).name == "docker.io/library/two:latest");
  CHECK(images->at(0).image.config_digest != images->at(1).image.config_digest);
}

TEST_CASE("a blob missing from a layout directory is not_found naming it") {
  test::temp_dir tmp;
  test::build_busybox_fixture(tmp.path());
  auto layout = tmp / "busybox-oci";
  auto store0 = open_store(tmp / "probe");
  auto layer = load_layout_dir(store0, layout)->front().image.layers[0].digest;
  fs::remove(layout / "blobs" / "sha256" / std::string{digest_hex(layer)});
  auto store = open_store(tmp / "content");
  auto images = load_layout_dir(store, layout);
  CHECK(code(images) == errc::not_found);
  CHECK_THAT(message(images),
             Catch::Contains(layer) && Catch::Contains("layer 0") && Catch::Contains("missing"));
}

TEST_CASE("a corrupted blob in a layout directory is a digest mismatch and is not stored") {
  test::temp_dir tmp;
  test::build_busybox_fixture(tmp.path());
  auto layout = tmp / "busybox-oci";
  auto store0 = open_store(tmp / "probe");
  auto layer = load_layout_dir(store0, layout)->front().image.layers[0].digest;
  flip_byte(layout / "blobs" / "sha256" / std::string{digest_hex(layer)}, 1000);
  auto store = open_store(tmp / "content");
  auto images = load_layout_dir(store, layout);
  CHECK(code(images) == errc::invalid_argument);
  CHECK_THAT(message(images), Catch::Contains("digest mismatch"));
  CHECK_FALSE(store.contains(layer));
  CHECK(fs::is_empty(tmp / "content" / "ingest"));
}

TEST_CASE("a corrupted blob in an archive is a digest mismatch and is not stored") {
  test::temp_dir tmp;
  test::build_busybox_fixture(tmp.path());
  // Tar checksums cover headers only: flipping a byte deep in the layer's data goes unnoticed
  // by tar and must be caught by the digest.
  auto archive = tmp / "busybox.tar";
  flip_byte(archive, fs::file_size(archive) / 2);
  auto store = open_store(tmp / "content");
  auto images = load_layout_archive(store, archive);
  CHECK(code(images) == errc::invalid_argument);
  CHECK_THAT(message(images), Catch::Contains("digest mismatch"));
  auto probe = open_store(tmp / "probe");
  auto layer = load_layout_dir(probe, tmp / "busybox-oci")->front().image.layers[0].digest;
  CHECK_FALSE(store.contains(layer));
  CHECK(fs::is_empty(tmp / "content" / "ingest"));
}

TEST_CASE("a blob missing from an archive is not_found") {
  test::temp_dir tmp;
  test::layout_builder b{tmp / "layout"};
  one_image_layout(b, {});
  auto store0 = open_store(tmp / "probe");
  auto config = load_layout_dir(store0, b.dir())->front().image.config_digest;
  fs::remove(b.dir() / "blobs" / "sha256" / std::string{digest_hex(config)});
  b.pack(tmp / "image.tar");
  auto store = open_store(tmp / "content");
  auto images = load_layout_archive(store, tmp / "image.tar");
  CHECK(code(images) == errc::not_found);
  CHECK_THAT(message(images),
             Catch::Contains("config " + config) && Catch::Contains("missing from the archive"));
}

TEST_CASE("input that is not a tar is rejected clearly") {
  test::temp_dir tmp;
  auto store = open_store(tmp / "content");
  test::write_file(tmp / "junk", std::string(5000, 'j'));
  auto junk = load_layout_archive(store, tmp / "junk");
  CHECK(code(junk) == errc::invalid_argument);
  CHECK_THAT(message(junk), Catch::Contains("not a tar archive"));
  test::write_file(tmp / "empty", "");
  CHECK(code(load_layout_archive(store, tmp / "empty")) == errc::invalid_argument);
  CHECK(code(load_layout_archive(store, tmp / "missing.tar")) == errc::not_found);
}

TEST_CASE("a truncated archive is rejected") {
  test::temp_dir tmp;
  test::build_busybox_fixture(tmp.path());
  auto data = test::read_file(tmp / "busybox.tar");
  test::write_file(tmp / "cut.tar", std::string_view{data}.substr(0, data.size() / 2));
  auto store = open_store(tmp / "content");
  auto images = load_layout_archive(store, tmp / "cut.tar");
  CHECK(code(images) == errc::invalid_argument);
  CHECK(fs::is_empty(tmp / "content" / "ingest"));
}

TEST_CASE("a tar that is not an OCI archive is rejected clearly") {
  test::temp_dir tmp;
  test::write_file(tmp / "plain.tar", test::make_tar({test::file("manifest.json", "[]")}));
  auto store = open_store(tmp / "content");
  auto images = load_layout_archive(store, tmp / "plain.tar");
  CHECK(code(images) == errc::invalid_argument);
  CHECK_THAT(message(images),
             Catch::Contains("not an OCI archive") && Catch::Contains("oci-layout"));
  auto dir = load_layout_dir(store, tmp.path());
  CHECK(code(dir) == errc::invalid_argument);
  CHECK_THAT(message(dir), Catch::Contains("not an OCI image layout"));
}

TEST_CASE("an unknown oci-layout version is unsupported") {
  test::temp_dir tmp;
  test::layout_builder b{tmp / "layout"};
  auto m = b.add_image({test::make_layer(small_tree())});
  b.finish({m}, "2.0.0");
  auto store = open_store(tmp / "content");
  auto images = load_layout_dir(store, b.dir());
  CHECK(code(images) == errc::unsupported);
  CHECK_THAT(message(images), Catch::Contains("2.0.0"));
}

TEST_CASE("an index with two platforms picks linux/amd64") {
  test::temp_dir tmp;
  test::layout_builder b{tmp / "layout"};
  auto arm = b.add_image({test::make_layer({test::file("arch", "arm64")})},
                         platform{"linux", "arm64", "v8"});
  auto amd = b.add_image({test::make_layer({test::file("arch", "amd64")})});
  auto index = b.add_index({arm, amd});
  b.finish({test::annotated(index, {{"io.containerd.image.name", "docker.io/library/multi:1"}})});
  auto store = open_store(tmp / "content");
  auto images = load_layout_dir(store, b.dir());
  REQUIRE(images);
  REQUIRE(images->size() == 1);
  const auto& img = images->front();
  CHECK(img.name == "docker.io/library/multi:1");
  CHECK(img.image.manifest.digest == amd.digest);
  CHECK(img.image.root_digest == index.digest);
  CHECK(img.image.config.architecture == "amd64");
  // Only the chosen platform's blobs were copied.
  CHECK_FALSE(store.contains(arm.digest));
  auto arm64 = load_layout_dir(store, b.dir(), platform{"linux", "arm64", ""});
  REQUIRE(arm64);
  CHECK(arm64->front().image.manifest.digest == arm.digest);
}

TEST_CASE("a platform the index lacks is no_such_platform naming what it has") {
  test::temp_dir tmp;
  test::layout_builder b{tmp / "layout"};
  auto arm = b.add_image({test::make_layer(small_tree())}, platform{"linux", "arm64", "v8"});
  auto s390 = b.add_image({test::make_layer(small_tree())}, platform{"linux", "s390x", ""});
  b.finish({b.add_index({arm, s390})});
  b.pack(tmp / "image.tar");
  auto store = open_store(tmp / "content");
  for (auto images :
       {load_layout_dir(store, b.dir()), load_layout_archive(store, tmp / "image.tar")}) {
    CHECK(code(images) == errc::no_such_platform);
    CHECK_THAT(message(images), Catch::Contains("linux/amd64") &&
                                    Catch::Contains("linux/arm64/v8") &&
                                    Catch::Contains("linux/s390x"));
  }
}

TEST_CASE("nested indexes resolve, and nesting past the limit is rejected") {
  test::temp_dir tmp;
  test::layout_builder b{tmp / "layout"};
  auto amd = b.add_image({test::make_layer(small_tree())});
  auto inner = b.add_index({amd});
  inner.platform = default_platform();
  auto outer = b.add_index({inner});
  b.finish({outer});
  auto store = open_store(tmp / "content");
  auto images = load_layout_dir(store, b.dir());
  REQUIRE(images);
  CHECK(images->front().image.manifest.digest == amd.digest);
  CHECK(images->front().image.root_digest == outer.digest);
  auto deep = amd;
  for (size_t i = 0; i <= max_index_depth; ++i) {
    deep = b.add_index({deep});
    deep.platform = default_platform();
  }
  b.finish({deep});
  auto too_deep = load_layout_dir(store, b.dir());
  CHECK(code(too_deep) == errc::invalid_argument);
  CHECK_THAT(message(too_deep), Catch::Contains("nested"));
}

TEST_CASE("Docker schema 2 media types import and unpack") {
  test::temp_dir tmp;
  test::layout_builder b{tmp / "layout"};
  auto m =
      b.add_image({test::make_layer(small_tree(), compression::gzip, true),
                   test::make_layer({test::file("etc/motd", "hi\n")}, compression::none, true)},
                  default_platform(), true);
  auto list = b.add_index({m}, true);
  b.finish({list});
  auto store = open_store(tmp / "content");
  auto images = load_layout_dir(store, b.dir());
  REQUIRE(images);
  const auto& img = images->front().image;
  CHECK(img.manifest.media_type == mt::docker_manifest);
  CHECK(img.layers[0].media_type == mt::docker_layer_gzip);
  CHECK(img.layers[1].media_type == mt::docker_layer);
  REQUIRE(unpack_layers(store, img.layers, tmp / "rootfs-missing").error());
  fs::create_directory(tmp / "rootfs");
  REQUIRE(unpack_layers(store, img.layers, tmp / "rootfs", img.config.diff_ids));
  CHECK(test::read_file(tmp / "rootfs" / "etc" / "hostname") == "berth\n");
  CHECK(test::read_file(tmp / "rootfs" / "etc" / "motd") == "hi\n");
}

TEST_CASE("a zstd layer imports and unpacks") {
  test::temp_dir tmp;
  test::layout_builder b{tmp / "layout"};
  b.finish({b.add_image({test::make_layer(small_tree(), compression::zstd)})});
  b.pack(tmp / "image.tar");
  auto store = open_store(tmp / "content");
  auto images = load_layout_archive(store, tmp / "image.tar");
  REQUIRE(images);
  const auto& img = images->front().image;
  CHECK(img.layers[0].media_type == mt::oci_layer_zstd);
  fs::create_directory(tmp / "rootfs");
  REQUIRE(unpack_layers(store, img.layers, tmp / "rootfs", img.config.diff_ids));
  CHECK(test::read_file(tmp / "rootfs" / "etc" / "hostname") == "berth\n");
}

TEST_CASE("a layer count that differs from the config's diff_ids is rejected") {
  test::temp_dir tmp;
  test::layout_builder b{tmp / "layout"};
  auto extra = json{{"rootfs", {{"type", "layers"}, {"diff_ids", json::array()}}}};
  b.finish({b.add_image({test::make_layer(small_tree())}, default_platform(), false, extra)});
  auto store = open_store(tmp / "content");
  auto images = load_layout_dir(store, b.dir());
  CHECK(code(images) == errc::invalid_argument);
  CHECK_THAT(message(images), Catch::Contains("diff_ids"));
}

TEST_CASE("a descriptor size that differs from the blob is rejected") {
  test::temp_dir tmp;
  test::layout_builder b{tmp / "layout"};
  auto m = b.add_image({test::make_layer(small_tree())});
  m.size += 1;
  b.finish({m});
  b.pack(tmp / "image.tar");
  auto store = open_store(tmp / "content");
  for (auto images :
       {load_layout_dir(store, b.dir()), load_layout_archive(store, tmp / "image.tar")}) {
    CHECK(code(images) == errc::invalid_argument);
    CHECK_THAT(message(images), Catch::Contains("size mismatch"));
  }
}

TEST_CASE("schema 1 and non-image entries in a layout are unsupported") {
  test::temp_dir tmp;
  test::layout_builder b{tmp / "layout"};
  auto v1 = b.add_blob(R"({"schemaVersion":1,"name":"x","tag":"y","fsLayers":[]})",
                       mt::docker_manifest_v1_signed);
  b.finish({v1});
  auto store = open_store(tmp / "content");
  CHECK(code(load_layout_dir(store, b.dir())) == errc::unsupported);
  auto other = b.add_blob("{}", "application/vnd.example.thing");
  b.finish({other});
  CHECK(code(load_layout_dir(store, b.dir())) == errc::unsupported);
}

TEST_CASE("an archive streams through a reader in small chunks") {
  test::temp_dir tmp;
  test::build_busybox_fixture(tmp.path());
  auto data = test::read_file(tmp / "busybox.tar");
  size_t offset = 0;
  size_t calls = 0;
  archive_reader read = [&]() -> caf::expected<std::string_view> {
    ++calls;
    auto chunk = std::string_view{data}.substr(offset, 1000);
    offset += chunk.size();
    return chunk;
  };
  auto store = open_store(tmp / "content");
  auto images = load_layout_archive_stream(store, read);
  REQUIRE(images);
  CHECK(images->front().name == "docker.io/library/busybox:latest");
  // Every chunk was pulled, up to the end of the stream.
  CHECK(offset == data.size());
  CHECK(calls > data.size() / 1000);
}

TEST_CASE("a reader error aborts an archive import with that error") {
  test::temp_dir tmp;
  test::build_busybox_fixture(tmp.path());
  auto data = test::read_file(tmp / "busybox.tar");
  size_t offset = 0;
  archive_reader read = [&]() -> caf::expected<std::string_view> {
    if (offset > data.size() / 2) return make_error(errc::cancelled, "client went away");
    auto chunk = std::string_view{data}.substr(offset, 64 * 1024);
    offset += chunk.size();
    return chunk;
  };
  auto store = open_store(tmp / "content");
  auto images = load_layout_archive_stream(store, read);
  CHECK(code(images) == errc::cancelled);
  CHECK_THAT(message(images), Catch::Contains("client went away"));
  CHECK(fs::is_empty(tmp / "content" / "ingest"));
  archive_reader throwing = []() -> caf::expected<std::string_view> {
    throw std::runtime_error("boom");
  };
  auto thrown = load_layout_archive_stream(store, throwing);
  CHECK(code(thrown) == errc::internal);
  CHECK_THAT(message(thrown), Catch::Contains("boom"));
}

TEST_CASE("an archive read from a pipe and a gzip-compressed archive both import") {
  test::temp_dir tmp;
  test::build_busybox_fixture(tmp.path());
  auto store = open_store(tmp / "content");
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::close(fds[0]);
    auto data = test::read_file(tmp / "busybox.tar");
    for (size_t off = 0; off < data.size();) {
      auto n = ::write(fds[1], data.data() + off, std::min<size_t>(data.size() - off, 7777));
      if (n <= 0) ::_exit(1);
      off += static_cast<size_t>(n);
    }
    ::_exit(0);
  }
  ::close(fds[1]);
  auto images = load_layout_archive_fd(store, fds[0]);
  ::close(fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  REQUIRE(images);
  CHECK(images->front().name == "docker.io/library/busybox:latest");
  auto gz = test::run({"gzip", "-k", (tmp / "busybox.tar").string()});
  REQUIRE(gz.exit_code == 0);
  auto store2 = open_store(tmp / "content2");
  auto from_gz = load_layout_archive(store2, tmp / "busybox.tar.gz");
  REQUIRE(from_gz);
  CHECK(from_gz->front().image.manifest == images->front().image.manifest);
}

TEST_CASE("oversized index.json and blob entries not named by a digest are rejected") {
  test::temp_dir tmp;
  auto store = open_store(tmp / "content");
  test::write_file(
      tmp / "big.tar",
      test::make_tar({test::file("oci-layout", R"({"imageLayoutVersion":"1.0.0"})"),
                      test::file("index.json", std::string(max_index_json_bytes + 1, ' '))}));
  auto big = load_layout_archive(store, tmp / "big.tar");
  CHECK(code(big) == errc::invalid_argument);
  CHECK_THAT(message(big), Catch::Contains("limit"));
  test::write_file(tmp / "name.tar", test::make_tar({test::file("blobs/sha256/notahash", "x")}));
  auto name = load_layout_archive(store, tmp / "name.tar");
  CHECK(code(name) == errc::invalid_argument);
  CHECK_THAT(message(name), Catch::Contains("not named by a sha256 digest"));
  auto digest = sha256_of("x");
  test::write_file(tmp / "link.tar",
                   test::make_tar({test::symlink("blobs/sha256/" + std::string{digest_hex(digest)},
                                                 "/etc/passwd")}));
  CHECK(code(load_layout_archive(store, tmp / "link.tar")) == errc::invalid_argument);
  CHECK_FALSE(store.contains(digest));
}

TEST_CASE("no corrupted byte of an archive crashes the import or stores a bad blob") {
  test::temp_dir tmp;
  test::build_busybox_fixture(tmp.path());
  auto original = test::read_file(tmp / "busybox.tar");
  auto probe = open_store(tmp / "probe");
  auto good = load_layout_dir(probe, tmp / "busybox-oci");
  REQUIRE(good);
  // Every byte of the headers, index.json and oci-layout, then a stride through the blobs.
  std::vector<size_t> offsets;
  for (size_t i = 0; i < 4096; i += 7) offsets.push_back(i);
  for (size_t i = 4096; i < original.size(); i += original.size() / 64) offsets.push_back(i);
  size_t failures = 0;
  for (auto offset : offsets) {
    auto data = original;
    data[offset] = static_cast<char>(data[offset] ^ 0x20);
    test::write_file(tmp / "mutant.tar", data);
    auto store = open_store(tmp / "content");
    auto images = load_layout_archive(store, tmp / "mutant.tar");
    if (!images) {
      ++failures;
      CHECK(code(images) != errc::internal);
    } else {
      // Whatever loaded is the original image (index.json is not content-addressed, so its
      // annotations may have changed).
      INFO("offset " << offset);
      CHECK(images->front().image.manifest.digest == good->front().image.manifest.digest);
      CHECK(images->front().image.config_digest == good->front().image.config_digest);
      CHECK(images->front().image.layers == good->front().image.layers);
    }
    // The store never holds a blob that does not match its name.
    auto listed = store.list();
    REQUIRE(listed);
    for (const auto& digest : *listed)
      CHECK(sha256_of_file(*store.path_of(digest))->digest == digest);
    CHECK(fs::is_empty(tmp / "content" / "ingest"));
    fs::remove_all(tmp / "content");
  }
  CHECK(failures > offsets.size() / 2);
}

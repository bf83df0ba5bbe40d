// Tests of the registry client against real docker-registry processes on 127.0.0.1: plain HTTP,
// TLS with a self-signed CA and htpasswd, token auth with a token server of our own; the
// fixtures are pushed with skopeo. A fault proxy proves retries, Range resume, redirects and the
// rejection of a corrupt blob.
#include "registry_support.hpp"

#include "berth/image/credentials.hpp"
#include "berth/image/manifest.hpp"
#include "berth/image/registry.hpp"
#include "berth/image/unpack.hpp"

#include <sys/mount.h>
#include <sys/stat.h>
#include <catch2/catch.hpp>

#include <mutex>

using namespace berth;
using namespace berth::image;
using namespace berth::image::test;

namespace {

// The fixtures are built once per test run.
const fs::path& fixtures() {
  static temp_dir dir;
  static bool built = false;
  if (!built) {
    build_registry_fixtures(dir.path());
    // The zstd variant: a new layout with recompressed layers (skopeo would skip blobs the
    // registry already has in gzip).
    auto r = run({"skopeo", "copy", "--quiet", "--dest-compress-format", "zstd",
                  "oci:" + (dir / "layered-oci").string() + ":latest",
                  "oci:" + (dir / "layered-zstd-oci").string() + ":latest"});
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
    built = true;
  }
  return dir.path();
}

reference ref_of(const std::string& text) {
  auto r = parse_reference(text);
  REQUIRE(r);
  return *r;
}

registry_options plain_options() {
  registry_options o;
  o.certs_dir = "/nonexistent";
  o.backoff = std::chrono::milliseconds{10};
  return o;
}

struct progress_log {
  std::mutex m;
  std::vector<api::progress> events;
  progress_fn fn() {
    return [this](const api::progress& p) {
      std::lock_guard<std::mutex> guard{m};
      events.push_back(p);
    };
  }
  size_t count(const std::string& status) {
    std::lock_guard<std::mutex> guard{m};
    return std::count_if(events.begin(), events.end(), [&](auto& e) { return e.status == status; });
  }
};

bool has_ingest_files(const content_store& store) {
  return !fs::is_empty(store.root() / "ingest");
}

}  // namespace

TEST_CASE(
    "a pull from a plain HTTP registry stores every blob verified and unpacks whiteouts and opaque "
    "dirs") {
  registry_server reg;
  reg.push(fixtures() / "layered-oci", "layered:latest");
  temp_dir dir;
  auto store = content_store::open(dir / "content");
  REQUIRE(store);
  progress_log progress;
  pull_options po;
  po.progress = progress.fn();
  auto pulled = pull_image(*store, ref_of(reg.host() + "/layered:latest"), plain_options(), po);
  INFO(message(pulled));
  REQUIRE(pulled);
  CHECK(pulled->image.layers.size() == 3);
  CHECK(pulled->index_digest.empty());
  CHECK(pulled->repo_digest == reg.host() + "/layered@" + pulled->image.manifest.digest);
  CHECK(pulled->image.config.labels.at("berth.fixture") == "layered");
  for (auto& l : pulled->image.layers) CHECK(store->contains(l.digest));
  CHECK(store->contains(pulled->image.config_digest));
  CHECK(progress.count("done") == 4);  // config and three layers
  CHECK(!has_ingest_files(*store));

  auto rootfs = dir / "rootfs";
  fs::create_directories(rootfs);
  auto unpacked =
      unpack_layers(*store, pulled->image.layers, rootfs, pulled->image.config.diff_ids);
  INFO(message(unpacked));
  REQUIRE(unpacked);
  CHECK(fs::exists(rootfs / "bin" / "busybox"));
  CHECK(!fs::exists(rootfs / "etc" / "motd"));
  CHECK(!fs::exists(rootfs / "gone"));
  CHECK(fs::exists(rootfs / "data" / "c"));
  CHECK(!fs::exists(rootfs / "data" / "a"));
  CHECK(!fs::exists(rootfs / "data" / "b"));

  SECTION("a second pull fetches nothing and reports every blob as present") {
    progress_log again;
    pull_options po2;
    po2.progress = again.fn();
    auto second = pull_image(*store, ref_of(reg.host() + "/layered:latest"), plain_options(), po2);
    REQUIRE(second);
    CHECK(again.count("exists") == 4);
    CHECK(again.count("downloading") == 0);
  }
  SECTION("a pull by digest checks the digest of the manifest") {
    auto by_digest = pull_image(
        *store, ref_of(reg.host() + "/layered@" + pulled->image.manifest.digest), plain_options());
    REQUIRE(by_digest);
    CHECK(by_digest->image.config_digest == pulled->image.config_digest);
  }
  SECTION("an unknown tag and an unknown repository are not_found with Docker's words") {
    auto tag = pull_image(*store, ref_of(reg.host() + "/layered:nope"), plain_options());
    CHECK(code(tag) == errc::not_found);
    CHECK_THAT(message(tag), Catch::Contains("manifest unknown"));
    auto repo = pull_image(*store, ref_of(reg.host() + "/nothing/here:1"), plain_options());
    CHECK(code(repo) == errc::not_found);
  }
}

TEST_CASE("an image index gives the platform asked for, and names the ones it has when absent") {
  registry_server reg;
  reg.push(fixtures() / "multiarch-oci", "multi:latest", {"--all"});
  temp_dir dir;
  auto store = content_store::open(dir / "content");
  REQUIRE(store);
  pull_options po;
  po.want = platform{"linux", "arm64", ""};
  auto arm = pull_image(*store, ref_of(reg.host() + "/multi:latest"), plain_options(), po);
  INFO(message(arm));
  REQUIRE(arm);
  CHECK(arm->image.config.architecture == "arm64");
  CHECK(!arm->index_digest.empty());
  CHECK(arm->repo_digest == reg.host() + "/multi@" + arm->index_digest);
  auto amd = pull_image(*store, ref_of(reg.host() + "/multi:latest"), plain_options());
  REQUIRE(amd);
  CHECK(amd->image.config.architecture == "amd64");
  CHECK(amd->image.config_digest != arm->image.config_digest);
  po.want = platform{"linux", "s390x", ""};
  auto none = pull_image(*store, ref_of(reg.host() + "/multi:latest"), plain_options(), po);
  CHECK(code(none) == errc::no_such_platform);
  CHECK_THAT(message(none), Catch::Contains("no image for linux/s390x") &&
                                Catch::Contains("available: linux/amd64, linux/arm64"));
}

TEST_CASE("Docker schema 2 media types and zstd layers pull and unpack") {
  registry_server reg;
  reg.push(fixtures() / "layered-oci", "docker:latest", {"--format", "v2s2"});
  reg.push(fixtures() / "layered-zstd-oci", "zstd:latest");
  temp_dir dir;
  auto store = content_store::open(dir / "content");
  REQUIRE(store);
  auto docker = pull_image(*store, ref_of(reg.host() + "/docker:latest"), plain_options());
  INFO(message(docker));
  REQUIRE(docker);
  CHECK(docker->image.manifest.media_type == media_type::docker_manifest);
  CHECK(docker->image.layers.at(1).media_type == media_type::docker_layer_gzip);
  auto zstd = pull_image(*store, ref_of(reg.host() + "/zstd:latest"), plain_options());
  INFO(message(zstd));
  REQUIRE(zstd);
  CHECK(zstd->image.layers.at(2).media_type == media_type::oci_layer_zstd);
  auto rootfs = dir / "zstd-rootfs";
  fs::create_directories(rootfs);
  auto unpacked = unpack_layers(*store, zstd->image.layers, rootfs, zstd->image.config.diff_ids);
  INFO(message(unpacked));
  REQUIRE(unpacked);
  CHECK(fs::exists(rootfs / "data" / "c"));
  CHECK(!fs::exists(rootfs / "etc" / "motd"));
}

TEST_CASE("a TLS registry with basic auth needs its CA and the right login") {
  registry_server reg{registry_server::options{true, "alice", "s3cret", nullptr}};
  reg.push(fixtures() / "layered-oci", "secure/app:1");
  temp_dir dir;
  auto store = content_store::open(dir / "content");
  REQUIRE(store);
  auto ref = ref_of(reg.host() + "/secure/app:1");
  registry_options o = plain_options();
  o.loopback_insecure = false;  // verify the certificate even on loopback

  auto untrusted = pull_image(*store, ref, o);
  CHECK(code(untrusted) == errc::untrusted);
  CHECK_THAT(message(untrusted), Catch::Contains("x509") && Catch::Contains("not trusted"));

  o.certs_dir = reg.certs_dir();
  auto anonymous = pull_image(*store, ref, o);
  CHECK(code(anonymous) == errc::unauthorized);
  CHECK_THAT(message(anonymous), Catch::Contains("unauthorized: authentication required"));

  o.credentials = [](std::string_view) {
    return std::optional<credential>{credential{"alice", "wrong"}};
  };
  auto refused = pull_image(*store, ref, o);
  CHECK(code(refused) == errc::unauthorized);
  CHECK_THAT(message(refused), Catch::Contains("refused the login of 'alice'"));
  CHECK(code(check_login(reg.host(), credential{"alice", "wrong"}, o)) == errc::unauthorized);

  o.credentials = [](std::string_view) {
    return std::optional<credential>{credential{"alice", "s3cret"}};
  };
  auto ok = pull_image(*store, ref, o);
  INFO(message(ok));
  REQUIRE(ok);
  CHECK(check_login(reg.host(), credential{"alice", "s3cret"}, o));
  CHECK(!has_ingest_files(*store));

  SECTION("a push uploads what the registry lacks and the manifest, then pulls back the same") {
    auto pushed =
        push_image(*store, ref_of(reg.host() + "/secure/copy:2"), ok->image.manifest.digest, o);
    INFO(message(pushed));
    REQUIRE(pushed);
    CHECK(pushed->digest == ok->image.manifest.digest);
    temp_dir other;
    auto store2 = content_store::open(other / "content");
    auto back = pull_image(*store2, ref_of(reg.host() + "/secure/copy:2"), o);
    REQUIRE(back);
    CHECK(back->image.config_digest == ok->image.config_digest);
  }
}

TEST_CASE(
    "token auth follows the Bearer challenge with the registry's service and the repository "
    "scope") {
  temp_dir keys;
  token_server tokens{keys.path(), "berth-registry", "bob", "pw"};
  registry_server reg{registry_server::options{false, "", "", &tokens}};
  // skopeo pushes through the same token flow, with credentials.
  auto r = run({"skopeo", "copy", "--quiet", "--dest-tls-verify=false", "--dest-creds=bob:pw",
                "oci:" + (fixtures() / "layered-oci").string() + ":latest",
                "docker://" + reg.host() + "/team/app:1"});
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  temp_dir dir;
  auto store = content_store::open(dir / "content");
  REQUIRE(store);
  auto before = tokens.requests().size();
  auto pulled = pull_image(*store, ref_of(reg.host() + "/team/app:1"), plain_options());
  INFO(message(pulled));
  REQUIRE(pulled);
  auto asked = tokens.requests();
  REQUIRE(asked.size() > before);
  auto& first = asked[before];
  CHECK_THAT(first.target, Catch::Contains("service=berth-registry") &&
                               Catch::Contains("scope=repository%3Ateam%2Fapp%3Apull"));
  CHECK(first.headers.count("authorization") == 0);
  // One token serves the whole pull (cached for its scope).
  CHECK(asked.size() == before + 1);

  SECTION("a push asks for pull,push with the login, and a wrong login is refused") {
    registry_options o = plain_options();
    o.credentials = [](std::string_view) {
      return std::optional<credential>{credential{"bob", "pw"}};
    };
    auto pushed =
        push_image(*store, ref_of(reg.host() + "/team/copy:1"), pulled->image.manifest.digest, o);
    INFO(message(pushed));
    REQUIRE(pushed);
    auto last = tokens.requests().back();
    CHECK_THAT(last.target, Catch::Contains("scope=repository%3Ateam%2Fcopy%3Apull%2Cpush"));
    CHECK(last.headers.count("authorization") == 1);
    CHECK(check_login(reg.host(), credential{"bob", "pw"}, o));
    auto wrong = check_login(reg.host(), credential{"bob", "nope"}, o);
    CHECK(code(wrong) == errc::unauthorized);
    CHECK_THAT(message(wrong), Catch::Contains("refused"));
    auto anonymous_push = push_image(*store, ref_of(reg.host() + "/team/anon:1"),
                                     pulled->image.manifest.digest, plain_options());
    CHECK(code(anonymous_push) == errc::unauthorized);
  }
  SECTION("a blob redirected to storage on another port gets no Authorization header") {
    auto layer = pulled->image.layers.at(1);
    auto bytes = read_file(reg.blob_path(layer.digest));
    http_stub storage{[&](const seen_request&) {
      return http_response_text(200, bytes, {"Content-Type: application/octet-stream"});
    }};
    fault_proxy proxy{reg.port()};
    proxy.only_digest = layer.digest;
    proxy.redirect_base = storage.url() + "/blob";
    temp_dir dir2;
    auto store2 = content_store::open(dir2 / "content");
    auto via = pull_image(*store2, ref_of(proxy.host() + "/team/app:1"), plain_options());
    INFO(message(via));
    REQUIRE(via);
    auto seen = storage.requests();
    REQUIRE(seen.size() == 1);
    CHECK(seen[0].headers.count("authorization") == 0);
    // The registry itself got the token with every blob request.
    for (auto& req : proxy.requests())
      if (req.target.find("/blobs/") != std::string::npos)
        CHECK(req.headers.count("authorization") == 1);
  }
}

TEST_CASE(
    "a dropped connection mid-blob and a 500 are retried, and the blob resumes with a Range "
    "request") {
  registry_server reg;
  reg.push(fixtures() / "layered-oci", "layered:latest");
  fault_proxy proxy{reg.port()};
  temp_dir dir;
  auto store = content_store::open(dir / "content");
  REQUIRE(store);
  // The busybox layer (about 1 MB): one 500, then a connection dropped after 64 KiB.
  auto manifest = nlohmann::json::parse(read_file(fixtures() / "layered-oci" / "index.json"));
  std::string mdigest = manifest["manifests"][0]["digest"];
  auto m = parse_manifest(
      read_file(fixtures() / "layered-oci" / "blobs" / "sha256" / std::string{digest_hex(mdigest)}),
      "");
  REQUIRE(m);
  auto big = m->layers.at(0);
  proxy.only_digest = big.digest;
  proxy.fail_500 = 1;
  proxy.drop = 1;
  proxy.drop_after = 64 * 1024;
  progress_log progress;
  pull_options po;
  po.progress = progress.fn();
  auto pulled = pull_image(*store, ref_of(proxy.host() + "/layered:latest"), plain_options(), po);
  INFO(message(pulled));
  REQUIRE(pulled);
  CHECK(store->contains(big.digest));
  CHECK(proxy.fail_500 == 0);
  CHECK(proxy.drop == 0);
  CHECK(progress.count("retrying") >= 2);
  bool resumed = false;
  for (auto& req : proxy.requests())
    if (req.target.find(big.digest) != std::string::npos && req.headers.count("range"))
      resumed = req.headers.at("range") == "bytes=65536-";
  CHECK(resumed);
  CHECK(proxy.count("GET", big.digest) == 3);
}

TEST_CASE("a blob that does not match its digest is rejected and nothing of it is stored") {
  registry_server reg;
  reg.push(fixtures() / "layered-oci", "layered:latest");
  fault_proxy proxy{reg.port()};
  proxy.corrupt = 1000;
  temp_dir dir;
  auto store = content_store::open(dir / "content");
  REQUIRE(store);
  registry_options o = plain_options();
  o.max_concurrent_downloads = 1;
  auto pulled = pull_image(*store, ref_of(proxy.host() + "/layered:latest"), o);
  CHECK(code(pulled) == errc::protocol);
  CHECK_THAT(message(pulled), Catch::Contains("digest mismatch"));
  // Only the manifest (served whole, checked before storing) is in the store.
  auto listed = store->list();
  REQUIRE(listed);
  CHECK(listed->size() == 1);
  CHECK(!has_ingest_files(*store));

  SECTION("so is a tampered blob in the registry's own storage") {
    proxy.corrupt = 0;
    auto index = nlohmann::json::parse(read_file(fixtures() / "layered-oci" / "index.json"));
    std::string mdigest = index["manifests"][0]["digest"];
    auto m = parse_manifest(read_file(fixtures() / "layered-oci" / "blobs" / "sha256" /
                                      std::string{digest_hex(mdigest)}),
                            "");
    REQUIRE(m);
    auto victim = reg.blob_path(m->layers.at(2).digest);
    auto bytes = read_file(victim);
    bytes[bytes.size() / 2] ^= 1;
    write_file(victim, bytes);
    auto again = pull_image(*store, ref_of(reg.host() + "/layered:latest"), o);
    CHECK(code(again) == errc::protocol);
    CHECK(!store->contains(m->layers.at(2).digest));
    CHECK(!has_ingest_files(*store));
  }
}

TEST_CASE("a Docker schema 1 manifest is refused with a clear message") {
  http_stub fake{[](const seen_request& req) {
    if (req.target == "/v2/") return http_response_text(200, "{}");
    return http_response_text(
        200, R"({"schemaVersion":1,"name":"old","tag":"1","fsLayers":[]})",
        {"Content-Type: application/vnd.docker.distribution.manifest.v1+prettyjws"});
  }};
  temp_dir dir;
  auto store = content_store::open(dir / "content");
  REQUIRE(store);
  auto pulled = pull_image(*store, ref_of("127.0.0.1:" + std::to_string(fake.port()) + "/old:1"),
                           plain_options());
  CHECK(code(pulled) == errc::unsupported);
  CHECK_THAT(message(pulled), Catch::Contains("schema 1"));
  CHECK(store->list()->empty());
  // The client asked for the manifest types it reads.
  auto reqs = fake.requests();
  REQUIRE(!reqs.empty());
  CHECK_THAT(reqs.back().headers["accept"],
             Catch::Contains("application/vnd.oci.image.index.v1+json") &&
                 Catch::Contains("application/vnd.docker.distribution.manifest.v2+json"));
}

TEST_CASE(
    "plain HTTP is spoken only to insecure registries, and docker.io means registry-1.docker.io") {
  registry_options o;
  o.loopback_insecure = true;
  CHECK(is_insecure_registry(o, "127.0.0.1:5000"));
  CHECK(is_insecure_registry(o, "127.1.2.3"));
  CHECK(is_insecure_registry(o, "localhost:5000"));
  CHECK(!is_insecure_registry(o, "registry.example:5000"));
  o.insecure_registries = {"registry.example:5000", "http://other.example"};
  CHECK(is_insecure_registry(o, "registry.example:5000"));
  CHECK(!is_insecure_registry(o, "registry.example:5001"));
  CHECK(is_insecure_registry(o, "other.example:443"));
  o.loopback_insecure = false;
  CHECK(!is_insecure_registry(o, "127.0.0.1:5000"));
  CHECK(registry_api_host("docker.io") == "registry-1.docker.io");
  CHECK(registry_api_host("ghcr.io") == "ghcr.io");
}

TEST_CASE("a pull that fills the disk fails with io and leaves no half-written blob") {
  registry_server reg;
  reg.push(fixtures() / "layered-oci", "layered:latest");
  temp_dir dir;
  auto mnt = dir / "small";
  fs::create_directories(mnt);
  REQUIRE(::mount("tmpfs", mnt.c_str(), "tmpfs", 0, "size=256k") == 0);
  struct unmount {
    fs::path p;
    ~unmount() { ::umount2(p.c_str(), MNT_DETACH); }
  } guard{mnt};
  auto store = content_store::open(mnt / "content");
  REQUIRE(store);
  auto pulled = pull_image(*store, ref_of(reg.host() + "/layered:latest"), plain_options());
  CHECK(code(pulled) == errc::io);
  CHECK_THAT(message(pulled), Catch::Contains("No space left on device"));
  CHECK(!has_ingest_files(*store));
  auto listed = store->list();
  REQUIRE(listed);
  for (auto& d : *listed) CHECK(store->read_small(d, 1 << 20));
}

TEST_CASE("logins are stored root-only, read back, forgotten, and fall back to a Docker config") {
  temp_dir dir;
  auto docker = dir / "docker-config.json";
  write_file(docker, R"({"auths":{"https://index.docker.io/v1/":{"auth":")" +
                         std::string{"ZG9jazpodWI="} +
                         R"("},"other.example:5000":{"username":"u","password":"p"}}})");
  credential_store creds{dir / "data" / "credentials.json", docker};
  auto hub = creds.get("docker.io");
  REQUIRE(hub);
  CHECK(hub->username == "dock");
  CHECK(hub->password == "hub");
  CHECK(creds.get("other.example:5000")->password == "p");
  CHECK(!creds.get("nowhere.example"));
  REQUIRE(creds.put("https://Registry.Example:5000/v2/", credential{"me", "pa:ss"}));
  struct stat st {};
  REQUIRE(::stat((dir / "data" / "credentials.json").c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  auto mine = creds.get("registry.example:5000");
  REQUIRE(mine);
  CHECK(mine->password == "pa:ss");
  REQUIRE(creds.put("docker.io", credential{"berth", "x"}));
  CHECK(creds.get("index.docker.io")->username == "berth");  // the store wins over Docker's
  REQUIRE(creds.erase("docker.io"));
  CHECK(creds.get("docker.io")->username == "dock");
  CHECK(code(creds.erase("docker.io")) == errc::not_found);
  CHECK(normalize_server("https://index.docker.io/v1/").value() == "docker.io");
  CHECK(!normalize_server(""));
}

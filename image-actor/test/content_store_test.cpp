// Tests for the content store: only verified, complete blobs ever appear under blobs/.
#include "berth/image/content_store.hpp"

#include "support.hpp"

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>

using namespace berth;
using namespace berth::image;
using berth::image::test::code;
using berth::image::test::message;
namespace fs = std::filesystem;

namespace {

size_t count_files(const fs::path& dir) {
  size_t n = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir)) ++n;
  return n;
}

}  // namespace

TEST_CASE("a blob ingested from bytes is stored under its digest and reads back") {
  test::temp_dir tmp;
  auto store = content_store::open(tmp / "content");
  REQUIRE(store);
  std::string data = "hello, blob";
  auto digest = sha256_of(data);
  REQUIRE(store->ingest_bytes(data, digest));
  CHECK(store->contains(digest));
  auto path = store->path_of(digest);
  REQUIRE(path);
  CHECK(*path == tmp / "content" / "blobs" / "sha256" / std::string{digest_hex(digest)});
  CHECK(test::read_file(*path) == data);
  CHECK(*store->size_of(digest) == data.size());
  CHECK(*store->read_small(digest, 1024) == data);
  struct stat st {};
  REQUIRE(::stat(path->c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0444);
  CHECK(count_files(tmp / "content" / "ingest") == 0);
}

TEST_CASE("a digest mismatch stores nothing and leaves no ingest file") {
  test::temp_dir tmp;
  auto store = content_store::open(tmp.path());
  REQUIRE(store);
  auto wrong = sha256_of("other bytes");
  auto ok = store->ingest_bytes("these bytes", wrong);
  CHECK(code(ok) == errc::invalid_argument);
  CHECK_THAT(message(ok), Catch::Contains("digest mismatch"));
  CHECK_FALSE(store->contains(wrong));
  CHECK(count_files(tmp / "blobs" / "sha256") == 0);
  CHECK(count_files(tmp / "ingest") == 0);
}

TEST_CASE("too many or too few bytes are a size mismatch and store nothing") {
  test::temp_dir tmp;
  auto store = content_store::open(tmp.path());
  REQUIRE(store);
  std::string data = "0123456789";
  auto digest = sha256_of(data);
  {
    auto w = store->begin(digest, 5);
    REQUIRE(w);
    auto r = w->write(data.data(), data.size());
    CHECK(code(r) == errc::invalid_argument);
    CHECK_THAT(message(r), Catch::Contains("size mismatch"));
    CHECK(code(w->commit()) == errc::internal);
  }
  {
    auto w = store->begin(digest, 20);
    REQUIRE(w);
    REQUIRE(w->write(data.data(), data.size()));
    auto r = w->commit();
    CHECK(code(r) == errc::invalid_argument);
    CHECK_THAT(message(r), Catch::Contains("size mismatch"));
  }
  CHECK_FALSE(store->contains(digest));
  CHECK(count_files(tmp / "ingest") == 0);
}

TEST_CASE("ingesting a stored blob again keeps the file but still verifies the bytes") {
  test::temp_dir tmp;
  auto store = content_store::open(tmp.path());
  REQUIRE(store);
  std::string data(100000, 'z');
  auto digest = sha256_of(data);
  REQUIRE(store->ingest_bytes(data, digest));
  struct stat before {};
  REQUIRE(::stat(store->path_of(digest)->c_str(), &before) == 0);
  REQUIRE(store->ingest_bytes(data, digest));
  std::string corrupt = data;
  corrupt[500] = 'y';
  auto bad = store->ingest_bytes(corrupt, digest);
  CHECK(code(bad) == errc::invalid_argument);
  struct stat after {};
  REQUIRE(::stat(store->path_of(digest)->c_str(), &after) == 0);
  CHECK(before.st_ino == after.st_ino);
  CHECK(test::read_file(*store->path_of(digest)) == data);
  CHECK(count_files(tmp / "ingest") == 0);
}

TEST_CASE("an interrupted ingest leaves no complete-looking blob") {
  test::temp_dir tmp;
  auto store = content_store::open(tmp.path());
  REQUIRE(store);
  std::string data(1 << 20, 'k');
  auto digest = sha256_of(data);
  // The child dies mid-ingest without running any destructor, as a crash would.
  pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    auto w = store->begin(digest, data.size());
    if (!w || !w->write(data.data(), data.size() / 2)) ::_exit(1);
    ::_exit(0);
  }
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  REQUIRE(WIFEXITED(status));
  REQUIRE(WEXITSTATUS(status) == 0);
  CHECK_FALSE(store->contains(digest));
  CHECK(count_files(tmp / "blobs" / "sha256") == 0);
  CHECK(code(store->path_of(digest)) == errc::not_found);
  CHECK(count_files(tmp / "ingest") == 1);
  CHECK(*store->remove_stale_ingests() == 1);
  CHECK(count_files(tmp / "ingest") == 0);
  // A later ingest of the same blob succeeds.
  CHECK(store->ingest_bytes(data, digest));
}

TEST_CASE("a writer dropped without commit deletes its ingest file") {
  test::temp_dir tmp;
  auto store = content_store::open(tmp.path());
  REQUIRE(store);
  auto digest = sha256_of("abc");
  {
    auto w = store->begin(digest, 3);
    REQUIRE(w);
    REQUIRE(w->write("ab", 2));
    CHECK(count_files(tmp / "ingest") == 1);
  }
  CHECK(count_files(tmp / "ingest") == 0);
  CHECK_FALSE(store->contains(digest));
}

TEST_CASE("two writers of the same blob at once both succeed and store it once") {
  test::temp_dir tmp;
  auto store = content_store::open(tmp.path());
  REQUIRE(store);
  std::string data = "shared";
  auto digest = sha256_of(data);
  auto a = store->begin(digest, data.size());
  auto b = store->begin(digest, data.size());
  REQUIRE(a);
  REQUIRE(b);
  REQUIRE(a->write(data.data(), data.size()));
  REQUIRE(b->write(data.data(), data.size()));
  CHECK(a->commit());
  CHECK(b->commit());
  CHECK(count_files(tmp / "blobs" / "sha256") == 1);
  CHECK(count_files(tmp / "ingest") == 0);
}

TEST_CASE("read_small refuses blobs over the limit and notices corruption on disk") {
  test::temp_dir tmp;
  auto store = content_store::open(tmp.path());
  REQUIRE(store);
  std::string data(1000, 'm');
  auto digest = sha256_of(data);
  REQUIRE(store->ingest_bytes(data, digest));
  auto big = store->read_small(digest, 999);
  CHECK(code(big) == errc::invalid_argument);
  CHECK_THAT(message(big), Catch::Contains("limit"));
  auto path = *store->path_of(digest);
  ::chmod(path.c_str(), 0644);
  test::write_file(path, std::string(1000, 'n'));
  auto corrupt = store->read_small(digest, 4096);
  CHECK(code(corrupt) == errc::io);
  CHECK_THAT(message(corrupt), Catch::Contains("corrupt"));
  CHECK(code(store->read_small(sha256_of("absent"), 10)) == errc::not_found);
}

TEST_CASE("remove deletes a blob, and a missing one is not_found") {
  test::temp_dir tmp;
  auto store = content_store::open(tmp.path());
  REQUIRE(store);
  auto digest = sha256_of("gone soon");
  REQUIRE(store->ingest_bytes("gone soon", digest));
  CHECK(store->remove(digest));
  CHECK_FALSE(store->contains(digest));
  CHECK(code(store->remove(digest)) == errc::not_found);
  CHECK(code(store->remove("sha256:../../etc")) == errc::invalid_argument);
}

TEST_CASE("ingest_file copies a file after checking its size") {
  test::temp_dir tmp;
  auto store = content_store::open(tmp / "store");
  REQUIRE(store);
  std::string data(700000, 'f');
  test::write_file(tmp / "src", data);
  auto digest = sha256_of(data);
  CHECK(code(store->ingest_file(tmp / "src", digest, data.size() + 1)) == errc::invalid_argument);
  CHECK(code(store->ingest_file(tmp / "missing", digest, data.size())) == errc::not_found);
  REQUIRE(store->ingest_file(tmp / "src", digest, data.size()));
  CHECK(test::read_file(*store->path_of(digest)) == data);
}

TEST_CASE("list returns the stored digests in order and malformed digests are refused") {
  test::temp_dir tmp;
  auto store = content_store::open(tmp.path());
  REQUIRE(store);
  std::vector<std::string> digests;
  for (auto s : {"a", "b", "c"}) {
    digests.push_back(sha256_of(s));
    REQUIRE(store->ingest_bytes(s, digests.back()));
  }
  std::sort(digests.begin(), digests.end());
  CHECK(*store->list() == digests);
  CHECK_FALSE(store->contains("sha256:short"));
  CHECK(code(store->begin("sha256:abc", 3)) == errc::invalid_argument);
  CHECK(code(store->begin("md5:" + std::string(32, 'a'), 3)) == errc::unsupported);
  CHECK(code(store->path_of("sha256:" + std::string(64, 'A'))) == errc::invalid_argument);
}

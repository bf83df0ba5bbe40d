// Tests for digests: the one accepted form and sha256 through OpenSSL.
#include "berth/image/digest.hpp"

#include "support.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <catch2/catch.hpp>

using namespace berth;
using namespace berth::image;
using berth::image::test::code;

TEST_CASE("a digest is sha256 and 64 lowercase hex digits, nothing else") {
  CHECK(is_digest("sha256:" + std::string(64, 'f')));
  CHECK(check_digest("sha256:" + std::string(64, '0')));
  CHECK_FALSE(is_digest("sha256:" + std::string(64, 'F')));
  CHECK_FALSE(is_digest("sha256:" + std::string(63, 'f')));
  CHECK_FALSE(is_digest("sha256:" + std::string(65, 'f')));
  CHECK_FALSE(is_digest("SHA256:" + std::string(64, 'f')));
  CHECK_FALSE(is_digest(std::string(64, 'f')));
  CHECK(code(check_digest("sha256:" + std::string(64, 'g'))) == errc::invalid_argument);
  CHECK(code(check_digest("")) == errc::invalid_argument);
  CHECK(code(check_digest("../../etc/passwd")) == errc::invalid_argument);
  CHECK(code(check_digest("sha512:" + std::string(128, 'a'))) == errc::unsupported);
}

TEST_CASE("sha256 matches the standard test vectors") {
  CHECK(sha256_of("") == "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(sha256_of("abc") ==
        "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST_CASE("hashing in pieces equals hashing at once, and finish starts over") {
  std::string data(100000, 'x');
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i * 7);
  sha256 h;
  for (size_t i = 0; i < data.size(); i += 999) h.update(std::string_view{data}.substr(i, 999));
  CHECK(h.finish() == sha256_of(data));
  h.update("abc");
  CHECK(h.finish() == sha256_of("abc"));
}

TEST_CASE("a file is hashed with its size, and a missing one is an io error") {
  test::temp_dir tmp;
  std::string data(300000, 'q');
  test::write_file(tmp / "f", data);
  auto d = sha256_of_file(tmp / "f");
  REQUIRE(d);
  CHECK(d->digest == sha256_of(data));
  CHECK(d->size == data.size());
  CHECK(code(sha256_of_file(tmp / "missing")) == errc::io);
  int fd = ::open((tmp / "f").c_str(), O_RDONLY);
  auto by_fd = sha256_of_fd(fd);
  ::close(fd);
  REQUIRE(by_fd);
  CHECK(by_fd->digest == d->digest);
}

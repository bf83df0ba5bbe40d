// End-to-end: image load through the CLI, malformed images rejected with clear errors and nothing
// stored, and system info.
#include "e2e.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <fstream>

using namespace berth::e2e;

TEST_CASE("a loaded image is listed with its tag, id and size") {
  auto& d = daemon::get();
  auto ls = d.ok({"image", "ls"});
  CHECK(ls.find("busybox") != std::string::npos);
  CHECK(ls.find("latest") != std::string::npos);
  CHECK(d.ok({"images", "-q"}).size() == 13);
  // Loading the same image again (here as a layout directory) changes nothing.
  auto again = d.ok({"image", "load", "-i", (d.images() / "busybox-oci").string()});
  CHECK(again == "Loaded image: busybox:latest\n");
  CHECK(d.ok({"images", "-q"}).size() == 13);
}

TEST_CASE("malformed images are rejected with a clear error and nothing is stored") {
  auto& d = daemon::get();
  auto images_before = d.ok({"images", "-q"});
  auto garbage = d.root() / "garbage.tar";
  {
    std::ofstream out(garbage);
    for (int i = 0; i < 10000; ++i) out << "not a tar archive ";
  }
  auto r = d.berth({"image", "load", "-i", garbage.string()});
  CHECK(r.code != 0);
  CHECK_FALSE(r.err.empty());
  // A truncated archive: the first half of a real one.
  auto truncated = d.root() / "truncated.tar";
  {
    auto whole = berth::os::read_file(d.images() / "busybox.tar");
    std::ofstream(truncated) << whole.substr(0, whole.size() / 2);
  }
  auto t = d.berth({"image", "load", "-i", truncated.string()});
  CHECK(t.code != 0);
  CHECK_FALSE(t.err.empty());
  // A layout whose layer blob was tampered with.
  auto tampered = d.root() / "tampered-oci";
  fs::copy(d.images() / "busybox-oci", tampered, fs::copy_options::recursive);
  fs::path biggest;
  for (auto& e : fs::directory_iterator(tampered / "blobs" / "sha256"))
    if (biggest.empty() || fs::file_size(e) > fs::file_size(biggest)) biggest = e.path();
  {
    std::fstream f(biggest, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(1000);
    f.put('X');
  }
  auto m = d.berth({"image", "load", "-i", tampered.string()});
  CHECK(m.code != 0);
  CHECK(m.err.find("digest") != std::string::npos);
  CHECK(d.ok({"images", "-q"}) == images_before);
  auto missing = d.berth({"image", "load", "-i", (d.root() / "does-not-exist.tar").string()});
  CHECK(missing.code != 0);
  CHECK(missing.err.find("does-not-exist") != std::string::npos);
  // Nothing half-loaded stays in the daemon's scratch space.
  std::error_code ec;
  CHECK(fs::is_empty(d.data_root() / "tmp", ec));
}

TEST_CASE("system info names the accelerator, kernel, agent transport and data root") {
  auto& d = daemon::get();
  auto info = d.ok({"system", "info"});
  CHECK((info.find("Accelerator:       tcg") != std::string::npos ||
         info.find("Accelerator:       kvm") != std::string::npos));
  CHECK(info.find("Agent Transport:   ") != std::string::npos);
  CHECK(info.find("Data Root:         " + d.data_root().string()) != std::string::npos);
  CHECK(info.find("Images:            ") != std::string::npos);
}

TEST_CASE("garbage, oversized and truncated frames on the socket do not hurt berthd") {
  auto& d = daemon::get();
  auto send_raw = [&](const std::string& bytes) {
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd >= 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    auto path = (d.root() / "berthd.sock").string();
    std::memcpy(addr.sun_path, path.c_str(), path.size());
    REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    [[maybe_unused]] auto n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    // berthd answers a protocol error and closes, or waits for more: either way we hang up.
    ::shutdown(fd, SHUT_WR);
    char buf[4096];
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 2000) > 0) [[maybe_unused]]
      auto r = ::read(fd, buf, sizeof buf);
    ::close(fd);
  };
  send_raw(std::string(10000, '\xc1'));                         // bytes msgpack never uses
  send_raw(std::string("\xdd\xff\xff\xff\xff", 5));             // an array of 4 billion
  send_raw(std::string("\xdb\x7f\xff\xff\xff", 5) + "abc");     // a 2 GiB string, cut off
  send_raw(std::string(200, '\x91') + std::string(1, '\x00'));  // nested 200 deep
  send_raw(std::string("\x94\x00\x01\xa3"));                    // a request cut in half
  send_raw(std::string("\x94\x00\x01\xabsystem.ping\x05"));     // params not an array
  CHECK(d.ok({"system", "info"}).find("Server Version") != std::string::npos);
  CHECK(d.ok({"images", "-q"}).size() == 13);
}

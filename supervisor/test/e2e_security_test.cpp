// End-to-end attacks on berthd's doors to local users and on `berth cp` (one VM boot for the
// whole file): a container's setuid and setgid files reach the host without those bits, a tree
// deeper than --max-depth is refused, and a client that follows a flooding container's logs and
// never reads is dropped with an error while berthd's RSS stays bounded and other clients are
// served. The socket's own defences (credentials, cap, message size) are attacked in
// api_security_test without a VM.
#include "e2e.hpp"

#include "berth/rpc/api.hpp"
#include "berth/rpc/client.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <iostream>
#include <thread>

using namespace berth;
using namespace berth::e2e;
using namespace std::chrono_literals;

namespace {

// The running container every case shares: its main process floods its log while /flood exists.
const std::string& box() {
  static const std::string name = [] {
    daemon::get().ok({"run", "-d", "--name", "secbox", "busybox", "sh", "-c",
                      "while :; do if [ -f /flood ]; then cat /bin/busybox; else sleep 0.2; fi; "
                      "done"});
    return std::string("secbox");
  }();
  return name;
}

fs::path scratch(const std::string& name) {
  auto dir = daemon::get().root() / "sec" / name;
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

mode_t mode_of(const fs::path& p) {
  struct stat st {};
  REQUIRE(::lstat(p.c_str(), &st) == 0);
  return st.st_mode & 07777;
}

int raw_connect(const std::string& host) {
  auto path = rpc::socket_path(host);
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
  REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  return fd;
}

}  // namespace

TEST_CASE("a setuid file copied out of a container reaches the host without setuid or setgid") {
  auto& d = daemon::get();
  d.ok({"exec", box(), "sh", "-c",
        "cp /bin/busybox /suid && chmod 6755 /suid && mkdir -p /sgid && chmod 2775 /sgid && "
        "cp /bin/busybox /sgid/x && chmod 4711 /sgid/x"});
  auto dest = scratch("suid");
  d.ok({"cp", box() + ":/suid", dest.string()});
  CHECK(mode_of(dest / "suid") == 0755);
  d.ok({"cp", "-a", box() + ":/sgid", dest.string()});
  CHECK(mode_of(dest / "sgid") == 0775);
  CHECK(mode_of(dest / "sgid" / "x") == 0711);
  // The tar stream on stdout carries no such bits either.
  auto tar = d.berth({"cp", box() + ":/suid", "-"});
  REQUIRE(tar.code == 0);
  REQUIRE(tar.out.size() > 512);
  // ustar header: mode is 8 octal digits at offset 100.
  auto mode = std::stoul(tar.out.substr(100, 7), nullptr, 8);
  CHECK(mode == 0755);
}

TEST_CASE("a copy out of a tree deeper than --max-depth is refused with the flag's name") {
  auto& d = daemon::get();
  d.ok({"exec", box(), "sh", "-c",
        "mkdir -p /deep/1/2/3/4/5/6/7/8 && echo x > /deep/1/2/3/4/5/6/7/8/f"});
  auto dest = scratch("deep");
  auto r = d.berth({"cp", "--max-depth", "5", box() + ":/deep", dest.string()});
  CHECK(r.code != 0);
  CHECK(r.err.find("--max-depth") != std::string::npos);
  auto small = d.berth({"cp", "--max-size", "100", box() + ":/bin/busybox", dest.string()});
  CHECK(small.code != 0);
  CHECK(small.err.find("--max-size") != std::string::npos);
  d.ok({"cp", box() + ":/deep", (dest / "ok").string()});
  CHECK(fs::exists(dest / "ok" / "1" / "2" / "3" / "4" / "5" / "6" / "7" / "8" / "f"));
}

TEST_CASE("a client following a flooding container's logs that never reads costs berthd little") {
  auto& d = daemon::get();
  box();
  int fd = raw_connect(d.host());
  ucred cred{};
  socklen_t len = sizeof cred;
  REQUIRE(::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0);
  pid_t berthd = cred.pid;
  int small = 4096;
  ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
  api::logs_request req;
  req.container = box();
  req.follow = true;
  req.tail = 0;
  auto bytes = rpc::encode_request(1, api::method::container_logs, req);
  REQUIRE(::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL) ==
          static_cast<ssize_t>(bytes.size()));
  std::this_thread::sleep_for(1s);
  auto before = rss_kib(berthd);
  long peak = before;
  d.ok({"exec", box(), "touch", "/flood"});
  // Flood until berthd dropped the stream, then 20 s more (what a berthd without flow control
  // would hold), serving another client all along.
  auto dropped = [&] { return d.log().find("dropped: its client fell") != std::string::npos; };
  auto start = std::chrono::steady_clock::now();
  std::optional<std::chrono::steady_clock::time_point> drop_time;
  int served = 0;
  while (std::chrono::steady_clock::now() - start < 240s) {
    peak = std::max(peak, rss_kib(berthd));
    if (!drop_time && dropped()) drop_time = std::chrono::steady_clock::now();
    if (drop_time && std::chrono::steady_clock::now() - *drop_time > 20s) break;
    if (d.berth({"ps"}, 30s).code == 0) ++served;
    std::this_thread::sleep_for(500ms);
  }
  d.ok({"exec", box(), "rm", "-f", "/flood"});
  std::cout << "slow logs -f client: berthd RSS " << before / 1024 << " MiB before, peak "
            << peak / 1024 << " MiB; stream dropped " << (drop_time ? "yes" : "no") << "; "
            << served << " ps calls served meanwhile" << std::endl;
  CHECK(drop_time.has_value());
  CHECK(peak - before < 128 * 1024);
  CHECK(served > 0);

  // Reading at last: the answer, some output, then the end with its reason.
  rpc::decoder dec;
  bool ended = false;
  std::string error;
  char buf[65536];
  auto until = std::chrono::steady_clock::now() + 60s;
  while (!ended && std::chrono::steady_clock::now() < until) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 200) <= 0) continue;
    auto n = ::read(fd, buf, sizeof buf);
    if (n <= 0) break;
    dec.feed(buf, static_cast<std::size_t>(n));
    rpc::message m;
    while (dec.next(m))
      if (m.type == rpc::kind::notification && m.method == api::notice::stream_end) {
        ended = true;
        error = rpc::arg<api::stream_end>(m).error;
      }
  }
  ::close(fd);
  CHECK(ended);
  CHECK(error.find("fell more than") != std::string::npos);
  // berthd is still up and the container still runs.
  CHECK(d.berth({"exec", box(), "true"}).code == 0);
}

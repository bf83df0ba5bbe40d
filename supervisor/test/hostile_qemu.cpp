// hostile_qemu: a QEMU for e2e_hostile that turns a real guest's agent hostile on demand.
//
//   hostile_qemu REAL_QEMU CONTROL_DIR qemu-arguments...
//
// berthd runs it as its QEMU (--qemu, through a two-line script). It starts the real QEMU in its
// own place (same pid, same arguments) except for the agent's socket: QEMU gets a socket of ours
// instead, and a child process of ours sits between berthd and QEMU, passing every byte both
// ways. So the real berth-init boots and serves, whatever handshake berthd and it do at connect
// passes through untouched, and berthd talks to a real guest over the real agent socket. Once
// CONTROL_DIR/<container id> exists and the guest has been quiet for a moment (so no message of
// the real agent is cut), the child sends berthd what the file names, as the guest:
//   nils        one notification of 8 MiB of nils (127 arrays of 65536, just under the 8 MiB bound)
//   wrong-exit  an `exit` notification whose argument is a string, not a map
//   flood N     output notifications of 64 KiB each, as fast as berthd takes them, for N seconds
// then passes bytes on as before (for as long as berthd keeps the connection). The child dies
// with QEMU (PR_SET_PDEATHSIG). Arguments without an agent socket (--version) run QEMU as is.
#include "berth/agent/protocol.hpp"
#include "berth/rpc/codec.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace {

namespace fs = std::filesystem;
namespace rpc = berth::rpc;
using clock_type = std::chrono::steady_clock;

[[noreturn]] void exec_qemu(const std::string& real, std::vector<std::string> args) {
  std::vector<char*> argv;
  argv.push_back(const_cast<char*>(real.c_str()));
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  ::execv(real.c_str(), argv.data());
  std::perror("hostile_qemu: execv");
  ::_exit(127);
}

// Writes all of `bytes` to `fd` (blocking in poll), false once the peer is gone or `deadline`
// passed.
bool write_all(int fd, std::string_view bytes, clock_type::time_point deadline) {
  while (!bytes.empty()) {
    auto n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      bytes.remove_prefix(static_cast<std::size_t>(n));
      continue;
    }
    if (n < 0 && errno != EAGAIN && errno != EINTR) return false;
    if (clock_type::now() > deadline) return false;
    pollfd p{fd, POLLOUT, 0};
    ::poll(&p, 1, 50);
  }
  return true;
}

std::string nils_notification() {
  rpc::byte_buffer buf;
  msgpack::packer<rpc::byte_buffer> pk(buf);
  pk.pack_array(3);
  pk.pack_uint8(2);
  pk.pack(std::string_view("output"));
  pk.pack_array(127);
  for (int a = 0; a < 127; ++a) {
    pk.pack_array(1u << 16);
    for (int i = 0; i < (1 << 16); ++i) pk.pack_nil();
  }
  return std::move(buf.data);
}

// The attack the control file names, sent to berthd on `host` as the guest.
void attack(int host, const std::string& id, const std::string& order) {
  std::istringstream in(order);
  std::string what;
  in >> what;
  auto far = clock_type::now() + std::chrono::seconds(60);
  if (what == "nils") {
    write_all(host, nils_notification(), far);
  } else if (what == "wrong-exit") {
    write_all(host, rpc::encode_notification("exit", std::string("not a map")), far);
  } else if (what == "flood") {
    int seconds = 5;
    in >> seconds;
    auto frame = rpc::encode_notification(
        berth::agent::notice::output,
        berth::agent::output_chunk{id, 1, std::vector<char>(64 * 1024, 'x')});
    auto end = clock_type::now() + std::chrono::seconds(seconds);
    while (clock_type::now() < end && write_all(host, frame, end)) {
    }
  }
}

// Passes bytes between berthd (`host`) and QEMU (`guest`) until berthd closes; attacks once.
void relay(int host, int guest, const fs::path& order_file, const std::string& id, bool& done) {
  auto quiet_since = clock_type::now();
  char buf[64 * 1024];
  for (;;) {
    pollfd p[2] = {{host, POLLIN, 0}, {guest, POLLIN, 0}};
    ::poll(p, 2, 50);
    if (p[0].revents) {
      auto n = ::read(host, buf, sizeof buf);
      if (n <= 0) return;  // berthd closed: the session is over
      if (!write_all(guest, {buf, static_cast<std::size_t>(n)},
                     clock_type::now() + std::chrono::seconds(30)))
        return;
    }
    if (p[1].revents) {
      auto n = ::read(guest, buf, sizeof buf);
      if (n <= 0) return;
      if (!write_all(host, {buf, static_cast<std::size_t>(n)},
                     clock_type::now() + std::chrono::seconds(30)))
        return;
      quiet_since = clock_type::now();
    }
    if (!done && clock_type::now() - quiet_since > std::chrono::milliseconds(200) &&
        fs::exists(order_file)) {
      done = true;
      std::ifstream in(order_file);
      std::string order((std::istreambuf_iterator<char>(in)), {});
      attack(host, id, order);
    }
  }
}

// The child: accepts berthd's connections on its socket and relays each to QEMU's.
[[noreturn]] void proxy(int listener, const fs::path& qemu_socket, const fs::path& order_file,
                        const std::string& id) {
  bool done = false;
  for (;;) {
    int host = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
    if (host < 0) {
      if (errno == EINTR) continue;
      ::_exit(1);
    }
    int guest = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, qemu_socket.c_str(), sizeof addr.sun_path - 1);
    while (::connect(guest, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    relay(host, guest, order_file, id, done);
    ::close(host);
    ::close(guest);
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: hostile_qemu REAL_QEMU CONTROL_DIR qemu-arguments...\n");
    return 2;
  }
  std::string real = argv[1];
  fs::path control = argv[2];
  std::vector<std::string> args(argv + 3, argv + argc);
  std::size_t agent_arg = args.size();
  int agent_fd = -1;
  std::string id;
  for (std::size_t i = 0; i < args.size(); ++i) {
    auto& a = args[i];
    if (a.rfind("socket,id=agent,", 0) == 0) {
      auto at = a.find(",fd=");
      if (at != std::string::npos) {
        agent_arg = i;
        agent_fd = std::stoi(a.substr(at + 4));
      }
    }
    if (auto at = a.find("/console.log"); at != std::string::npos && a.rfind("file,", 0) == 0) {
      auto path = fs::path(a.substr(a.find("path=") + 5, at + 12 - (a.find("path=") + 5)));
      id = path.parent_path().filename().string();
    }
  }
  if (agent_fd < 0 || id.empty()) exec_qemu(real, std::move(args));

  // QEMU's agent socket: ours, listening at a path the child connects to.
  auto qemu_socket = control / ("qemu-" + std::to_string(::getpid()) + ".sock");
  fs::remove(qemu_socket);
  int mine = ::socket(AF_UNIX, SOCK_STREAM, 0);  // inherited by QEMU
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, qemu_socket.c_str(), sizeof addr.sun_path - 1);
  if (::bind(mine, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(mine, 4) != 0) {
    std::perror("hostile_qemu: socket");
    return 1;
  }
  auto& a = args[agent_arg];
  auto at = a.find(",fd=") + 4;
  auto end = a.find(',', at);
  a = a.substr(0, at) + std::to_string(mine) + (end == std::string::npos ? "" : a.substr(end));

  pid_t parent = ::getpid();
  pid_t child = ::fork();
  if (child < 0) return 1;
  if (child == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(0);
    ::close(mine);
    // Its own session and no terminal: berthd signals QEMU's process group, not ours.
    ::setsid();
    proxy(agent_fd, qemu_socket, control / id, id);
  }
  ::close(agent_fd);
  exec_qemu(real, std::move(args));
}

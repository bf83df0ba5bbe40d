// e2e_agent_auth: the guest agent serves only a host that proves the VM's key (docs/guest-agent.md,
// "Handshake"). A local process that reaches the agent's socket (the virtio-serial chardev while
// berthd is away; with vsock, the guest's CID at any time) and asks it to run a command gets the
// refusal and nothing else, the command never runs, and berthd, reading the key from the run
// directory, adopts the container as before. A berthd holding the wrong key treats the VM as one
// whose agent does not answer. One VM for all of it.
#include "e2e.hpp"

#include "berth/agent/handshake.hpp"
#include "berth/agent/protocol.hpp"
#include "berth/rpc/codec.hpp"

#include <nlohmann/json.hpp>

#include <linux/vm_sockets.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <sstream>

using namespace berth::e2e;
using namespace std::chrono;
using berthd = berth::e2e::daemon;
namespace agent = berth::agent;
namespace rpc = berth::rpc;

namespace {

berthd& suite_daemon() {
  static bool configured = [] {
    berthd::set_extra_args({"--live-restore=true"});
    return true;
  }();
  (void)configured;
  return berthd::get();
}

nlohmann::json inspect(const berthd& d, const std::string& name) {
  return nlohmann::json::parse(d.ok({"inspect", name})).at(0);
}

std::string read_text(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::size_t count_of(const std::string& text, const std::string& needle) {
  std::size_t n = 0;
  for (auto at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
  return n;
}

// The guest CID on QEMU `pid`'s command line, as any local user can read it; 0 without vsock.
uint32_t cid_of(pid_t pid) {
  auto cmdline = read_text("/proc/" + std::to_string(pid) + "/cmdline");
  auto at = cmdline.find("guest-cid=");
  if (at == std::string::npos) return 0;
  return static_cast<uint32_t>(std::stoul(cmdline.substr(at + 10)));
}

// Connects as an attacker would: to the agent's unix socket, or with vsock to the guest's CID.
berth::os::unique_fd connect_agent(const fs::path& socket, uint32_t cid) {
  if (cid != 0) {
    berth::os::unique_fd fd(::socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0));
    REQUIRE(fd);
    sockaddr_vm addr{};
    addr.svm_family = AF_VSOCK;
    addr.svm_cid = cid;
    addr.svm_port = agent::vsock_port;
    REQUIRE(::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    return fd;
  }
  berth::os::unique_fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  REQUIRE(fd);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  REQUIRE(socket.string().size() < sizeof addr.sun_path);
  std::strncpy(addr.sun_path, socket.c_str(), sizeof addr.sun_path - 1);
  REQUIRE(::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  return fd;
}

// Everything the agent sends on `fd` until it closes it or `quiet` passes without a byte.
std::string collect(int fd, milliseconds quiet) {
  std::string out;
  for (;;) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(quiet.count())) <= 0) return out;
    char buf[4096];
    auto n = ::read(fd, buf, sizeof buf);
    if (n <= 0) return out;
    out.append(buf, static_cast<std::size_t>(n));
  }
}

// An exec-like call: a process in the container root that leaves a mark there.
std::string attack_request(uint32_t id) {
  agent::process_spec spec;
  spec.id = "pwn" + std::to_string(id);
  spec.args = {"/bin/sh", "-c", "echo pwned > /pwned"};
  spec.env = {"PATH=/bin"};
  return rpc::encode_request(id, agent::method::start, spec);
}

// The attack on a fresh connection, opened by `prelude`; what the agent answered.
std::string attack(const fs::path& socket, uint32_t cid, const std::string& prelude) {
  auto fd = connect_agent(socket, cid);
  auto bytes = prelude + attack_request(1) + rpc::encode_request(2, agent::method::ping);
  REQUIRE(::send(fd.get(), bytes.data(), bytes.size(), MSG_NOSIGNAL) ==
          static_cast<ssize_t>(bytes.size()));
  return collect(fd.get(), seconds(5));
}

}  // namespace

TEST_CASE(
    "a local process without the VM's agent key gets nothing from its agent, and berthd "
    "with the key adopts it as before") {
  auto& d = suite_daemon();
  d.ok({"run", "-d", "--name", "target", "busybox", "sleep", "100000"});
  auto id = inspect(d, "target").at("Id").get<std::string>();
  auto qemu = d.qemu_pid("target");
  auto run = d.run_root() / id.substr(0, 12);
  auto socket = run / "agent.sock";
  auto key_file = run / "agent.key";
  auto console = d.data_root() / "containers" / id / "console.log";
  uint32_t cid = cid_of(qemu);
  INFO("transport " << (cid ? "vsock, CID " + std::to_string(cid) : "virtio-serial"));

  // The key: 32 bytes, mode 0600, never on QEMU's command line.
  auto key = read_text(key_file);
  REQUIRE(key.size() == agent::agent_key_size);
  auto mode = fs::status(key_file).permissions() & fs::perms::all;
  CHECK(mode == (fs::perms::owner_read | fs::perms::owner_write));
  auto cmdline = read_text("/proc/" + std::to_string(qemu) + "/cmdline");
  CHECK(cmdline.find(key) == std::string::npos);
  // Jailed, QEMU reads it where the jail binds it; the file stays the run directory's.
  CHECK((cmdline.find("name=opt/berth/agent-key,file=/agent.key") != std::string::npos ||
         cmdline.find("name=opt/berth/agent-key,file=" + key_file.string()) != std::string::npos));
  auto wrong = key;
  wrong[0] = static_cast<char>(wrong[0] ^ 0x55);

  if (cid != 0) {
    // vsock: the agent is reachable while berthd's session is open; that session goes on.
    CHECK(attack(socket, cid, "") == agent::auth_refused);
    CHECK(attack(socket, cid, agent::auth_request(wrong)) == agent::auth_refused);
    CHECK(d.ok({"exec", "target", "echo", "alive"}) == "alive\n");
  }

  // berthd goes away; the chardev is free for whoever connects next.
  auto disconnects = count_of(read_text(console), "host disconnected");
  d.kill_berthd(SIGKILL);
  REQUIRE(
      eventually([&] { return count_of(read_text(console), "host disconnected") > disconnects; },
                 seconds(30)));

  // No key: the first message is the exec-like call itself.
  auto answer = attack(socket, cid, "");
  CHECK(answer == agent::auth_refused);
  // A guessed key, the call pipelined behind it.
  std::this_thread::sleep_for(seconds(1));  // the agent notices the hangup of the first
  answer = attack(socket, cid, agent::auth_request(wrong));
  // Refused (or, had the agent not yet seen the first one go, ignored): never an answer.
  CHECK(agent::auth_refused.starts_with(answer));
  CHECK(count_of(read_text(console), "refused a host connection") >= 1);
  CHECK(read_text(console).find("started process pwn") == std::string::npos);

  // berthd comes back, reads the key from the run directory and adopts the same VM.
  std::this_thread::sleep_for(seconds(1));
  d.start();
  CHECK(inspect(d, "target").at("State").at("Status") == "running");
  CHECK(d.qemu_pid("target") == qemu);
  CHECK(d.ok({"exec", "target", "echo", "alive"}) == "alive\n");
  // The attacker's command never ran.
  CHECK(d.berth({"exec", "target", "cat", "/pwned"}).code != 0);
  CHECK(d.log().find("handshake failed") == std::string::npos);

  // A berthd with the wrong key (here: a replaced key file) gets the refusal and treats the VM as
  // one whose agent does not answer: the adoption kills it, with the reason.
  d.kill_berthd(SIGKILL);
  {
    std::ofstream out(key_file, std::ios::binary | std::ios::trunc);
    out << wrong;
  }
  std::this_thread::sleep_for(seconds(1));
  d.start();
  REQUIRE(eventually([&] { return inspect(d, "target").at("State").at("Status") == "exited"; },
                     seconds(30)));
  auto state = inspect(d, "target").at("State");
  INFO(state.dump());
  CHECK(state.at("Error").get<std::string>().find("refused the key") != std::string::npos);
  CHECK(d.log().find("handshake failed") != std::string::npos);
  CHECK(eventually([&] { return !berth::os::process_alive(qemu); }, seconds(10)));
  d.ok({"rm", "-f", "target"});
}

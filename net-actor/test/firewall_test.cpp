// Tests for the nftables table berth owns: the script's text, and the script as nft itself reads
// and applies it, in a network namespace of the test's own (forked child; the host's rules are
// never looked at or touched).
#include "host_links.hpp"

#include "support.hpp"

#include "berth/actors/vocabulary.hpp"
#include "berth/os/file.hpp"
#include "berth/os/process.hpp"

#include "berth/testing/skip.hpp"

#include <catch2/catch.hpp>

#include <unistd.h>

using namespace berth;
using namespace berth::net;

namespace {

std::vector<host::firewall_network> two_networks() {
  return {{"brth-aaaa0001", "10.89.0.0/16", false, "10.89.0.1"},
          {"brth-bbbb0002", "10.90.7.0/24", true, "10.90.7.1"}};
}

bool have_nft() {
  return ::access("/usr/sbin/nft", X_OK) == 0 || ::access("/sbin/nft", X_OK) == 0;
}

// A command's stdout (argv, no shell).
std::string output_of(const std::vector<std::string>& argv, int* code = nullptr) {
  auto r = os::run(argv, std::chrono::seconds(20));
  if (code) *code = r.exit_code;
  return r.output + r.errors;
}

}  // namespace

TEST_CASE("without networks the script only deletes the table, whether or not it exists") {
  auto s = host::nft_script("berth", {});
  CHECK(s == "table inet berth\ndelete table inet berth\n");
}

TEST_CASE("the script isolates networks, NATs the external ones and closes internal ones") {
  auto s = host::nft_script("berth", two_networks());
  // Replaced atomically: the table is made (a no-op if it exists), deleted and made again in one
  // transaction.
  CHECK(s.rfind("table inet berth\ndelete table inet berth\ntable inet berth {\n", 0) == 0);
  CHECK_THAT(s, Catch::Contains("type filter hook forward priority filter; policy accept;"));
  CHECK_THAT(s, Catch::Contains("type nat hook postrouting priority srcnat; policy accept;"));
  // No traffic from one berth bridge to another.
  CHECK_THAT(s,
             Catch::Contains(
                 "iifname \"brth-aaaa0001\" oifname \"brth-*\" oifname != \"brth-aaaa0001\" drop"));
  CHECK_THAT(s,
             Catch::Contains(
                 "iifname \"brth-bbbb0002\" oifname \"brth-*\" oifname != \"brth-bbbb0002\" drop"));
  // The external network: replies come in, nothing new does; its traffic out is masqueraded.
  CHECK_THAT(s, Catch::Contains("oifname \"brth-aaaa0001\" ct state established,related accept"));
  CHECK_THAT(s, Catch::Contains("oifname \"brth-aaaa0001\" iifname != \"brth-aaaa0001\" drop"));
  CHECK_THAT(s, Catch::Contains("ip saddr 10.89.0.0/16 oifname != \"brth-aaaa0001\" masquerade"));
  // The internal network: nothing in or out, and no NAT.
  CHECK_THAT(s, Catch::Contains("iifname \"brth-bbbb0002\" oifname != \"brth-bbbb0002\" drop"));
  CHECK_THAT(s, Catch::Contains("oifname \"brth-bbbb0002\" iifname != \"brth-bbbb0002\" drop"));
  CHECK_THAT(s, !Catch::Contains("10.90.7.0/24"));
  // Both directions between two berth bridges are dropped before any accept.
  auto first_accept = s.find(" accept\n", s.find("chain forward"));
  CHECK(s.find("oifname \"brth-aaaa0001\" iifname \"brth-*\" iifname != \"brth-aaaa0001\" drop") <
        first_accept);
  CHECK(s.find("iifname \"brth-bbbb0002\" oifname \"brth-*\" oifname != \"brth-bbbb0002\" drop") <
        first_accept);
  CHECK_THAT(s, !Catch::Contains("brth-bbbb0002\" ct state"));
  // Input: replies, and DNS on each network's own gateway; everything else from a bridge drops.
  CHECK_THAT(s, Catch::Contains("type filter hook input priority filter; policy accept;"));
  CHECK_THAT(s, Catch::Contains("iifname \"brth-*\" ct state established,related accept"));
  CHECK_THAT(s,
             Catch::Contains("iifname \"brth-aaaa0001\" ip daddr 10.89.0.1 udp dport 53 accept"));
  CHECK_THAT(s,
             Catch::Contains("iifname \"brth-aaaa0001\" ip daddr 10.89.0.1 tcp dport 53 accept"));
  CHECK_THAT(s,
             Catch::Contains("iifname \"brth-bbbb0002\" ip daddr 10.90.7.1 udp dport 53 accept"));
  CHECK_THAT(s, !Catch::Contains("iifname \"brth-aaaa0001\" ip daddr 10.90.7.1"));
  CHECK_THAT(s, !Catch::Contains("iifname \"brth-bbbb0002\" ip daddr 10.89.0.1"));
  auto input = s.substr(s.find("chain input"), s.find("chain forward") - s.find("chain input"));
  CHECK(input.find("iifname \"brth-*\" drop") > input.rfind("accept"));
  // Another table name is used throughout.
  auto other = host::nft_script("berthtest", two_networks());
  CHECK_THAT(other, Catch::Contains("delete table inet berthtest\n"));
  CHECK_THAT(other, !Catch::Contains("inet berth "));
}

TEST_CASE("a tap's pin script lets through only its MAC and address, and goes again") {
  host::tap_pin pin{"berth", "02:5c:00:11:22:33", "10.89.0.2"};
  auto s = host::pin_script("tb3f2a9c01d70", pin);
  CHECK(s.rfind("add table netdev berth\n", 0) == 0);
  CHECK_THAT(s, Catch::Contains("add chain netdev berth tb3f2a9c01d70 { type filter hook ingress "
                                "device \"tb3f2a9c01d70\" priority filter; policy drop; }"));
  CHECK_THAT(s, Catch::Contains("flush chain netdev berth tb3f2a9c01d70\n"));
  CHECK_THAT(s, Catch::Contains("ether saddr 02:5c:00:11:22:33 ip saddr 10.89.0.2 accept"));
  CHECK_THAT(s, Catch::Contains("arp saddr ether 02:5c:00:11:22:33 arp saddr ip 10.89.0.2 accept"));
  // Nothing else is accepted (no IPv6, no DHCP from 0.0.0.0).
  CHECK(std::count(s.begin(), s.end(), '\n') == 5);
  auto u = host::unpin_script("berth", "tb3f2a9c01d70");
  CHECK(u ==
        "add table netdev berth\nadd chain netdev berth tb3f2a9c01d70\ndelete chain netdev "
        "berth tb3f2a9c01d70\n");
}

TEST_CASE("nft accepts the script, applies it, replaces it and deletes the table (own netns)") {
  if (!have_nft()) {
    BERTH_SKIP("nft is not installed");
  }
  REQUIRE(::geteuid() == 0);
  auto problems = test::in_private_netns([]() -> std::string {
    std::string out;
    auto script = host::nft_script("berth", two_networks());
    // `nft -c` checks without applying.
    auto path = "/tmp/berth-fw-test." + std::to_string(::getpid()) + ".nft";
    os::write_file_atomic(path, script);
    int code = 0;
    auto checked = output_of({"nft", "-c", "-f", path}, &code);
    ::unlink(path.c_str());
    if (code != 0) out += "nft -c rejected the script: " + checked + "\n";
    // Applied twice (the second replaces the first), then with one network fewer.
    for (int i = 0; i < 2; ++i)
      if (auto err = host::apply_nft(script)) out += "apply: " + describe(err) + "\n";
    auto listed = output_of({"nft", "list", "table", "inet", "berth"});
    for (auto want : {"masquerade", "ip saddr 10.89.0.0/16", "ct state established,related accept",
                      "oifname \"brth-*\""})
      if (listed.find(want) == std::string::npos)
        out += std::string("table lacks ") + want + ":\n" + listed;
    if (auto err = host::apply_nft(host::nft_script("berth", {two_networks()[1]})))
      out += describe(err) + "\n";
    listed = output_of({"nft", "list", "table", "inet", "berth"});
    if (listed.find("masquerade") != std::string::npos ||
        listed.find("brth-aaaa0001") != std::string::npos)
      out += "the removed network's rules stayed:\n" + listed;
    // Deleted, and deleting again is fine.
    if (auto err = host::delete_nft_table("berth")) out += "delete: " + describe(err) + "\n";
    if (auto err = host::delete_nft_table("berth")) out += "delete again: " + describe(err) + "\n";
    auto tables = output_of({"nft", "list", "tables"});
    if (tables.find("berth") != std::string::npos) out += "the table is still there: " + tables;
    // A script nft refuses is an error with nft's message.
    auto err = host::apply_nft("table inet berth {\n chain c { bogus }\n}\n");
    if (!err)
      out += "a broken script was accepted\n";
    else if (code_of(err) != errc::io)
      out += "a broken script gave " + describe(err) + "\n";
    return out;
  });
  INFO(problems);
  CHECK(problems.empty());
}

TEST_CASE("forwarding is enabled in the namespace it runs in (own netns)") {
  REQUIRE(::geteuid() == 0);
  auto problems = test::in_private_netns([]() -> std::string {
    if (auto err = host::enable_ip_forward()) return describe(err);
    if (auto err = host::enable_ip_forward()) return "again: " + describe(err);
    auto after = os::read_file("/proc/sys/net/ipv4/ip_forward");
    return after == "1\n" ? "" : "ip_forward is " + after;
  });
  INFO(problems);
  CHECK(problems.empty());
}

TEST_CASE("the jail script drops what jailed sockets open to host addresses and bridges") {
  auto s = host::jail_script("berth_jail", 2000000000u);
  CHECK(s.rfind("table inet berth_jail\ndelete table inet berth_jail\ntable inet berth_jail {\n",
                0) == 0);
  CHECK_THAT(s, Catch::Contains("type filter hook output priority filter; policy accept;"));
  // Only the jail's uids are judged; their replies pass before any drop.
  auto others = s.find("meta skuid != 2000000000-4294967294 accept\n");
  auto replies = s.find("ct state established,related accept\n");
  auto local = s.find("fib daddr type local drop\n");
  auto bridges = s.find("oifname \"brth-*\" drop\n");
  REQUIRE(others != std::string::npos);
  REQUIRE(replies != std::string::npos);
  REQUIRE(local != std::string::npos);
  REQUIRE(bridges != std::string::npos);
  CHECK(others < replies);
  CHECK(replies < local);
  CHECK(replies < bridges);
  CHECK_THAT(host::jail_script("t", 7), Catch::Contains("meta skuid != 7-4294967294 accept"));
}

// As a jailed QEMU: a process under a jail uid connects to a host listener on 127.0.0.1 (what
// slirp does for 10.0.2.2), and serves a listener the host connects to (what slirp's -p does).
TEST_CASE("a jailed uid cannot connect to the host's loopback but still answers (own netns)") {
  if (!have_nft()) {
    BERTH_SKIP("nft is not installed");
  }
  REQUIRE(::geteuid() == 0);
  auto problems = test::in_private_netns([]() -> std::string {
    int code = 0;
    auto up = output_of({"ip", "link", "set", "lo", "up"}, &code);
    if (code != 0) return "ip link set lo up: " + up;
    // Prints "<jail connects> <host reads from a jail listener> <root connects>".
    auto probe = [] {
      return output_of(
          {"/usr/bin/python3", "-c",
           "import os,socket\n"
           "uid=2000000005\n"
           "host=socket.socket(); host.bind(('127.0.0.1',0)); host.listen(4)\n"
           "hp=host.getsockname()[1]\n"
           "def jail(fn):\n"
           "  r,w=os.pipe(); pid=os.fork()\n"
           "  if pid==0:\n"
           "    os.close(r); os.setgroups([]); os.setgid(uid); os.setuid(uid)\n"
           "    try: fn(w)\n"
           "    except OSError as e: os.write(w,b'refused ')\n"
           "    os._exit(0)\n"
           "  os.close(w); return r,pid\n"
           "def conn(w):\n"
           "  s=socket.socket(); s.settimeout(2); s.connect(('127.0.0.1',hp))\n"
           "  os.write(w,b'connected ')\n"
           "r,pid=jail(conn); print(os.read(r,64).decode().strip(),end=' '); os.waitpid(pid,0)\n"
           "def serve(w):\n"
           "  l=socket.socket(); l.bind(('127.0.0.1',0)); l.listen(1)\n"
           "  os.write(w,str(l.getsockname()[1]).encode()); c,_=l.accept(); c.sendall(b'hi')\n"
           "r,pid=jail(serve); p=int(os.read(r,64))\n"
           "c=socket.socket(); c.settimeout(2); c.connect(('127.0.0.1',p))\n"
           "print('answered' if c.recv(8)==b'hi' else 'silent',end=' '); os.waitpid(pid,0)\n"
           "s=socket.socket(); s.settimeout(2); s.connect(('127.0.0.1',hp))\n"
           "print('root-connected')\n"});
    };
    std::string out;
    // The control: without the table the jail uid connects.
    auto before = probe();
    if (before != "connected answered root-connected\n") out += "without the table: " + before;
    if (auto err = host::apply_nft(host::jail_script("berth_jail", 2000000000u)))
      return out + "apply: " + describe(err);
    auto after = probe();
    if (after != "refused answered root-connected\n") out += "with the table: " + after;
    if (auto err = host::apply_nft("table inet berth_jail\ndelete table inet berth_jail\n"))
      out += "delete: " + describe(err);
    return out;
  });
  INFO(problems);
  CHECK(problems.empty());
}

// host_links.cpp: iproute2 and nft, run to completion with os::run.
#include "host_links.hpp"

#include "berth/actors/vocabulary.hpp"
#include "berth/os/fd.hpp"
#include "berth/os/file.hpp"
#include "berth/os/process.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>

namespace berth::net::host {

namespace {

constexpr std::chrono::seconds tool_timeout{20};

// The absolute path of a system tool: berthd's PATH may lack the sbin directories.
std::string tool(const char* name) {
  for (const char* dir : {"/usr/sbin/", "/sbin/", "/usr/bin/", "/bin/"}) {
    std::string path = std::string(dir) + name;
    if (::access(path.c_str(), X_OK) == 0) return path;
  }
  return name;
}

const std::string& ip_tool() {
  static const std::string path = tool("ip");
  return path;
}

const std::string& nft_tool() {
  static const std::string path = tool("nft");
  return path;
}

std::string trimmed(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

std::string joined(const std::vector<std::string>& argv) {
  std::string out;
  for (auto& a : argv) out += (out.empty() ? "" : " ") + a;
  return out;
}

// Runs a tool; an error of class `code` with its stderr when it fails.
caf::expected<os::run_result> run(std::vector<std::string> argv, int stdin_fd = -1) {
  try {
    auto r = os::run(argv, tool_timeout, 1u << 20, stdin_fd);
    return r;
  } catch (const std::exception& e) {
    return make_error(errc::unavailable, "cannot run " + argv[0] + ": " + e.what());
  }
}

caf::error check(std::vector<std::string> argv) {
  auto r = run(argv);
  if (!r) return std::move(r.error());
  if (r->exit_code != 0)
    return make_error(errc::io,
                      joined(argv) + ": " + trimmed(r->errors.empty() ? r->output : r->errors));
  return {};
}

// The detailed one-line description of a link, or nothing when it does not exist.
std::optional<std::string> show_link(const std::string& name) {
  auto r = run({ip_tool(), "-d", "-o", "link", "show", "dev", name});
  if (!r || r->exit_code != 0) return std::nullopt;
  return r->output;
}

// "02:5c:0a:1b:2c:3d": six bytes in hex, colon-separated.
bool valid_mac(const std::string& mac) {
  if (mac.size() != 17) return false;
  for (std::size_t i = 0; i < mac.size(); ++i)
    if (i % 3 == 2 ? mac[i] != ':' : !std::isxdigit(static_cast<unsigned char>(mac[i])))
      return false;
  return true;
}

}  // namespace

caf::error ensure_bridge(const std::string& name, const std::string& mac, ipv4 gateway,
                         uint8_t prefix) {
  if (auto shown = show_link(name)) {
    if (shown->find(" bridge ") == std::string::npos)
      return make_error(errc::conflict,
                        "a network device named " + name + " exists and is not a bridge");
  } else if (auto err = check({ip_tool(), "link", "add", name, "type", "bridge"})) {
    return err;
  }
  if (auto err = check({ip_tool(), "link", "set", "dev", name, "address", mac})) return err;
  auto address = to_string(gateway) + "/" + std::to_string(prefix);
  if (auto err = check({ip_tool(), "addr", "replace", address, "dev", name})) return err;
  return check({ip_tool(), "link", "set", "dev", name, "up"});
}

caf::error ensure_tap(const std::string& tap, const std::string& bridge, const tap_pin& pin) {
  if (auto shown = show_link(tap)) {
    if (shown->find("tun type tap") == std::string::npos)
      return make_error(errc::conflict,
                        "a network device named " + tap + " exists and is not a tap");
  } else if (auto err = check({ip_tool(), "tuntap", "add", "dev", tap, "mode", "tap"})) {
    return err;
  }
  // The pin goes into an nft script: only a MAC and an address that parse.
  if (!parse_ipv4(pin.ip) || !valid_mac(pin.mac))
    return make_error(errc::invalid_argument,
                      "cannot pin " + tap + " to " + pin.mac + " " + pin.ip);
  if (auto err = apply_nft(pin_script(tap, pin))) return err;
  return check({ip_tool(), "link", "set", "dev", tap, "master", bridge, "up"});
}

std::string pin_script(const std::string& tap, const tap_pin& pin) {
  auto chain = "netdev " + pin.table + " " + tap;
  auto mac = "ether saddr " + pin.mac;
  std::string out = "add table netdev " + pin.table + "\n";
  out += "add chain " + chain + " { type filter hook ingress device \"" + tap +
         "\" priority filter; policy drop; }\n";
  // Flushed and filled in the same transaction: never a moment without the pin.
  out += "flush chain " + chain + "\n";
  out += "add rule " + chain + " " + mac + " ip saddr " + pin.ip + " accept\n";
  out += "add rule " + chain + " " + mac +
         " arp htype 1 arp ptype ip arp hlen 6 arp plen 4 arp saddr ether " + pin.mac +
         " arp saddr ip " + pin.ip + " accept\n";
  return out;
}

std::string unpin_script(const std::string& table, const std::string& tap) {
  // A chain without a hook is made first (a no-op if the pin chain exists), so the delete
  // succeeds whether or not it existed, and whether or not the tap still does.
  auto chain = "netdev " + table + " " + tap;
  return "add table netdev " + table + "\nadd chain " + chain + "\ndelete chain " + chain + "\n";
}

caf::error delete_tap(const std::string& table, const std::string& tap) {
  // The link first: with the pin gone and the tap still there, its frames would pass.
  if (auto err = delete_link(tap)) return err;
  return apply_nft(unpin_script(table, tap));
}

caf::error delete_link(const std::string& name) {
  auto err = check({ip_tool(), "link", "del", "dev", name});
  if (err && !show_link(name)) return {};
  return err;
}

caf::expected<std::vector<std::string>> list_links(const std::string& kind,
                                                   const std::string& master) {
  std::vector<std::string> argv{ip_tool(), "-o", "link", "show"};
  if (!master.empty()) {
    argv.push_back("master");
    argv.push_back(master);
  } else {
    argv.push_back("type");
    argv.push_back(kind);
  }
  auto r = run(argv);
  if (!r) return std::move(r.error());
  if (r->exit_code != 0) return make_error(errc::io, joined(argv) + ": " + trimmed(r->errors));
  // "7: brth-1a2b3c4d: <BROADCAST,..." or "9: veth0@if8: ..."
  std::vector<std::string> out;
  std::size_t pos = 0;
  while (pos < r->output.size()) {
    auto end = r->output.find('\n', pos);
    if (end == std::string::npos) end = r->output.size();
    std::string_view line(r->output.data() + pos, end - pos);
    pos = end + 1;
    auto a = line.find(": ");
    if (a == std::string_view::npos) continue;
    auto b = line.find(": ", a + 2);
    if (b == std::string_view::npos) continue;
    auto name = line.substr(a + 2, b - a - 2);
    name = name.substr(0, name.find('@'));
    if (!name.empty()) out.emplace_back(name);
  }
  return out;
}

std::string nft_script(const std::string& table, const std::vector<firewall_network>& networks) {
  std::string t = "inet " + table;
  std::string out = "table " + t + "\ndelete table " + t + "\n";
  if (networks.empty()) return out;
  out += "table " + t + " {\n";
  // What a container may reach on the host itself: replies to what the host started (proxies
  // of published ports, answers of the DNS responder) and its own gateway's DNS. Nothing else:
  // not the host's other services or addresses, not another network's gateway or responder.
  out += "  chain input {\n    type filter hook input priority filter; policy accept;\n";
  out += "    iifname \"brth-*\" ct state established,related accept\n";
  for (auto& n : networks) {
    if (n.gateway.empty()) continue;
    for (auto proto : {"udp", "tcp"})
      out += "    iifname \"" + n.bridge + "\" ip daddr " + n.gateway + " " + proto +
             " dport 53 accept\n";
  }
  out += "    iifname \"brth-*\" drop\n  }\n";
  out += "  chain forward {\n    type filter hook forward priority filter; policy accept;\n";
  // No forwarding between two berth networks, whatever routes a guest adds: these come first,
  // before any accept of another network's replies.
  for (auto& n : networks) {
    auto br = "\"" + n.bridge + "\"";
    out += "    iifname " + br + " oifname \"brth-*\" oifname != " + br + " drop\n";
    out += "    oifname " + br + " iifname \"brth-*\" iifname != " + br + " drop\n";
  }
  for (auto& n : networks) {
    auto br = "\"" + n.bridge + "\"";
    if (n.internal) {
      // An internal network has no way out and no way in.
      out += "    iifname " + br + " oifname != " + br + " drop\n";
      out += "    oifname " + br + " iifname != " + br + " drop\n";
    } else {
      // Replies to what containers started come in; nothing else from outside does.
      out += "    oifname " + br + " ct state established,related accept\n";
      out += "    oifname " + br + " iifname != " + br + " drop\n";
    }
  }
  out += "  }\n";
  out += "  chain postrouting {\n    type nat hook postrouting priority srcnat; policy accept;\n";
  for (auto& n : networks)
    if (!n.internal)
      out += "    ip saddr " + n.subnet + " oifname != \"" + n.bridge + "\" masquerade\n";
  out += "  }\n}\n";
  return out;
}

std::string jail_script(const std::string& table, uint32_t uid_base) {
  std::string t = "inet " + table;
  std::string out = "table " + t + "\ndelete table " + t + "\n";
  out += "table " + t + " {\n";
  out += "  chain output {\n    type filter hook output priority filter; policy accept;\n";
  // 4294967295 is (uid_t)-1, never a real owner.
  out += "    meta skuid != " + std::to_string(uid_base) + "-4294967294 accept\n";
  out += "    ct state established,related accept\n";
  out += "    ip daddr 127.0.0.0/8 meta l4proto { tcp, udp } th dport 53 accept\n";
  out += "    ip6 daddr ::1 meta l4proto { tcp, udp } th dport 53 accept\n";
  out += "    fib daddr type local drop\n";
  out += "    oifname \"brth-*\" drop\n  }\n}\n";
  return out;
}

caf::error apply_nft(const std::string& script) {
  // The script goes in on stdin, from a memory file (no temporary file, no pipe to fill).
  os::unique_fd fd(::memfd_create("berth-nft", MFD_CLOEXEC));
  if (!fd) return make_error(errc::io, std::string("memfd_create: ") + std::strerror(errno));
  std::size_t done = 0;
  while (done < script.size()) {
    auto n = ::write(fd.get(), script.data() + done, script.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return make_error(errc::io, std::string("write nft script: ") + std::strerror(errno));
    }
    done += static_cast<std::size_t>(n);
  }
  ::lseek(fd.get(), 0, SEEK_SET);
  auto r = run({nft_tool(), "-f", "-"}, fd.get());
  if (!r) return std::move(r.error());
  if (r->exit_code != 0) return make_error(errc::io, "nft -f -: " + trimmed(r->errors));
  return {};
}

caf::error delete_nft_table(const std::string& table) {
  auto t = "netdev " + table;
  return apply_nft(nft_script(table, {}) + "table " + t + "\ndelete table " + t + "\n");
}

caf::error enable_ip_forward() {
  const char* path = "/proc/sys/net/ipv4/ip_forward";
  try {
    if (trimmed(os::read_file(path, 64)) == "1") return {};
  } catch (const std::exception&) {
  }
  os::unique_fd fd(::open(path, O_WRONLY | O_CLOEXEC));
  if (!fd || ::write(fd.get(), "1\n", 2) != 2)
    return make_error(errc::io, std::string("cannot enable ") + path + ": " + std::strerror(errno));
  return {};
}

}  // namespace berth::net::host

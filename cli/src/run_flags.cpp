// run_flags.cpp: the run/create flag list and the parsers of -p, -v, --mount, --tmpfs and the
// scalar flags, all failing with exit code 125 as docker run does.
#include "run_flags.hpp"

#include "error.hpp"
#include "format.hpp"
#include "health_flags.hpp"

#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <optional>
#include <utility>

namespace berth::cli {

namespace {

[[noreturn]] void fail(const std::string& message) {
  throw cli_error(125, message);
}

// A port or a range of ports "8000" / "8000-8001"; {first, last}.
std::pair<uint16_t, uint16_t> parse_port_range(const std::string& text, const std::string& flag) {
  auto bad = [&] { return cli_error(125, "invalid port \"" + text + "\" in -p " + flag); };
  auto one = [&](const std::string& t) -> uint16_t {
    if (t.empty() || t.size() > 5 || t.find_first_not_of("0123456789") != std::string::npos)
      throw bad();
    auto v = std::stoul(t);
    if (v > 65535 || v == 0) throw bad();
    return static_cast<uint16_t>(v);
  };
  auto dash = text.find('-');
  if (dash == std::string::npos) {
    auto v = one(text);
    return {v, v};
  }
  auto a = one(text.substr(0, dash));
  auto b = one(text.substr(dash + 1));
  if (b < a) throw bad();
  return {a, b};
}

// The whole of `text` as a number, or nullopt ("1.5x", "" and "nan" are not numbers).
std::optional<double> whole_number(const std::string& text) {
  if (text.empty()) return std::nullopt;
  char* end = nullptr;
  double v = std::strtod(text.c_str(), &end);
  if (end != text.c_str() + text.size() || !std::isfinite(v)) return std::nullopt;
  return v;
}

// The whole of `text` as an int, or nullopt.
std::optional<int32_t> whole_int(const std::string& text) {
  if (text.empty()) return std::nullopt;
  char* end = nullptr;
  errno = 0;
  long v = std::strtol(text.c_str(), &end, 10);
  if (end != text.c_str() + text.size() || errno != 0 || v < INT32_MIN || v > INT32_MAX)
    return std::nullopt;
  return static_cast<int32_t>(v);
}

// -e values: KEY=VALUE as given, KEY alone from our environment (or dropped when unset).
std::vector<std::string> env_from(const std::vector<std::string>& values) {
  std::vector<std::string> out;
  for (auto& e : values) {
    if (e.empty() || e[0] == '=') fail("invalid environment variable: " + e);
    if (e.find('=') != std::string::npos) {
      out.push_back(e);
    } else if (const char* v = std::getenv(e.c_str())) {
      out.push_back(e + "=" + v);
    }
  }
  return out;
}

// --label values: KEY=VALUE, KEY alone for an empty value; a later one of a key wins.
std::map<std::string, std::string> labels_from(const std::vector<std::string>& values) {
  std::map<std::string, std::string> out;
  for (auto& l : values) {
    auto eq = l.find('=');
    auto key = l.substr(0, eq);
    if (key.empty()) fail("invalid label '" + l + "': empty name");
    out[key] = eq == std::string::npos ? std::string() : l.substr(eq + 1);
  }
  return out;
}

// --log-opt values: KEY=VALUE, checked by the parser berthd uses too; a later one of a key wins.
std::map<std::string, std::string> log_opts_from(const std::vector<std::string>& values) {
  std::map<std::string, std::string> out;
  for (auto& o : values) {
    auto eq = o.find('=');
    if (eq == std::string::npos || eq == 0)
      fail("invalid --log-opt '" + o + "': use KEY=VALUE (max-size=10m, max-file=3)");
    out[o.substr(0, eq)] = o.substr(eq + 1);
  }
  std::string why;
  if (!api::parse_log_options(out, why)) fail(why);
  return out;
}

}  // namespace

std::vector<flag> run_flags(bool with_detach) {
  std::vector<flag> f = {
      {"name", 0, true, "NAME", "Assign a name to the container"},
      {"env", 'e', true, "KEY=VALUE", "Set an environment variable (KEY alone: take it from here)"},
      {"workdir", 'w', true, "DIR", "Working directory inside the container"},
      {"user", 'u', true, "USER[:GROUP]", "Username or UID, optionally with group or GID"},
      {"entrypoint", 0, true, "CMD", "Overwrite the image's entrypoint"},
      {"hostname", 'h', true, "NAME", "Container host name (default: its short id)"},
      {"label", 'l', true, "KEY[=VALUE]", "Set a label on the container (over the image's)"},
      {"cpus", 0, true, "N", "Number of vCPUs (rounded up; default 1)"},
      {"memory", 'm', true, "SIZE", "Memory for the workload, e.g. 512m or 2g (default 512m)"},
      {"rm", 0, false, "", "Remove the container when it exits"},
      {"pull", 0, true, "WHEN", "Pull the image: missing (default), always or never"},
      {"platform", 0, true, "OS/ARCH", "Platform of the image to pull (default linux/amd64)"},
      {"interactive", 'i', false, "", "Keep stdin open and send it to the container"},
      {"tty", 't', false, "", "Give the container a terminal"},
      {"init", 0, false, "", "Run a tiny init as PID 1 that reaps zombies and forwards signals"},
      {"restart", 0, true, "POLICY", "no, on-failure[:N], always or unless-stopped (default no)"},
      {"log-opt", 0, true, "KEY=VALUE",
       "Output log rotation: max-size=SIZE (k, m, g; default 20m), max-file=N (default 2)"},
      {"read-only", 0, false, "", "Mount the container's root filesystem read-only"},
      {"volume", 'v', true, "SRC:DST[:ro]",
       "Mount a named volume or a host directory (absolute SRC)"},
      {"mount", 0, true, "type=..,src=..,dst=..",
       "Mount a volume, bind or tmpfs (Docker's --mount syntax)"},
      {"tmpfs", 0, true, "PATH[:OPTS]", "Mount a tmpfs at PATH"},
      {"stop-signal", 0, true, "SIGNAL",
       "Signal that stops the container (default: the image's, or SIGTERM)"},
      {"stop-timeout", 0, true, "SECONDS", "Seconds stop waits before SIGKILL (default 10)"},
      {"network", 0, true, "NETWORK",
       "Connect to a network: a name, none or user (default: default)"},
      {"ip", 0, true, "IPV4", "IPv4 address on that network (default: the next free one)"},
      {"network-alias", 0, true, "NAME", "Another name the container answers to on its network"},
      {"dns", 0, true, "IP", "DNS server for the container (default: the network's resolver)"},
      {"publish", 'p', true, "[IP:]HOST:CTR[/PROTO]",
       "Publish a container port on the host (HOST may be omitted: a free port)"},
      {"publish-all", 'P', false, "", "Publish every port the image exposes on free host ports"},
  };
  for (auto& h : health_flags()) f.push_back(h);
  if (with_detach)
    f.push_back({"detach", 'd', false, "", "Run in the background and print the container ID"});
  return f;
}

std::vector<api::port_mapping> parse_publish_flag(const std::string& text) {
  std::string body = text;
  std::string proto = "tcp";
  if (auto slash = body.rfind('/'); slash != std::string::npos) {
    proto = body.substr(slash + 1);
    body = body.substr(0, slash);
    if (proto != "tcp" && proto != "udp")
      fail("invalid protocol \"" + proto + "\" in -p " + text + " (tcp or udp)");
  }
  std::string host_ip, host_part, ctr_part;
  auto last = body.rfind(':');
  if (last == std::string::npos) {
    ctr_part = body;
  } else {
    ctr_part = body.substr(last + 1);
    auto rest = body.substr(0, last);
    auto first = rest.rfind(':');
    if (first == std::string::npos) {
      host_part = rest;
    } else {
      host_ip = rest.substr(0, first);
      host_part = rest.substr(first + 1);
      if (host_ip.size() >= 2 && host_ip.front() == '[')
        fail("IPv6 host addresses are not supported: -p " + text);
    }
  }
  auto ctr = parse_port_range(ctr_part, text);
  std::pair<uint16_t, uint16_t> host{0, 0};
  if (!host_part.empty()) host = parse_port_range(host_part, text);
  std::size_t n = static_cast<std::size_t>(ctr.second - ctr.first) + 1;
  if (!host_part.empty() && static_cast<std::size_t>(host.second - host.first) + 1 != n) {
    // A host range for one container port: Docker takes a free one of them; berth the first.
    if (n != 1) fail("host and container port ranges differ in length: -p " + text);
    host.second = host.first;
  }
  std::vector<api::port_mapping> out;
  for (std::size_t i = 0; i < n; ++i) {
    api::port_mapping m;
    m.host_ip = host_ip;
    m.host_port = host_part.empty() ? 0 : static_cast<uint16_t>(host.first + i);
    m.container_port = static_cast<uint16_t>(ctr.first + i);
    m.protocol = proto;
    out.push_back(m);
  }
  return out;
}

api::mount parse_volume_flag(const std::string& text) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  for (std::size_t pos; (pos = text.find(':', start)) != std::string::npos; start = pos + 1)
    parts.push_back(text.substr(start, pos - start));
  parts.push_back(text.substr(start));
  api::mount m;
  if (parts.size() == 1) fail("invalid volume \"" + text + "\": anonymous volumes need SRC:DST");
  if (parts.size() > 3) fail("invalid volume \"" + text + "\": use SRC:DST[:ro]");
  m.source = parts[0];
  m.target = parts[1];
  m.type = !m.source.empty() && m.source[0] == '/' ? "bind" : "volume";
  if (parts.size() == 3) {
    if (parts[2] == "ro")
      m.readonly = true;
    else if (parts[2] != "rw")
      fail("invalid volume mode \"" + parts[2] + "\" (ro or rw)");
  }
  return m;
}

api::mount parse_mount_flag(const std::string& text) {
  api::mount m;
  m.type = "volume";
  std::string size, mode;
  std::size_t start = 0;
  while (start <= text.size()) {
    auto comma = text.find(',', start);
    auto field = text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    auto eq = field.find('=');
    auto key = field.substr(0, eq);
    auto value = eq == std::string::npos ? std::string() : field.substr(eq + 1);
    if (key == "type")
      m.type = value;
    else if (key == "source" || key == "src")
      m.source = value;
    else if (key == "target" || key == "dst" || key == "destination")
      m.target = value;
    else if (key == "readonly" || key == "ro")
      m.readonly = value.empty() || value == "true" || value == "1";
    else if (key == "tmpfs-size")
      size = value;
    else if (key == "tmpfs-mode")
      mode = value;
    else if (!key.empty())
      fail("unknown --mount field: " + key);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  if (m.type == "tmpfs") {
    if (!size.empty()) m.options = "size=" + size;
    if (!mode.empty()) m.options += (m.options.empty() ? "" : ",") + std::string("mode=") + mode;
  }
  return m;
}

api::mount parse_tmpfs_flag(const std::string& text) {
  api::mount m;
  m.type = "tmpfs";
  auto colon = text.find(':');
  m.target = text.substr(0, colon);
  if (colon != std::string::npos) m.options = text.substr(colon + 1);
  return m;
}

run_options run_options_from(const parsed& p) {
  run_options out;
  auto& spec = out.spec;
  spec.image = p.positionals.at(0);
  spec.cmd.assign(p.positionals.begin() + 1, p.positionals.end());
  spec.name = p.get("name");
  spec.env = env_from(p.all("env"));
  spec.workdir = p.get("workdir");
  spec.user = p.get("user");
  spec.hostname = p.get("hostname");
  spec.labels = labels_from(p.all("label"));
  spec.log_opts = log_opts_from(p.all("log-opt"));
  if (p.has("entrypoint")) {
    spec.entrypoint_set = true;
    spec.entrypoint = {p.get("entrypoint")};
  }
  if (p.has("cpus")) {
    auto cpus = whole_number(p.get("cpus"));
    if (!cpus) fail("invalid --cpus value: " + p.get("cpus"));
    if (*cpus <= 0) fail("--cpus must be positive");
    spec.cpus = *cpus;
  }
  if (p.has("memory")) {
    try {
      spec.memory = parse_memory(p.get("memory"));
    } catch (const std::exception&) {
      fail("invalid --memory value: " + p.get("memory"));
    }
  }
  spec.auto_remove = p.has("rm");
  spec.tty = p.has("tty");
  spec.open_stdin = p.has("interactive");
  spec.init = p.has("init");
  spec.restart = p.get("restart");
  auto policy = api::parse_restart_policy(spec.restart);
  if (!policy) fail(api::invalid_restart_policy(spec.restart));
  if (spec.auto_remove && policy->name != "no") fail("conflicting options: --restart and --rm");
  spec.read_only = p.has("read-only");
  for (auto& v : p.all("volume")) spec.mounts.push_back(parse_volume_flag(v));
  for (auto& v : p.all("mount")) spec.mounts.push_back(parse_mount_flag(v));
  for (auto& t : p.all("tmpfs")) spec.mounts.push_back(parse_tmpfs_flag(t));
  spec.network = p.get("network");
  spec.ip = p.get("ip");
  spec.network_aliases = p.all("network-alias");
  spec.dns = p.all("dns");
  for (auto& v : p.all("publish")) {
    auto ports = parse_publish_flag(v);
    spec.ports.insert(spec.ports.end(), ports.begin(), ports.end());
  }
  spec.publish_all = p.has("publish-all");
  spec.stop_signal = p.get("stop-signal");
  if (p.has("stop-timeout")) {
    auto t = whole_int(p.get("stop-timeout"));
    if (!t || *t < -1) fail("invalid --stop-timeout value: " + p.get("stop-timeout"));
    spec.stop_timeout = *t;
  }
  try {
    spec.healthcheck = healthcheck_from(p);
  } catch (const usage_error& e) {
    fail(e.what());
  }
  out.detach = p.has("detach");
  out.pull = p.get("pull", "missing");
  if (out.pull != "missing" && out.pull != "always" && out.pull != "never")
    fail("invalid --pull value \"" + out.pull + "\" (missing, always or never)");
  out.platform = p.get("platform");
  return out;
}

}  // namespace berth::cli

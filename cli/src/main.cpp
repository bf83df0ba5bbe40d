// berth: the command line. Speaks msgpack-RPC to berthd (docs/protocol.md) over the socket
// named by -H/--host or BERTH_HOST. Commands, flags, output and exit codes follow Docker's,
// so that `berth run --rm busybox echo hi` does what a Docker user expects; `run` exits with the
// container's exit code, 125 when berth itself failed, 126/127 when the command could not be
// executed or found.
#include "args.hpp"
#include "copy.hpp"
#include "copy_plan.hpp"
#include "format.hpp"
#include "health_flags.hpp"
#include "stream_io.hpp"

#include "berth/rpc/api.hpp"
#include "berth/rpc/client.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <deque>
#include <filesystem>
#include <functional>
#include <map>
#include <thread>
#include <iostream>
#include <nlohmann/json.hpp>

namespace fs = std::filesystem;
using namespace berth;
using namespace berth::cli;
using json = nlohmann::json;

namespace {

constexpr const char* default_host = "unix:///run/berth/berthd.sock";

/// An error to report and the exit code it maps to.
struct cli_error : std::runtime_error {
  int code;
  cli_error(int c, const std::string& msg) : std::runtime_error(msg), code(c) {}
};

struct context {
  std::string host;
  rpc::client& conn() {
    if (!client_) client_.emplace(rpc::client::connect(host));
    return *client_;
  }
  std::optional<rpc::client> client_;
};

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Exit code for a daemon error in run/create/start, as docker run does.
int run_exit_code(const rpc::call_error& e) {
  if (e.code() == errc::exec_not_found) return 127;
  if (e.code() == errc::exec_denied) return 126;
  return 125;
}

// Exit codes of image pull and push, distinct per kind of failure so scripts can tell them
// apart (the README lists them).
int image_exit_code(const rpc::call_error& e) {
  switch (e.code()) {
    case errc::not_found: return 2;         // no such image or tag
    case errc::no_such_platform: return 3;  // the image exists, not for this platform
    case errc::unauthorized: return 4;      // authentication required or refused
    case errc::untrusted: return 5;         // the registry's certificate is not trusted
    case errc::protocol: return 6;          // digest mismatch or a malformed answer: nothing stored
    case errc::io: return 7;                // disk full or another write error: nothing half-written kept
    case errc::unavailable: return 8;       // the registry did not answer
    case errc::invalid_argument: return 9;  // a malformed reference or platform
    default: return 1;
  }
}

std::string short_id(const std::string& id) {
  auto s = id.rfind("sha256:", 0) == 0 ? id.substr(7) : id;
  return s.substr(0, 12);
}

// ---------------------------------------------------------------------------------------------
// Commands

struct command {
  std::string name;
  std::string usage;    ///< "[OPTIONS] IMAGE [COMMAND] [ARG...]"
  std::string summary;
  std::vector<flag> flags;
  bool stop_at_positional = false;
  std::size_t min_args = 0;
  std::size_t max_args = SIZE_MAX;
  std::function<int(context&, const parsed&)> run;
};

std::string help_of(const std::string& prefix, const command& c) {
  auto flags = c.flags;
  flags.push_back({"help", 0, false, "", "Print usage"});
  return "Usage:  " + prefix + c.name + " " + c.usage + "\n\n" + c.summary + "\n\n" + describe_flags(flags);
}

std::vector<flag> run_flags(bool with_run_only) {
  std::vector<flag> f = {
      {"name", 0, true, "NAME", "Assign a name to the container"},
      {"env", 'e', true, "KEY=VALUE", "Set an environment variable (KEY alone: take it from here)"},
      {"workdir", 'w', true, "DIR", "Working directory inside the container"},
      {"user", 'u', true, "USER[:GROUP]", "Username or UID, optionally with group or GID"},
      {"entrypoint", 0, true, "CMD", "Overwrite the image's entrypoint"},
      {"hostname", 'h', true, "NAME", "Container host name (default: its short id)"},
      {"cpus", 0, true, "N", "Number of vCPUs (rounded up; default 1)"},
      {"memory", 'm', true, "SIZE", "Memory for the workload, e.g. 512m or 2g (default 512m)"},
      {"rm", 0, false, "", "Remove the container when it exits"},
      {"pull", 0, true, "WHEN", "Pull the image: missing (default), always or never"},
      {"platform", 0, true, "OS/ARCH", "Platform of the image to pull (default linux/amd64)"},
      {"interactive", 'i', false, "", "Keep stdin open and send it to the container"},
      {"tty", 't', false, "", "Give the container a terminal"},
      {"init", 0, false, "", "Run a tiny init as PID 1 that reaps zombies and forwards signals"},
      {"restart", 0, true, "POLICY", "no, on-failure[:N], always or unless-stopped (default no)"},
      {"read-only", 0, false, "", "Mount the container's root filesystem read-only"},
      {"volume", 'v', true, "SRC:DST[:ro]", "Mount a named volume or a host directory (absolute SRC)"},
      {"mount", 0, true, "type=..,src=..,dst=..", "Mount a volume, bind or tmpfs (Docker's --mount syntax)"},
      {"tmpfs", 0, true, "PATH[:OPTS]", "Mount a tmpfs at PATH"},
      {"stop-signal", 0, true, "SIGNAL", "Signal that stops the container (default: the image's, or SIGTERM)"},
      {"stop-timeout", 0, true, "SECONDS", "Seconds stop waits before SIGKILL (default 10)"},
      {"network", 0, true, "NETWORK", "Connect to a network: a name, none or user (default: default)"},
      {"ip", 0, true, "IPV4", "IPv4 address on that network (default: the next free one)"},
      {"network-alias", 0, true, "NAME", "Another name the container answers to on its network"},
      {"dns", 0, true, "IP", "DNS server for the container (default: the network's resolver)"},
      {"publish", 'p', true, "[IP:]HOST:CTR[/PROTO]", "Publish a container port on the host (HOST may be omitted: a free port)"},
      {"publish-all", 'P', false, "", "Publish every port the image exposes on free host ports"},
  };
  for (auto& h : health_flags()) f.push_back(h);
  if (with_run_only) f.push_back({"detach", 'd', false, "", "Run in the background and print the container ID"});
  return f;
}

// A port or a range of ports "8000" / "8000-8001"; {first, last}.
std::pair<uint16_t, uint16_t> parse_port_range(const std::string& text, const std::string& flag, bool zero_ok) {
  auto bad = [&] { return cli_error(125, "invalid port \"" + text + "\" in -p " + flag); };
  auto one = [&](const std::string& t) -> uint16_t {
    if (t.empty() || t.size() > 5 || t.find_first_not_of("0123456789") != std::string::npos) throw bad();
    auto v = std::stoul(t);
    if (v > 65535 || (v == 0 && !zero_ok)) throw bad();
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

// -p [HOST_IP:][HOST_PORT:]CONTAINER_PORT[/tcp|udp], ports or equal-length ranges.
std::vector<api::port_mapping> parse_publish_flag(const std::string& text) {
  std::string body = text;
  std::string proto = "tcp";
  if (auto slash = body.rfind('/'); slash != std::string::npos) {
    proto = body.substr(slash + 1);
    body = body.substr(0, slash);
    if (proto != "tcp" && proto != "udp")
      throw cli_error(125, "invalid protocol \"" + proto + "\" in -p " + text + " (tcp or udp)");
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
      if (host_ip.size() >= 2 && host_ip.front() == '[') throw cli_error(125, "IPv6 host addresses are not supported: -p " + text);
    }
  }
  auto ctr = parse_port_range(ctr_part, text, false);
  std::pair<uint16_t, uint16_t> host{0, 0};
  if (!host_part.empty()) host = parse_port_range(host_part, text, false);
  std::size_t n = static_cast<std::size_t>(ctr.second - ctr.first) + 1;
  if (!host_part.empty() && static_cast<std::size_t>(host.second - host.first) + 1 != n) {
    // A host range for one container port: Docker takes a free one of them; berth the first.
    if (n != 1) throw cli_error(125, "host and container port ranges differ in length: -p " + text);
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

// -v SRC:DST[:ro|rw]: a named volume, or a host directory when SRC is an absolute path.
api::mount parse_volume_flag(const std::string& text) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  for (std::size_t pos; (pos = text.find(':', start)) != std::string::npos; start = pos + 1)
    parts.push_back(text.substr(start, pos - start));
  parts.push_back(text.substr(start));
  api::mount m;
  if (parts.size() == 1) throw cli_error(125, "invalid volume \"" + text + "\": anonymous volumes need SRC:DST");
  if (parts.size() > 3) throw cli_error(125, "invalid volume \"" + text + "\": use SRC:DST[:ro]");
  m.source = parts[0];
  m.target = parts[1];
  m.type = !m.source.empty() && m.source[0] == '/' ? "bind" : "volume";
  if (parts.size() == 3) {
    if (parts[2] == "ro") m.readonly = true;
    else if (parts[2] != "rw") throw cli_error(125, "invalid volume mode \"" + parts[2] + "\" (ro or rw)");
  }
  return m;
}

// --mount type=volume|bind|tmpfs,source=..,target=..[,readonly][,tmpfs-size=..][,tmpfs-mode=..]
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
    if (key == "type") m.type = value;
    else if (key == "source" || key == "src") m.source = value;
    else if (key == "target" || key == "dst" || key == "destination") m.target = value;
    else if (key == "readonly" || key == "ro") m.readonly = value.empty() || value == "true" || value == "1";
    else if (key == "tmpfs-size") size = value;
    else if (key == "tmpfs-mode") mode = value;
    else if (!key.empty()) throw cli_error(125, "unknown --mount field: " + key);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  if (m.type == "tmpfs") {
    if (!size.empty()) m.options = "size=" + size;
    if (!mode.empty()) m.options += (m.options.empty() ? "" : ",") + std::string("mode=") + mode;
  }
  return m;
}

api::container_spec spec_from(const parsed& p) {
  api::container_spec spec;
  spec.image = p.positionals.at(0);
  spec.cmd.assign(p.positionals.begin() + 1, p.positionals.end());
  spec.name = p.get("name");
  for (auto& e : p.all("env")) {
    if (e.find('=') == std::string::npos) {
      // Docker: -e KEY takes KEY from the caller's environment, or drops it.
      if (const char* v = std::getenv(e.c_str())) spec.env.push_back(e + "=" + v);
      continue;
    }
    spec.env.push_back(e);
  }
  spec.workdir = p.get("workdir");
  spec.user = p.get("user");
  spec.hostname = p.get("hostname");
  if (p.has("entrypoint")) {
    spec.entrypoint_set = true;
    spec.entrypoint = {p.get("entrypoint")};
  }
  if (p.has("cpus")) {
    try {
      spec.cpus = std::stod(p.get("cpus"));
    } catch (...) {
      throw cli_error(125, "invalid --cpus value: " + p.get("cpus"));
    }
    if (spec.cpus <= 0) throw cli_error(125, "--cpus must be positive");
  }
  if (p.has("memory")) {
    try {
      spec.memory = parse_memory(p.get("memory"));
    } catch (const std::exception&) {
      throw cli_error(125, "invalid --memory value: " + p.get("memory"));
    }
  }
  spec.auto_remove = p.has("rm");
  spec.tty = p.has("tty");
  spec.open_stdin = p.has("interactive");
  spec.init = p.has("init");
  spec.restart = p.get("restart");
  spec.read_only = p.has("read-only");
  for (auto& v : p.all("volume")) spec.mounts.push_back(parse_volume_flag(v));
  for (auto& v : p.all("mount")) spec.mounts.push_back(parse_mount_flag(v));
  for (auto& t : p.all("tmpfs")) {
    api::mount m;
    m.type = "tmpfs";
    auto colon = t.find(':');
    m.target = t.substr(0, colon);
    if (colon != std::string::npos) m.options = t.substr(colon + 1);
    spec.mounts.push_back(m);
  }
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
    try {
      spec.stop_timeout = std::stoi(p.get("stop-timeout"));
    } catch (...) {
      throw cli_error(125, "invalid --stop-timeout value: " + p.get("stop-timeout"));
    }
  }
  try {
    spec.healthcheck = healthcheck_from(p);
  } catch (const usage_error& e) {
    throw cli_error(125, e.what());
  }
  return spec;
}

// Shows pull and push progress: a line per layer redrawn in place on a terminal, plain lines
// (one per status change) on a pipe.
class progress_view {
 public:
  explicit progress_view(bool quiet, FILE* out = stdout)
      : out_(out), tty_(::isatty(::fileno(out)) != 0), quiet_(quiet) {}
  void install(rpc::client& c) {
    c.on_notification = [this](const rpc::message& m) {
      if (m.method == api::notice::progress) update(rpc::arg<api::progress>(m));
    };
  }
  void update(const api::progress& p) {
    if (quiet_) return;
    auto it = std::find_if(items_.begin(), items_.end(), [&](auto& i) { return i.p.id == p.id; });
    if (it == items_.end()) {
      items_.push_back({p, clock::now(), p.current});
      it = items_.end() - 1;
    } else {
      bool changed = it->p.status != p.status;
      if (changed && (p.status == "downloading" || p.status == "uploading")) {
        it->since = clock::now();
        it->from = p.current;
      }
      it->p = p;
      if (!tty_ && !changed) return;
    }
    if (!tty_) {
      std::fprintf(out_, "%s: %s\n", p.id.c_str(), p.status.c_str());
      return;
    }
    // Redraw every line: move up to the first, rewrite each.
    if (drawn_ > 0) std::fprintf(out_, "\033[%zuA", drawn_);
    for (auto& i : items_) std::fprintf(out_, "\r\033[K%s\n", line(i).c_str());
    drawn_ = items_.size();
    std::fflush(out_);
  }

 private:
  using clock = std::chrono::steady_clock;
  struct item {
    api::progress p;
    clock::time_point since;  // when its transfer started
    uint64_t from = 0;        // bytes it had then (a resumed blob starts past 0)
  };

  // "id: downloading [=====>     ] 12.0MB/40.0MB 3.1MB/s".
  static std::string line(const item& i) {
    const auto& p = i.p;
    std::string out = p.id + ": " + p.status;
    if ((p.status == "downloading" || p.status == "uploading") && p.total > 0) {
      int width = 30;
      int filled = static_cast<int>(static_cast<double>(p.current) / static_cast<double>(p.total) * width);
      out += " [" + std::string(static_cast<std::size_t>(std::clamp(filled, 0, width)), '=') + ">" +
             std::string(static_cast<std::size_t>(width - std::clamp(filled, 0, width)), ' ') + "] " +
             human_size(p.current) + "/" + human_size(p.total);
      auto secs = std::chrono::duration<double>(clock::now() - i.since).count();
      if (secs > 0.2 && p.current > i.from)
        out += " " + human_size(static_cast<uint64_t>(static_cast<double>(p.current - i.from) / secs)) + "/s";
    }
    return out;
  }
  FILE* out_;
  bool tty_;
  bool quiet_;
  std::vector<item> items_;
  std::size_t drawn_ = 0;
};

// Pulls an image with progress on stderr (stdout is the container's); throws cli_error(125).
void pull_for_run(rpc::client& c, const std::string& reference, const std::string& platform) {
  progress_view view(false, stderr);
  view.install(c);
  try {
    auto img = c.call<api::image_info>(api::method::image_pull, api::pull_request{reference, platform});
    std::fprintf(stderr, "Status: Downloaded newer image for %s\n",
                 img.tags.empty() ? reference.c_str() : img.tags.front().c_str());
  } catch (const rpc::call_error& e) {
    throw cli_error(125, e.what());
  }
  c.on_notification = nullptr;
}

int cmd_run(context& ctx, const parsed& p, bool detach_default, bool create_only) {
  auto spec = spec_from(p);
  auto& c = ctx.conn();
  auto pull = p.get("pull", "missing");
  if (pull != "missing" && pull != "always" && pull != "never")
    throw cli_error(125, "invalid --pull value \"" + pull + "\" (missing, always or never)");
  if (pull == "always") pull_for_run(c, spec.image, p.get("platform"));
  api::created created;
  try {
    created = c.call<api::created>(api::method::container_create, spec);
  } catch (const rpc::call_error& e) {
    // As docker run: a missing image is pulled, then the container is created.
    if (e.code() != errc::not_found || pull != "missing" || std::string(e.what()).rfind("No such image", 0) != 0)
      throw cli_error(125, e.what());
    std::fprintf(stderr, "Unable to find image '%s' locally\n", spec.image.c_str());
    pull_for_run(c, spec.image, p.get("platform"));
    try {
      created = c.call<api::created>(api::method::container_create, spec);
    } catch (const rpc::call_error& again) {
      throw cli_error(125, again.what());
    }
  }
  if (create_only) {
    std::printf("%s\n", created.id.c_str());
    return 0;
  }
  bool detach = detach_default || p.has("detach");
  api::container_ref ref{created.id};
  if (detach) {
    try {
      c.call<api::empty>(api::method::container_start, ref);
    } catch (const rpc::call_error& e) {
      throw cli_error(run_exit_code(e), e.what());
    }
    std::printf("%s\n", created.id.c_str());
    return 0;
  }
  stream_printer printer;
  printer.install(c);
  auto stream = c.call<api::stream>(api::method::container_attach, api::attach_request{created.id, spec.open_stdin}).stream_id;
  printer.set_stream(stream);
  auto start_id = c.send(api::method::container_start, ref);
  auto wait_id = c.send(api::method::container_wait, ref);
  // Until it runs, nothing is sent: a failed start is reported as docker run does.
  while (!c.has_response(start_id)) c.poll_once(std::nullopt);
  try {
    rpc::result_as<api::empty>(c.wait(start_id));
  } catch (const rpc::call_error& e) {
    throw cli_error(run_exit_code(e), e.what());
  }
  stream_options opts;
  opts.send_stdin = spec.open_stdin;
  opts.tty = spec.tty;
  if (!spec.tty) opts.kill_container = created.id;
  run_stream(c, printer, stream, opts, [&] { return c.has_response(wait_id); });
  return rpc::result_as<api::exit_info>(c.wait(wait_id)).exit_code;
}

int cmd_start(context& ctx, const parsed& p) {
  auto& c = ctx.conn();
  if (p.has("attach") || p.has("interactive")) {
    if (p.positionals.size() != 1) throw cli_error(1, "you cannot start and attach multiple containers at once");
    auto info = c.call<api::container_info>(api::method::container_inspect, api::container_ref{p.positionals[0]});
    bool send_stdin = p.has("interactive") && info.open_stdin;
    stream_printer printer;
    printer.install(c);
    auto stream = c.call<api::stream>(api::method::container_attach, api::attach_request{info.id, send_stdin}).stream_id;
    printer.set_stream(stream);
    api::container_ref ref{info.id};
    auto start_id = c.send(api::method::container_start, ref);
    auto wait_id = c.send(api::method::container_wait, ref);
    while (!c.has_response(start_id)) c.poll_once(std::nullopt);
    try {
      rpc::result_as<api::empty>(c.wait(start_id));
    } catch (const rpc::call_error& e) {
      throw cli_error(run_exit_code(e), e.what());
    }
    stream_options opts;
    opts.send_stdin = send_stdin;
    opts.tty = info.tty;
    if (!info.tty) opts.kill_container = info.id;
    run_stream(c, printer, stream, opts, [&] { return c.has_response(wait_id); });
    return rpc::result_as<api::exit_info>(c.wait(wait_id)).exit_code;
  }
  int rc = 0;
  for (auto& name : p.positionals) {
    try {
      c.call<api::empty>(api::method::container_start, api::container_ref{name});
      std::printf("%s\n", name.c_str());
    } catch (const rpc::call_error& e) {
      std::fprintf(stderr, "Error response from daemon: %s\n", e.what());
      rc = 1;
    }
  }
  return rc;
}

int cmd_attach(context& ctx, const parsed& p) {
  auto& c = ctx.conn();
  auto info = c.call<api::container_info>(api::method::container_inspect, api::container_ref{p.positionals[0]});
  if (info.state != "running") throw cli_error(1, "You cannot attach to a stopped container, start it first");
  bool send_stdin = !p.has("no-stdin") && info.open_stdin;
  stream_printer printer;
  printer.install(c);
  auto stream = c.call<api::stream>(api::method::container_attach, api::attach_request{info.id, send_stdin}).stream_id;
  printer.set_stream(stream);
  auto wait_id = c.send(api::method::container_wait, api::container_ref{info.id});
  stream_options opts;
  opts.send_stdin = send_stdin;
  opts.tty = info.tty;
  if (!info.tty && !p.has("no-sig-proxy")) opts.kill_container = info.id;
  run_stream(c, printer, stream, opts, [&] { return c.has_response(wait_id); });
  return rpc::result_as<api::exit_info>(c.wait(wait_id)).exit_code;
}

int cmd_exec(context& ctx, const parsed& p) {
  auto& c = ctx.conn();
  api::exec_request req;
  req.container = p.positionals[0];
  req.cmd.assign(p.positionals.begin() + 1, p.positionals.end());
  for (auto& e : p.all("env")) {
    if (e.find('=') == std::string::npos) {
      if (const char* v = std::getenv(e.c_str())) req.env.push_back(e + "=" + v);
      continue;
    }
    req.env.push_back(e);
  }
  req.workdir = p.get("workdir");
  req.user = p.get("user");
  req.tty = p.has("tty");
  req.open_stdin = p.has("interactive");
  req.detach = p.has("detach");
  if (auto size = terminal_size(); size && req.tty) {
    req.rows = size->first;
    req.cols = size->second;
  }
  // Installed before the call: the stream's first notifications (a short command's whole
  // output and its end) can arrive in the same read as the answer, and would be lost otherwise.
  stream_printer printer;
  printer.install(c);
  api::exec_started started;
  try {
    started = c.call<api::exec_started>(api::method::container_exec, req);
  } catch (const rpc::call_error& e) {
    throw cli_error(run_exit_code(e), e.what());
  }
  if (req.detach) return 0;
  printer.set_stream(started.stream_id);
  stream_options opts;
  opts.send_stdin = req.open_stdin;
  opts.tty = req.tty;
  run_stream(c, printer, started.stream_id, opts, [] { return true; });
  return printer.exit_code().value_or(126);
}

int cmd_kill(context& ctx, const parsed& p) {
  auto& c = ctx.conn();
  int rc = 0;
  for (auto& name : p.positionals) {
    try {
      c.call<api::empty>(api::method::container_kill, api::kill_request{name, p.get("signal", "SIGKILL")});
      std::printf("%s\n", name.c_str());
    } catch (const rpc::call_error& e) {
      std::fprintf(stderr, "Error response from daemon: %s\n", e.what());
      rc = 1;
    }
  }
  return rc;
}

int32_t timeout_flag(const parsed& p) {
  if (!p.has("time")) return -2;
  try {
    return std::stoi(p.get("time"));
  } catch (...) {
    throw cli_error(1, "invalid --time value: " + p.get("time"));
  }
}

int cmd_restart(context& ctx, const parsed& p) {
  auto& c = ctx.conn();
  int rc = 0;
  for (auto& name : p.positionals) {
    try {
      c.call<api::empty>(api::method::container_restart, api::stop_request{name, timeout_flag(p), ""});
      std::printf("%s\n", name.c_str());
    } catch (const rpc::call_error& e) {
      std::fprintf(stderr, "Error response from daemon: %s\n", e.what());
      rc = 1;
    }
  }
  return rc;
}

int cmd_stop(context& ctx, const parsed& p) {
  auto timeout = timeout_flag(p);
  auto& c = ctx.conn();
  // Stop them all at once, then report each.
  std::vector<std::pair<std::string, uint32_t>> calls;
  for (auto& name : p.positionals)
    calls.emplace_back(name, c.send(api::method::container_stop, api::stop_request{name, timeout, p.get("signal")}));
  int rc = 0;
  for (auto& [name, id] : calls) {
    try {
      rpc::result_as<api::empty>(c.wait(id));
      std::printf("%s\n", name.c_str());
    } catch (const rpc::call_error& e) {
      std::fprintf(stderr, "Error response from daemon: %s\n", e.what());
      rc = 1;
    }
  }
  return rc;
}

int cmd_rm(context& ctx, const parsed& p) {
  auto& c = ctx.conn();
  int rc = 0;
  for (auto& name : p.positionals) {
    try {
      c.call<api::empty>(api::method::container_remove, api::remove_request{name, p.has("force")});
      std::printf("%s\n", name.c_str());
    } catch (const rpc::call_error& e) {
      std::fprintf(stderr, "Error response from daemon: %s\n", e.what());
      rc = 1;
    }
  }
  return rc;
}

int cmd_wait(context& ctx, const parsed& p) {
  auto& c = ctx.conn();
  int rc = 0;
  for (auto& name : p.positionals) {
    try {
      auto info = c.call<api::exit_info>(api::method::container_wait, api::container_ref{name});
      std::printf("%d\n", info.exit_code);
    } catch (const rpc::call_error& e) {
      std::fprintf(stderr, "Error response from daemon: %s\n", e.what());
      rc = 1;
    }
  }
  return rc;
}

// "127.0.0.1:8080->80/tcp, 0.0.0.0:5353->53/udp" as docker ps shows published ports.
std::string ports_text(const std::vector<api::port_mapping>& ports) {
  std::string out;
  for (auto& m : ports) {
    if (!out.empty()) out += ", ";
    out += (m.host_ip.empty() ? "0.0.0.0" : m.host_ip) + ":" + std::to_string(m.host_port) + "->" +
           std::to_string(m.container_port) + "/" + m.protocol;
  }
  return out;
}

json network_settings_json(const api::container_info& c) {
  json networks = json::object();
  for (auto& e : c.networks)
    networks[e.network] = {{"IPAddress", e.ip}, {"IPPrefixLen", e.prefix_len}, {"Gateway", e.gateway},
                           {"MacAddress", e.mac}, {"Aliases", e.aliases}};
  json ports = json::object();
  for (auto& m : c.ports) {
    auto key = std::to_string(m.container_port) + "/" + m.protocol;
    if (!ports.contains(key)) ports[key] = json::array();
    ports[key].push_back({{"HostIp", m.host_ip.empty() ? "0.0.0.0" : m.host_ip},
                          {"HostPort", std::to_string(m.host_port)}});
  }
  std::string first_ip = c.networks.empty() ? std::string{} : c.networks[0].ip;
  return {{"NetworkMode", c.network_mode}, {"IPAddress", first_ip}, {"Networks", networks}, {"Ports", ports}};
}

// Config.Healthcheck as Docker shows it (durations in ns, zero: the default).
json healthcheck_json(const api::healthcheck& h) {
  return {{"Test", h.test}, {"Interval", h.interval}, {"Timeout", h.timeout}, {"StartPeriod", h.start_period},
          {"Retries", h.retries}};
}

// `text` with invalid UTF-8 replaced by U+FFFD: a check's output is any bytes, cut anywhere.
std::string valid_utf8(const std::string& text) {
  return json::parse(json(text).dump(-1, ' ', false, json::error_handler_t::replace)).get<std::string>();
}

// State.Health as Docker shows it.
json health_json(const api::health_state& h) {
  json log = json::array();
  for (auto& r : h.log)
    log.push_back({{"Start", rfc3339(r.start)}, {"End", rfc3339(r.end)}, {"ExitCode", r.exit_code},
                   {"Output", valid_utf8(r.output)}});
  return {{"Status", h.status}, {"FailingStreak", h.failing_streak}, {"Log", log}};
}

json container_json(const api::container_info& c) {
  json mounts = json::array();
  for (auto& m : c.mounts)
    mounts.push_back({{"Type", m.type}, {"Source", m.source}, {"Destination", m.target}, {"RW", !m.readonly},
                      {"Options", m.options}});
  json out{{"Id", c.id},
              {"Name", c.name},
              {"Image", c.image},
              {"ImageID", c.image_id},
              {"Command", c.command},
              {"Created", rfc3339(c.created)},
              {"RestartCount", c.restart_count},
              {"Mounts", mounts},
              {"Config",
               {{"Hostname", c.hostname}, {"Env", c.env}, {"WorkingDir", c.workdir}, {"User", c.user},
                {"Tty", c.tty}, {"OpenStdin", c.open_stdin}}},
              {"State",
               {{"Status", c.state},
                {"Running", c.state == "running"},
                {"ExitCode", c.exit_code},
                {"Error", c.reason},
                {"Pid", c.pid},
                {"StartedAt", rfc3339(c.started)},
                {"FinishedAt", rfc3339(c.finished)}}},
              {"NetworkSettings", network_settings_json(c)},
              {"HostConfig",
               {{"NetworkMode", c.network_mode}, {"AutoRemove", c.auto_remove}, {"NanoCpus", int64_t(c.cpus) * 1000000000}, {"Memory", c.memory},
                {"RestartPolicy", c.restart}, {"ReadonlyRootfs", c.read_only}}}};
  if (!c.healthcheck.test.empty()) out["Config"]["Healthcheck"] = healthcheck_json(c.healthcheck);
  if (!c.health.status.empty()) out["State"]["Health"] = health_json(c.health);
  return out;
}

int cmd_ps(context& ctx, const parsed& p) {
  auto list = ctx.conn().call<std::vector<api::container_info>>(api::method::container_list,
                                                                api::list_request{p.has("all")});
  if (p.has("quiet")) {
    for (auto& c : list) std::printf("%s\n", short_id(c.id).c_str());
    return 0;
  }
  if (p.get("format") == "json") {
    json out = json::array();
    for (auto& c : list) out.push_back(container_json(c));
    std::printf("%s\n", out.dump(2).c_str());
    return 0;
  }
  if (p.has("format")) throw cli_error(1, "unsupported --format (use json)");
  auto now = now_ns();
  std::printf("%-14s%-22s%-24s%-18s%-28s%-29s %s\n", "CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS",
              "NAMES");
  for (auto& c : list) {
    auto created = human_duration((now - c.created) / 1000000000) + " ago";
    auto ports = c.state == "running" ? ports_text(c.ports) : std::string{};
    std::printf("%-14s%-22s%-24s%-18s%-28s%-29s %s\n", short_id(c.id).c_str(), c.image.substr(0, 20).c_str(),
                command_text(c.command, 22).c_str(), created.c_str(),
                status_text(c.state, c.exit_code, c.started, c.finished, now, c.health.status).c_str(), ports.c_str(),
                c.name.c_str());
  }
  return 0;
}

int cmd_inspect(context& ctx, const parsed& p) {
  json out = json::array();
  int rc = 0;
  for (auto& name : p.positionals) {
    try {
      out.push_back(container_json(ctx.conn().call<api::container_info>(api::method::container_inspect, api::container_ref{name})));
    } catch (const rpc::call_error& e) {
      std::fprintf(stderr, "Error: %s\n", e.what());
      rc = 1;
    }
  }
  std::printf("%s\n", out.dump(4).c_str());
  return rc;
}

int cmd_logs(context& ctx, const parsed& p) {
  auto& c = ctx.conn();
  api::logs_request req;
  req.container = p.positionals[0];
  req.timestamps = p.has("timestamps");
  req.follow = p.has("follow");
  req.boot = p.has("boot");
  if (p.has("tail") && p.get("tail") != "all") {
    try {
      req.tail = std::stoll(p.get("tail"));
    } catch (...) {
      throw cli_error(1, "invalid --tail value: " + p.get("tail"));
    }
  }
  stream_printer printer;
  printer.timestamps = req.timestamps;
  printer.install(c);
  printer.set_stream(c.call<api::stream>(api::method::container_logs, req).stream_id);
  while (!printer.ended()) c.poll_once(std::nullopt);
  return 0;
}

int cmd_stats(context& ctx, const parsed& p) {
  auto& c = ctx.conn();
  std::vector<std::string> names = p.positionals;
  if (names.empty())
    for (auto& info : c.call<std::vector<api::container_info>>(api::method::container_list, api::list_request{false}))
      names.push_back(info.name);
  std::map<std::string, api::container_stats> previous;
  bool stream = !p.has("no-stream");
  bool json_out = p.get("format") == "json";
  for (int round = 0;; ++round) {
    std::vector<api::container_stats> now;
    for (auto& n : names) {
      try {
        now.push_back(c.call<api::container_stats>(api::method::container_stats, api::container_ref{n}));
      } catch (const rpc::call_error& e) {
        if (!stream) throw cli_error(1, e.what());
      }
    }
    if (json_out) {
      json out = json::array();
      for (auto& s : now)
        out.push_back({{"ID", s.id}, {"Name", s.name}, {"CPUNanos", s.cpu_ns}, {"CPUs", s.cpus},
                       {"MemUsage", s.memory_used}, {"MemLimit", s.memory_limit}, {"HostRSS", s.host_rss},
                       {"BlockRead", s.block_read}, {"BlockWrite", s.block_write}, {"NetRx", s.net_rx},
                       {"NetTx", s.net_tx}, {"PIDs", s.pids}});
      std::printf("%s\n", out.dump().c_str());
    } else {
      if (stream && ::isatty(STDOUT_FILENO)) std::printf("\033[2J\033[H");
      std::printf("%-14s%-20s%-9s%-22s%-9s%-12s%-22s%-22s%s\n", "CONTAINER ID", "NAME", "CPU %", "MEM USAGE / LIMIT",
                  "MEM %", "HOST RSS", "NET I/O", "BLOCK I/O", "PIDS");
      for (auto& s : now) {
        // CPU % over the interval since the last sample, like docker stats (100% = one vCPU).
        double cpu = 0;
        if (auto it = previous.find(s.id); it != previous.end() && s.time > it->second.time)
          cpu = 100.0 * static_cast<double>(s.cpu_ns - it->second.cpu_ns) / static_cast<double>(s.time - it->second.time);
        char cpu_text[16], mem_pct[16];
        std::snprintf(cpu_text, sizeof cpu_text, "%.2f%%", cpu);
        std::snprintf(mem_pct, sizeof mem_pct, "%.2f%%",
                      s.memory_limit ? 100.0 * static_cast<double>(s.memory_used) / static_cast<double>(s.memory_limit) : 0.0);
        auto mem = human_size(s.memory_used) + " / " + human_size(s.memory_limit);
        auto net = human_size(s.net_rx) + " / " + human_size(s.net_tx);
        auto blk = human_size(s.block_read) + " / " + human_size(s.block_write);
        std::printf("%-14s%-20s%-9s%-22s%-9s%-12s%-22s%-22s%u\n", short_id(s.id).c_str(), s.name.substr(0, 19).c_str(),
                    round == 0 && stream ? "--" : cpu_text, mem.c_str(), mem_pct, human_size(s.host_rss).c_str(),
                    net.c_str(), blk.c_str(), s.pids);
      }
      std::fflush(stdout);
    }
    if (!stream) return 0;
    for (auto& s : now) previous[s.id] = s;
    std::this_thread::sleep_for(std::chrono::seconds(1));
  }
}

int print_removed(const api::removed& r, const char* what) {
  for (auto& u : r.untagged) std::printf("Untagged: %s\n", u.c_str());
  if (!r.deleted.empty()) {
    std::printf("Deleted %s:\n", what);
    for (auto& d : r.deleted) std::printf("%s\n", d.c_str());
  }
  std::printf("\nTotal reclaimed space: %s\n", human_size(r.reclaimed).c_str());
  return 0;
}

bool confirm(const parsed& p, const char* question) {
  if (p.has("force")) return true;
  std::printf("%s Are you sure you want to continue? [y/N] ", question);
  std::fflush(stdout);
  std::string answer;
  std::getline(std::cin, answer);
  return answer == "y" || answer == "Y" || answer == "yes";
}

int cmd_container_prune(context& ctx, const parsed& p) {
  if (!confirm(p, "WARNING! This will remove all stopped containers.")) return 0;
  auto r = ctx.conn().call<api::removed>(api::method::container_prune, api::empty{});
  return print_removed(r, "Containers");
}

int cmd_volume_create(context& ctx, const parsed& p) {
  api::volume_create_request req;
  req.name = p.positionals.empty() ? p.get("name") : p.positionals[0];
  for (auto& o : p.all("opt")) {
    if (o.rfind("size=", 0) != 0) throw cli_error(1, "unknown volume option " + o + " (size=SIZE)");
    try {
      req.size = parse_memory(o.substr(5));
    } catch (...) {
      throw cli_error(1, "invalid size in " + o);
    }
  }
  std::printf("%s\n", ctx.conn().call<api::volume_info>(api::method::volume_create, req).name.c_str());
  return 0;
}

json volume_json(const api::volume_info& v) {
  return {{"Name", v.name}, {"Driver", v.driver}, {"Mountpoint", v.mountpoint}, {"Size", v.size},
          {"UsedBytes", v.used}, {"CreatedAt", rfc3339(v.created)}, {"Containers", v.containers}};
}

int cmd_volume_ls(context& ctx, const parsed& p) {
  auto list = ctx.conn().call<std::vector<api::volume_info>>(api::method::volume_list, api::empty{});
  if (p.has("quiet")) {
    for (auto& v : list) std::printf("%s\n", v.name.c_str());
    return 0;
  }
  if (p.get("format") == "json") {
    json out = json::array();
    for (auto& v : list) out.push_back(volume_json(v));
    std::printf("%s\n", out.dump(2).c_str());
    return 0;
  }
  std::printf("%-12s%-34s%-12s%s\n", "DRIVER", "VOLUME NAME", "SIZE", "USED");
  for (auto& v : list)
    std::printf("%-12s%-34s%-12s%s\n", v.driver.c_str(), v.name.c_str(), human_size(static_cast<uint64_t>(v.size)).c_str(),
                human_size(static_cast<uint64_t>(v.used)).c_str());
  return 0;
}

int cmd_volume_inspect(context& ctx, const parsed& p) {
  json out = json::array();
  int rc = 0;
  for (auto& n : p.positionals) {
    try {
      out.push_back(volume_json(ctx.conn().call<api::volume_info>(api::method::volume_inspect, api::volume_ref{n})));
    } catch (const rpc::call_error& e) {
      std::fprintf(stderr, "Error: %s\n", e.what());
      rc = 1;
    }
  }
  std::printf("%s\n", out.dump(4).c_str());
  return rc;
}

int cmd_volume_rm(context& ctx, const parsed& p) {
  int rc = 0;
  for (auto& n : p.positionals) {
    try {
      ctx.conn().call<api::empty>(api::method::volume_remove, api::volume_remove_request{n, p.has("force")});
      std::printf("%s\n", n.c_str());
    } catch (const rpc::call_error& e) {
      std::fprintf(stderr, "Error response from daemon: %s\n", e.what());
      rc = 1;
    }
  }
  return rc;
}

int cmd_volume_prune(context& ctx, const parsed& p) {
  if (!confirm(p, "WARNING! This will remove all volumes not used by at least one container.")) return 0;
  return print_removed(ctx.conn().call<api::removed>(api::method::volume_prune, api::empty{}), "Volumes");
}

int cmd_network_create(context& ctx, const parsed& p) {
  api::network_create_request req;
  req.name = p.positionals.at(0);
  req.subnet = p.get("subnet");
  req.gateway = p.get("gateway");
  req.internal = p.has("internal");
  std::printf("%s\n", ctx.conn().call<api::network_info>(api::method::network_create, req).id.c_str());
  return 0;
}

json network_json(const api::network_info& n) {
  json containers = json::object();
  for (auto& l : n.leases)
    containers[l.container] = {{"Name", l.name}, {"IPv4Address", l.ip}, {"MacAddress", l.mac}};
  return {{"Name", n.name},
          {"Id", n.id},
          {"Created", rfc3339(n.created)},
          {"Driver", n.driver},
          {"IPAM", {{"Config", json::array({{{"Subnet", n.subnet}, {"Gateway", n.gateway}}})}}},
          {"Internal", n.internal},
          {"Options", {{"com.docker.network.bridge.name", n.bridge}}},
          {"Containers", containers}};
}

int cmd_network_ls(context& ctx, const parsed& p) {
  auto list = ctx.conn().call<std::vector<api::network_info>>(api::method::network_list, api::empty{});
  if (p.has("quiet")) {
    for (auto& n : list) std::printf("%s\n", n.id.substr(0, 12).c_str());
    return 0;
  }
  if (p.get("format") == "json") {
    json out = json::array();
    for (auto& n : list) out.push_back(network_json(n));
    std::printf("%s\n", out.dump(2).c_str());
    return 0;
  }
  if (p.has("format")) throw cli_error(1, "unsupported --format (use json)");
  std::printf("%-14s%-22s%-10s%-18s%s\n", "NETWORK ID", "NAME", "DRIVER", "SUBNET", "INTERNAL");
  for (auto& n : list)
    std::printf("%-14s%-22s%-10s%-18s%s\n", n.id.substr(0, 12).c_str(), n.name.c_str(), n.driver.c_str(),
                n.subnet.c_str(), n.internal ? "true" : "false");
  return 0;
}

int cmd_network_inspect(context& ctx, const parsed& p) {
  json out = json::array();
  int rc = 0;
  for (auto& n : p.positionals) {
    try {
      out.push_back(network_json(ctx.conn().call<api::network_info>(api::method::network_inspect, api::network_ref{n})));
    } catch (const rpc::call_error& e) {
      std::fprintf(stderr, "Error: %s\n", e.what());
      rc = 1;
    }
  }
  std::printf("%s\n", out.dump(4).c_str());
  return rc;
}

int cmd_network_rm(context& ctx, const parsed& p) {
  int rc = 0;
  for (auto& n : p.positionals) {
    try {
      ctx.conn().call<api::empty>(api::method::network_remove, api::network_ref{n});
      std::printf("%s\n", n.c_str());
    } catch (const rpc::call_error& e) {
      std::fprintf(stderr, "Error response from daemon: %s\n", e.what());
      rc = 1;
    }
  }
  return rc;
}

int cmd_network_prune(context& ctx, const parsed& p) {
  if (!confirm(p, "WARNING! This will remove all networks not used by at least one container.")) return 0;
  auto r = ctx.conn().call<api::removed>(api::method::network_prune, api::empty{});
  if (!r.deleted.empty()) {
    std::printf("Deleted Networks:\n");
    for (auto& d : r.deleted) std::printf("%s\n", d.c_str());
  }
  return 0;
}

int cmd_image_pull(context& ctx, const parsed& p) {
  auto& c = ctx.conn();
  progress_view view(p.has("quiet"));
  view.install(c);
  auto started = std::chrono::steady_clock::now();
  try {
    auto img = c.call<api::image_info>(api::method::image_pull, api::pull_request{p.positionals[0], p.get("platform")});
    auto secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    if (!p.has("quiet")) std::printf("Digest: %s\n", img.manifest_digest.c_str());
    std::printf("%s: pulled %s (%s) in %.1fs\n", img.tags.empty() ? img.id.c_str() : img.tags.front().c_str(),
                short_id(img.id).c_str(), human_size(img.size).c_str(), secs);
  } catch (const rpc::call_error& e) {
    throw cli_error(image_exit_code(e), e.what());
  }
  return 0;
}

int cmd_image_push(context& ctx, const parsed& p) {
  auto& c = ctx.conn();
  progress_view view(p.has("quiet"));
  view.install(c);
  try {
    auto r = c.call<api::pushed>(api::method::image_push, api::push_request{p.positionals[0]});
    std::printf("%s: digest: %s size: %llu\n", p.positionals[0].c_str(), r.digest.c_str(),
                static_cast<unsigned long long>(r.size));
  } catch (const rpc::call_error& e) {
    throw cli_error(image_exit_code(e), e.what());
  }
  return 0;
}

int cmd_image_tag(context& ctx, const parsed& p) {
  ctx.conn().call<api::empty>(api::method::image_tag, api::tag_request{p.positionals[0], p.positionals[1]});
  return 0;
}

int cmd_image_rm(context& ctx, const parsed& p) {
  int rc = 0;
  for (auto& ref : p.positionals) {
    try {
      auto r = ctx.conn().call<api::removed>(api::method::image_remove, api::image_remove_request{ref, p.has("force")});
      for (auto& u : r.untagged) std::printf("Untagged: %s\n", u.c_str());
      for (auto& d : r.deleted) std::printf("Deleted: %s\n", d.c_str());
    } catch (const rpc::call_error& e) {
      std::fprintf(stderr, "Error response from daemon: %s\n", e.what());
      rc = 1;
    }
  }
  return rc;
}

int cmd_image_prune(context& ctx, const parsed& p) {
  if (!confirm(p, p.has("all") ? "WARNING! This will remove all images without at least one container associated to them."
                                : "WARNING! This will remove all dangling images."))
    return 0;
  return print_removed(ctx.conn().call<api::removed>(api::method::image_prune, api::prune_request{p.has("all")}), "Images");
}

int cmd_image_save(context& ctx, const parsed& p) {
  auto out_path = p.get("output");
  if (out_path.empty() && ::isatty(STDOUT_FILENO))
    throw cli_error(1, "cowardly refusing to save to a terminal. Use the -o flag or redirect");
  auto& c = ctx.conn();
  int fd = STDOUT_FILENO;
  std::string tmp;
  if (!out_path.empty()) {
    tmp = out_path + ".tmp-" + std::to_string(::getpid());
    fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) throw cli_error(1, "cannot write " + out_path + ": " + std::strerror(errno));
  }
  stream_printer printer;
  printer.sink_fd = fd;
  printer.install(c);
  printer.set_stream(c.call<api::stream>(api::method::image_save, api::save_request{p.positionals}).stream_id);
  while (!printer.ended()) c.poll_once(std::nullopt);
  if (!out_path.empty()) {
    bool ok = printer.error().empty() && ::fsync(fd) == 0;
    ::close(fd);
    if (!ok || ::rename(tmp.c_str(), out_path.c_str()) != 0) {
      ::unlink(tmp.c_str());
      throw cli_error(1, printer.error().empty() ? "cannot write " + out_path : printer.error());
    }
  } else if (!printer.error().empty()) {
    throw cli_error(1, printer.error());
  }
  return 0;
}

int cmd_image_inspect(context& ctx, const parsed& p) {
  json out = json::array();
  int rc = 0;
  for (auto& ref : p.positionals) {
    try {
      auto d = ctx.conn().call<api::image_detail>(api::method::image_inspect, api::image_ref{ref});
      json image{{"Id", d.info.id},
                {"RepoTags", d.info.tags},
                {"Digest", d.info.manifest_digest},
                {"Os", d.info.os},
                {"Architecture", d.info.architecture},
                {"Size", d.info.size},
                {"DiskSize", d.info.disk_size},
                {"Created", d.info.created},
                {"Config",
                 {{"Entrypoint", d.entrypoint}, {"Cmd", d.cmd}, {"Env", d.env}, {"WorkingDir", d.workdir},
                  {"User", d.user}, {"StopSignal", d.stop_signal}, {"ExposedPorts", d.exposed_ports},
                  {"Volumes", d.volumes}, {"Labels", d.labels}}},
                {"RootFS", {{"Layers", d.layers}}}};
      if (!d.healthcheck.test.empty()) image["Config"]["Healthcheck"] = healthcheck_json(d.healthcheck);
      out.push_back(std::move(image));
    } catch (const rpc::call_error& e) {
      std::fprintf(stderr, "Error: %s\n", e.what());
      rc = 1;
    }
  }
  std::printf("%s\n", out.dump(4).c_str());
  return rc;
}

int cmd_login(context& ctx, const parsed& p) {
  api::login_request req;
  req.server = p.positionals[0];
  req.username = p.get("username");
  if (p.has("password-stdin")) {
    std::getline(std::cin, req.password);
    while (!req.password.empty() && (req.password.back() == '\n' || req.password.back() == '\r')) req.password.pop_back();
  } else {
    req.password = p.get("password");
    if (!req.password.empty()) std::fprintf(stderr, "WARNING! Using --password via the CLI is insecure. Use --password-stdin.\n");
  }
  if (req.username.empty()) throw cli_error(1, "a username is needed (-u USER)");
  if (req.password.empty()) throw cli_error(1, "a password is needed (--password-stdin)");
  try {
    ctx.conn().call<api::empty>(api::method::registry_login, req);
  } catch (const rpc::call_error& e) {
    throw cli_error(1, std::string("login failed: ") + e.what());
  }
  std::printf("Login Succeeded\n");
  return 0;
}

int cmd_logout(context& ctx, const parsed& p) {
  ctx.conn().call<api::empty>(api::method::registry_logout, api::logout_request{p.positionals[0]});
  std::printf("Removing login credentials for %s\n", p.positionals[0].c_str());
  return 0;
}

// Sends a tar stream to image.load.* in 1 MiB chunks, keeping a few in flight.
class uploader {
 public:
  explicit uploader(rpc::client& c) : c_(c) {
    id_ = c_.call<api::upload>(api::method::image_load_begin).upload_id;
    progress_ = ::isatty(STDERR_FILENO);
  }
  void write(const char* p, std::size_t n) {
    buf_.append(p, n);
    while (buf_.size() >= chunk) flush_chunk(chunk);
  }
  std::vector<api::image_info> finish() {
    if (!buf_.empty()) flush_chunk(buf_.size());
    while (!inflight_.empty()) settle();
    if (progress_) std::fprintf(stderr, "\r%-60s\r", "");
    return c_.call<std::vector<api::image_info>>(api::method::image_load_end, api::upload{id_});
  }

 private:
  static constexpr std::size_t chunk = 1u << 20;
  void flush_chunk(std::size_t n) {
    api::upload_chunk msg;
    msg.upload_id = id_;
    msg.data.assign(buf_.data(), buf_.data() + n);
    buf_.erase(0, n);
    inflight_.push_back(c_.send(api::method::image_load_chunk, msg));
    sent_ += n;
    if (inflight_.size() >= 4) settle();
    if (progress_) std::fprintf(stderr, "\rLoading: %s sent", human_size(sent_).c_str());
  }
  void settle() {
    rpc::result_as<api::empty>(c_.wait(inflight_.front()));
    inflight_.pop_front();
  }
  rpc::client& c_;
  uint32_t id_ = 0;
  std::string buf_;
  std::deque<uint32_t> inflight_;
  uint64_t sent_ = 0;
  bool progress_ = false;
};

// Tars an OCI layout directory into the uploader (layouts hold only directories and files).
void tar_directory(const fs::path& dir, uploader& up) {
  std::unique_ptr<archive, decltype(&archive_write_free)> ar(archive_write_new(), archive_write_free);
  archive_write_set_format_pax_restricted(ar.get());
  archive_write_set_bytes_in_last_block(ar.get(), 1);
  auto write_cb = [](archive*, void* ctx, const void* buf, size_t n) -> la_ssize_t {
    static_cast<uploader*>(ctx)->write(static_cast<const char*>(buf), n);
    return static_cast<la_ssize_t>(n);
  };
  if (archive_write_open(ar.get(), &up, nullptr, write_cb, nullptr) != ARCHIVE_OK)
    throw cli_error(1, archive_error_string(ar.get()));
  std::vector<char> buf(1 << 20);
  for (auto& e : fs::recursive_directory_iterator(dir)) {
    auto rel = fs::relative(e.path(), dir).string();
    std::unique_ptr<archive_entry, decltype(&archive_entry_free)> entry(archive_entry_new(), archive_entry_free);
    archive_entry_set_pathname(entry.get(), rel.c_str());
    if (e.is_directory()) {
      archive_entry_set_filetype(entry.get(), AE_IFDIR);
      archive_entry_set_perm(entry.get(), 0755);
      archive_write_header(ar.get(), entry.get());
    } else if (e.is_regular_file()) {
      archive_entry_set_filetype(entry.get(), AE_IFREG);
      archive_entry_set_perm(entry.get(), 0644);
      archive_entry_set_size(entry.get(), static_cast<la_int64_t>(e.file_size()));
      archive_write_header(ar.get(), entry.get());
      int fd = ::open(e.path().c_str(), O_RDONLY | O_CLOEXEC);
      if (fd < 0) throw cli_error(1, "cannot read " + e.path().string() + ": " + std::strerror(errno));
      ssize_t n;
      while ((n = ::read(fd, buf.data(), buf.size())) > 0) archive_write_data(ar.get(), buf.data(), static_cast<size_t>(n));
      ::close(fd);
    }
  }
  archive_write_close(ar.get());
}

int cmd_image_load(context& ctx, const parsed& p) {
  auto input = p.get("input", "-");
  if (input == "-" && ::isatty(STDIN_FILENO))
    throw cli_error(1, "requested load from stdin, but stdin is empty (use -i FILE)");
  // Everything that can fail locally fails before the daemon is asked to spool anything.
  bool is_dir = input != "-" && fs::is_directory(input);
  int fd = -1;
  if (is_dir) {
    if (!fs::exists(fs::path(input) / "index.json"))
      throw cli_error(1, input + " is not an OCI image layout (no index.json)");
  } else {
    fd = input == "-" ? STDIN_FILENO : ::open(input.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw cli_error(1, "open " + input + ": " + std::strerror(errno));
  }
  struct closer {
    int fd;
    ~closer() {
      if (fd > STDIN_FILENO) ::close(fd);
    }
  } close_input{fd};
  auto& c = ctx.conn();
  uploader up(c);
  if (is_dir) {
    tar_directory(input, up);
  } else {
    std::vector<char> buf(1 << 20);
    for (;;) {
      auto n = ::read(fd, buf.data(), buf.size());
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) throw cli_error(1, "read " + input + ": " + std::strerror(errno));
      if (n == 0) break;
      up.write(buf.data(), static_cast<std::size_t>(n));
    }
  }
  std::vector<api::image_info> loaded;
  try {
    loaded = up.finish();
  } catch (const rpc::call_error& e) {
    throw cli_error(1, e.what());
  }
  for (auto& img : loaded) {
    if (img.tags.empty()) std::printf("Loaded image ID: %s\n", img.id.c_str());
    for (auto& t : img.tags) std::printf("Loaded image: %s\n", t.c_str());
  }
  return 0;
}

int cmd_image_ls(context& ctx, const parsed& p) {
  auto list = ctx.conn().call<std::vector<api::image_info>>(api::method::image_list);
  if (p.has("quiet")) {
    for (auto& i : list) std::printf("%s\n", short_id(i.id).c_str());
    return 0;
  }
  if (p.get("format") == "json") {
    json out = json::array();
    for (auto& i : list)
      out.push_back({{"Id", i.id}, {"RepoTags", i.tags}, {"Digest", i.manifest_digest}, {"Os", i.os},
                     {"Architecture", i.architecture}, {"Size", i.size}, {"DiskSize", i.disk_size}, {"Created", i.created}});
    std::printf("%s\n", out.dump(2).c_str());
    return 0;
  }
  if (p.has("format")) throw cli_error(1, "unsupported --format (use json)");
  auto now = now_ns() / 1000000000;
  std::printf("%-34s%-12s%-15s%-16s%s\n", "REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE");
  for (auto& i : list) {
    std::vector<std::pair<std::string, std::string>> names;
    for (auto& t : i.tags) {
      auto colon = t.rfind(':');
      auto slash = t.rfind('/');
      if (colon != std::string::npos && (slash == std::string::npos || colon > slash))
        names.emplace_back(t.substr(0, colon), t.substr(colon + 1));
      else
        names.emplace_back(t, "<none>");
    }
    if (names.empty()) names.emplace_back("<none>", "<none>");
    auto created = i.created > 0 ? human_duration(now - i.created) + " ago" : "N/A";
    for (auto& [repo, tag] : names)
      std::printf("%-34s%-12s%-15s%-16s%s\n", repo.c_str(), tag.c_str(), short_id(i.id).c_str(), created.c_str(),
                  human_size(i.disk_size ? i.disk_size : i.size).c_str());
  }
  return 0;
}

int cmd_cp(context& ctx, const parsed& p) {
  cp_request req;
  req.src = p.positionals[0];
  req.dest = p.positionals[1];
  req.archive = p.has("archive");
  req.follow_link = p.has("follow-link");
  try {
    run_cp(ctx.conn(), req);
  } catch (const cp_error& e) {
    throw cli_error(1, e.what());
  }
  return 0;
}

int cmd_info(context& ctx, const parsed&) {
  auto info = ctx.conn().call<api::system_info>(api::method::system_info);
  std::printf("Server Version:    %s\n", info.version.c_str());
  std::printf("Accelerator:       %s\n", info.accelerator.c_str());
  std::printf("  %s\n", info.accelerator_note.c_str());
  std::printf("Kernel:            %s (%s)\n", info.kernel_version.c_str(), info.kernel.c_str());
  std::printf("Agent Transport:   %s\n", info.agent_transport.c_str());
  std::printf("QEMU:              %s\n", info.qemu.c_str());
  std::printf("Data Root:         %s\n", info.data_root.c_str());
  std::printf("Containers:        %u (running %u)\n", info.containers, info.containers_running);
  std::printf("Images:            %u\n", info.images);
  return 0;
}

std::vector<flag> exec_flags() {
  return {{"interactive", 'i', false, "", "Keep stdin open and send it to the process"},
          {"tty", 't', false, "", "Give the process a terminal"},
          {"detach", 'd', false, "", "Run it in the background"},
          {"env", 'e', true, "KEY=VALUE", "Set an environment variable"},
          {"workdir", 'w', true, "DIR", "Working directory inside the container"},
          {"user", 'u', true, "USER[:GROUP]", "Username or UID"}};
}

std::vector<command> container_commands() {
  return {
      {"run", "[OPTIONS] IMAGE [COMMAND] [ARG...]", "Create and run a new container in its own VM", run_flags(true), true, 1,
       SIZE_MAX, [](context& c, const parsed& p) { return cmd_run(c, p, false, false); }},
      {"create", "[OPTIONS] IMAGE [COMMAND] [ARG...]", "Create a new container", run_flags(false), true, 1, SIZE_MAX,
       [](context& c, const parsed& p) { return cmd_run(c, p, false, true); }},
      {"start", "[OPTIONS] CONTAINER [CONTAINER...]", "Start one or more stopped containers",
       {{"attach", 'a', false, "", "Attach stdout/stderr and wait for the container"},
        {"interactive", 'i', false, "", "Attach the container's stdin"}},
       false, 1, SIZE_MAX, cmd_start},
      {"stop", "[OPTIONS] CONTAINER [CONTAINER...]", "Stop one or more running containers",
       {{"time", 't', true, "SECONDS", "Seconds to wait before killing it (default: its stop timeout, 10)"},
        {"signal", 's', true, "SIGNAL", "Signal to send first (default: its stop signal, SIGTERM)"}},
       false, 1, SIZE_MAX, cmd_stop},
      {"restart", "[OPTIONS] CONTAINER [CONTAINER...]", "Restart one or more containers",
       {{"time", 't', true, "SECONDS", "Seconds to wait before killing it (default: its stop timeout, 10)"}}, false, 1,
       SIZE_MAX, cmd_restart},
      {"kill", "[OPTIONS] CONTAINER [CONTAINER...]", "Send a signal to one or more running containers",
       {{"signal", 's', true, "SIGNAL", "Signal to send (default SIGKILL)"}}, false, 1, SIZE_MAX, cmd_kill},
      {"rm", "[OPTIONS] CONTAINER [CONTAINER...]", "Remove one or more containers",
       {{"force", 'f', false, "", "Kill and remove a running container"},
        {"volumes", 'v', false, "", "Remove anonymous volumes (berth has none; named volumes are kept)"}},
       false, 1, SIZE_MAX, cmd_rm},
      {"ps", "[OPTIONS]", "List containers",
       {{"all", 'a', false, "", "Show all containers (default shows just running)"},
        {"quiet", 'q', false, "", "Only display container IDs"},
        {"format", 0, true, "json", "Print as JSON"}},
       false, 0, 0, cmd_ps},
      {"logs", "[OPTIONS] CONTAINER", "Fetch the logs of a container",
       {{"follow", 'f', false, "", "Follow the output until the container exits"},
        {"tail", 'n', true, "N", "Only the last N lines (default all)"},
        {"timestamps", 't', false, "", "Show timestamps"},
        {"boot", 0, false, "", "Show the VM's console (kernel and berth-init) instead"}},
       false, 1, 1, cmd_logs},
      {"exec", "[OPTIONS] CONTAINER COMMAND [ARG...]", "Run a command in a running container", exec_flags(), true, 2,
       SIZE_MAX, cmd_exec},
      {"attach", "[OPTIONS] CONTAINER", "Attach to a running container's output (and stdin with -i at create)",
       {{"no-stdin", 0, false, "", "Do not attach stdin"}, {"no-sig-proxy", 0, false, "", "Do not forward signals"}},
       false, 1, 1, cmd_attach},
      {"wait", "CONTAINER [CONTAINER...]", "Block until containers stop, then print their exit codes", {}, false, 1,
       SIZE_MAX, cmd_wait},
      {"inspect", "CONTAINER [CONTAINER...]", "Return low-level information on containers as JSON", {}, false, 1,
       SIZE_MAX, cmd_inspect},
      {"stats", "[OPTIONS] [CONTAINER...]", "Display a live stream of resource usage",
       {{"no-stream", 0, false, "", "Print one sample and exit"}, {"format", 0, true, "json", "Print as JSON"}}, false,
       0, SIZE_MAX, cmd_stats},
      {"cp", "[OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-\n        cp [OPTIONS] SRC_PATH|- CONTAINER:DEST_PATH",
       "Copy files/folders between a running container and the local filesystem\n\n"
       "SRC_PATH \"dir/.\" copies the contents of dir; a file needs its destination directory to exist.\n"
       "Use '-' as the source to read a tar archive from stdin and extract it to a directory in the\n"
       "container. Use '-' as the destination to stream a tar archive of a container source to stdout.\n"
       "Modes, times and symlinks are kept; files copied in belong to root (0:0) unless -a is given.",
       {{"archive", 'a', false, "", "Archive mode (copy all uid/gid information)"},
        {"follow-link", 'L', false, "", "Always follow symbol link in SRC_PATH"}},
       false, 2, 2, cmd_cp},
  };
}

std::vector<command> container_group_commands() {
  return {{"prune", "[OPTIONS]", "Remove all stopped containers",
           {{"force", 'f', false, "", "Do not prompt for confirmation"}}, false, 0, 0, cmd_container_prune}};
}

std::vector<command> volume_commands() {
  return {
      {"create", "[OPTIONS] [VOLUME]", "Create a volume (an ext4 disk of its own)",
       {{"name", 0, true, "NAME", "Volume name"}, {"opt", 'o', true, "size=SIZE", "Capacity (default 10g, sparse)"}},
       false, 0, 1, cmd_volume_create},
      {"ls", "[OPTIONS]", "List volumes",
       {{"quiet", 'q', false, "", "Only display volume names"}, {"format", 0, true, "json", "Print as JSON"}}, false, 0,
       0, cmd_volume_ls},
      {"inspect", "VOLUME [VOLUME...]", "Display detailed information on volumes", {}, false, 1, SIZE_MAX,
       cmd_volume_inspect},
      {"rm", "[OPTIONS] VOLUME [VOLUME...]", "Remove volumes no container uses",
       {{"force", 'f', false, "", "Remove even if stopped containers name it"}}, false, 1, SIZE_MAX, cmd_volume_rm},
      {"prune", "[OPTIONS]", "Remove volumes no container uses",
       {{"force", 'f', false, "", "Do not prompt for confirmation"}}, false, 0, 0, cmd_volume_prune},
  };
}

std::vector<command> network_commands() {
  return {
      {"create", "[OPTIONS] NETWORK", "Create a network (a bridge with its own subnet, DNS and NAT)",
       {{"subnet", 0, true, "CIDR", "Subnet, e.g. 10.90.5.0/24 (default: the next free /24 of 10.90.0.0/16)"},
        {"gateway", 0, true, "IP", "Gateway address (default: the subnet's first address)"},
        {"internal", 0, false, "", "No way in or out: no NAT, no default route, no upstream DNS"}},
       false, 1, 1, cmd_network_create},
      {"ls", "[OPTIONS]", "List networks",
       {{"quiet", 'q', false, "", "Only display network IDs"}, {"format", 0, true, "json", "Print as JSON"}}, false, 0,
       0, cmd_network_ls},
      {"inspect", "NETWORK [NETWORK...]", "Display detailed information on networks, with their leases", {}, false, 1,
       SIZE_MAX, cmd_network_inspect},
      {"rm", "NETWORK [NETWORK...]", "Remove networks no container is attached to", {}, false, 1, SIZE_MAX,
       cmd_network_rm},
      {"prune", "[OPTIONS]", "Remove all networks no container is attached to (not default)",
       {{"force", 'f', false, "", "Do not prompt for confirmation"}}, false, 0, 0, cmd_network_prune},
  };
}

std::vector<command> image_commands() {
  return {
      {"load", "[OPTIONS]", "Load an image from an OCI archive (tar) or an OCI layout directory",
       {{"input", 'i', true, "FILE", "Read from FILE (a tar or a layout directory) instead of stdin"},
        {"quiet", 'q', false, "", "Suppress progress"}},
       false, 0, 0, cmd_image_load},
      {"ls", "[OPTIONS]", "List images",
       {{"quiet", 'q', false, "", "Only show image IDs"}, {"format", 0, true, "json", "Print as JSON"}}, false, 0, 0,
       cmd_image_ls},
      {"pull", "[OPTIONS] NAME[:TAG|@DIGEST]", "Download an image from a registry",
       {{"platform", 0, true, "OS/ARCH", "Platform to pull (default linux/amd64)"},
        {"quiet", 'q', false, "", "Suppress progress"}},
       false, 1, 1, cmd_image_pull},
      {"push", "[OPTIONS] NAME[:TAG]", "Upload an image to a registry", {{"quiet", 'q', false, "", "Suppress progress"}},
       false, 1, 1, cmd_image_push},
      {"tag", "SOURCE TARGET", "Create a tag TARGET that refers to SOURCE", {}, false, 2, 2, cmd_image_tag},
      {"rm", "[OPTIONS] IMAGE [IMAGE...]", "Remove one or more images",
       {{"force", 'f', false, "", "Remove even if tagged more than once or used by stopped containers"}}, false, 1,
       SIZE_MAX, cmd_image_rm},
      {"prune", "[OPTIONS]", "Remove unused images",
       {{"all", 'a', false, "", "Remove all unused images, not just untagged ones"},
        {"force", 'f', false, "", "Do not prompt for confirmation"}},
       false, 0, 0, cmd_image_prune},
      {"save", "[OPTIONS] IMAGE [IMAGE...]", "Save images to an OCI archive",
       {{"output", 'o', true, "FILE", "Write to FILE instead of stdout"}}, false, 1, SIZE_MAX, cmd_image_save},
      {"inspect", "IMAGE [IMAGE...]", "Display detailed information on images", {}, false, 1, SIZE_MAX,
       cmd_image_inspect},
  };
}

std::vector<command> registry_commands() {
  return {
      {"login", "[OPTIONS] SERVER", "Log in to a registry",
       {{"username", 'u', true, "USER", "Username"},
        {"password", 'p', true, "PASSWORD", "Password (prefer --password-stdin)"},
        {"password-stdin", 0, false, "", "Read the password from stdin"}},
       false, 1, 1, cmd_login},
      {"logout", "SERVER", "Log out from a registry", {}, false, 1, 1, cmd_logout},
  };
}

std::vector<command> system_commands() {
  return {{"info", "", "Display system-wide information", {}, false, 0, 0, cmd_info}};
}

constexpr const char* main_usage = R"(Usage:  berth [OPTIONS] COMMAND

Run OCI containers, each in its own lightweight VM.

Options:
  -H, --host URI   Daemon socket to connect to (default unix:///run/berth/berthd.sock,
                   or $BERTH_HOST)
  -v, --version    Print version information and quit
  --help           Print usage

Container commands:
  run         Create and run a new container in its own VM
  create      Create a new container
  start       Start one or more stopped containers
  stop        Stop one or more running containers
  restart     Restart one or more containers
  kill        Send a signal to one or more running containers
  rm          Remove one or more containers
  ps          List containers
  logs        Fetch the logs of a container
  exec        Run a command in a running container
  attach      Attach to a running container
  wait        Block until containers stop, then print their exit codes
  inspect     Return low-level information on containers
  stats       Display a live stream of resource usage
  cp          Copy files/folders between a running container and the local filesystem

Management commands:
  container   Manage containers (prune)
  image       Manage images (load, ls, pull, push, tag, rm, prune, save, inspect)
  volume      Manage volumes (create, ls, inspect, rm, prune)
  network     Manage networks (create, ls, inspect, rm, prune)
  registry    Log in and out of registries (login, logout)
  system      Manage berth (info)

Shortcuts: images = image ls, load = image load, pull = image pull, push = image push,
rmi = image rm, tag = image tag, save = image save, login/logout = registry login/logout,
info = system info.
Run 'berth COMMAND --help' for more information on a command.
)";

int run_command(context& ctx, const std::string& prefix, const command& cmd,
                const std::vector<std::string>& args) {
  for (auto& a : args) {
    if (a == "--help") {
      std::fputs(help_of(prefix, cmd).c_str(), stdout);
      return 0;
    }
    if (cmd.stop_at_positional && !a.empty() && a[0] != '-') break;
  }
  parsed p;
  try {
    p = parse(cmd.flags, args, cmd.stop_at_positional);
    if (p.positionals.size() < cmd.min_args)
      throw usage_error("\"" + prefix + cmd.name + "\" requires at least " + std::to_string(cmd.min_args) +
                        (cmd.min_args == 1 ? " argument." : " arguments."));
    if (p.positionals.size() > cmd.max_args)
      throw usage_error("\"" + prefix + cmd.name + "\" accepts " +
                        (cmd.max_args == 0 ? std::string("no arguments.") : "at most " + std::to_string(cmd.max_args) + " argument(s)."));
  } catch (const usage_error& e) {
    std::fprintf(stderr, "berth: %s\nSee 'berth %s%s --help'.\n", e.what(), prefix.c_str(), cmd.name.c_str());
    return cmd.name == "run" || cmd.name == "create" ? 125 : 1;
  }
  try {
    return cmd.run(ctx, p);
  } catch (const cli_error& e) {
    std::fprintf(stderr, "berth: %s\n", e.what());
    return e.code;
  } catch (const rpc::call_error& e) {
    std::fprintf(stderr, "berth: %s\n", e.what());
    return cmd.name == "run" || cmd.name == "create" ? 125 : 1;
  }
}

int dispatch(context& ctx, const std::string& prefix, const std::vector<command>& cmds,
             const std::vector<std::string>& args, const std::string& group_usage) {
  if (args.empty() || args[0] == "--help") {
    std::fputs(group_usage.c_str(), args.empty() ? stderr : stdout);
    return args.empty() ? 1 : 0;
  }
  for (auto& c : cmds)
    if (c.name == args[0]) return run_command(ctx, prefix, c, {args.begin() + 1, args.end()});
  std::fprintf(stderr, "berth: '%s' is not a berth command.\nSee 'berth --help'.\n", (prefix + args[0]).c_str());
  return 1;
}

std::string group_usage(const std::string& group, const std::string& summary, const std::vector<command>& cmds) {
  std::string out = "Usage:  berth " + group + " COMMAND\n\n" + summary + "\n\nCommands:\n";
  for (auto& c : cmds) {
    auto name = c.name;
    name.resize(12, ' ');
    out += "  " + name + c.summary.substr(0, c.summary.find('\n')) + "\n";  // its first line
  }
  return out + "\nRun 'berth " + group + " COMMAND --help' for more information on a command.\n";
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  context ctx;
  ctx.host = std::getenv("BERTH_HOST") ? std::getenv("BERTH_HOST") : default_host;
  std::size_t i = 0;
  for (; i < args.size(); ++i) {
    auto& a = args[i];
    if (a == "-H" || a == "--host") {
      if (i + 1 >= args.size()) {
        std::fprintf(stderr, "berth: flag needs an argument: %s\n", a.c_str());
        return 1;
      }
      ctx.host = args[++i];
    } else if (a.rfind("--host=", 0) == 0) {
      ctx.host = a.substr(7);
    } else if (a == "-v" || a == "--version") {
      std::printf("berth version 0.1.0\n");
      return 0;
    } else if (a == "--help" || a == "-h") {
      std::fputs(main_usage, stdout);
      return 0;
    } else if (!a.empty() && a[0] == '-') {
      std::fprintf(stderr, "berth: unknown flag: %s\nSee 'berth --help'.\n", a.c_str());
      return 1;
    } else {
      break;
    }
  }
  if (i >= args.size()) {
    std::fputs(main_usage, stderr);
    return 1;
  }
  auto cmd = args[i];
  std::vector<std::string> rest(args.begin() + static_cast<long>(i) + 1, args.end());
  auto images = image_commands();
  auto systems = system_commands();
  auto volumes = volume_commands();
  auto networks = network_commands();
  auto registries = registry_commands();
  auto containers = container_group_commands();
  auto all_containers = container_commands();
  for (auto& c : containers) all_containers.push_back(c);
  if (cmd == "image") return dispatch(ctx, "image ", images, rest, group_usage("image", "Manage images", images));
  if (cmd == "system") return dispatch(ctx, "system ", systems, rest, group_usage("system", "Manage berth", systems));
  if (cmd == "volume") return dispatch(ctx, "volume ", volumes, rest, group_usage("volume", "Manage volumes", volumes));
  if (cmd == "network")
    return dispatch(ctx, "network ", networks, rest, group_usage("network", "Manage networks", networks));
  if (cmd == "registry")
    return dispatch(ctx, "registry ", registries, rest, group_usage("registry", "Manage registry logins", registries));
  if (cmd == "container")
    return dispatch(ctx, "container ", all_containers, rest, group_usage("container", "Manage containers", all_containers));
  auto shortcut = [&](std::vector<command>& group, const std::string& prefix, const std::string& name) {
    for (auto& c : group)
      if (c.name == name) return run_command(ctx, prefix, c, rest);
    return 1;
  };
  if (cmd == "images") return shortcut(images, "image ", "ls");
  if (cmd == "load") return shortcut(images, "image ", "load");
  if (cmd == "pull") return shortcut(images, "image ", "pull");
  if (cmd == "push") return shortcut(images, "image ", "push");
  if (cmd == "rmi") return shortcut(images, "image ", "rm");
  if (cmd == "tag") return shortcut(images, "image ", "tag");
  if (cmd == "save") return shortcut(images, "image ", "save");
  if (cmd == "login") return shortcut(registries, "registry ", "login");
  if (cmd == "logout") return shortcut(registries, "registry ", "logout");
  if (cmd == "info") return shortcut(systems, "system ", "info");
  if (cmd == "version") {
    std::printf("berth version 0.1.0\n");
    return 0;
  }
  return dispatch(ctx, "", container_commands(), args.size() > i ? std::vector<std::string>(args.begin() + static_cast<long>(i), args.end()) : std::vector<std::string>{}, main_usage);
}

// berth: the command line. Speaks msgpack-RPC to berthd (docs/protocol.md) over the socket
// named by -H/--host or BERTH_HOST. Commands, flags, output and exit codes follow Docker's,
// so that `berth run --rm busybox echo hi` does what a Docker user expects; `run` exits with the
// container's exit code, 125 when berth itself failed, 126/127 when the command could not be
// executed or found.
#include "args.hpp"
#include "format.hpp"

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

void write_all(int fd, const char* p, std::size_t n) {
  while (n > 0) {
    auto w = ::write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return;  // a closed stdout (| head) ends the output, not the command
    }
    p += w;
    n -= static_cast<std::size_t>(w);
  }
}

// Exit code for a daemon error in run/create/start, as docker run does.
int run_exit_code(const rpc::call_error& e) {
  if (e.code() == errc::exec_not_found) return 127;
  if (e.code() == errc::exec_denied) return 126;
  return 125;
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
      {"interactive", 'i', false, "", "Keep stdin open (not supported yet)"},
      {"tty", 't', false, "", "Allocate a terminal (not supported yet)"},
  };
  if (with_run_only) f.push_back({"detach", 'd', false, "", "Run in the background and print the container ID"});
  return f;
}

api::container_spec spec_from(const parsed& p) {
  if (p.has("interactive") || p.has("tty"))
    throw cli_error(125, "interactive containers (-i, -t) are not supported yet");
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
  return spec;
}

// Prints a container's output stream to stdout/stderr. Notifications can arrive in the same read
// as the response that names their stream, so until the stream id is known they are held.
struct stream_printer {
  uint32_t stream_id = 0;
  bool ended = false;
  bool timestamps = false;
  std::vector<api::stream_data> held_data;
  std::vector<uint32_t> held_ends;

  void install(rpc::client& c) {
    c.on_notification = [this](const rpc::message& m) {
      if (m.method == api::notice::stream_data) on_data(rpc::arg<api::stream_data>(m));
      else if (m.method == api::notice::stream_end) on_end(rpc::arg<api::stream_end>(m).stream_id);
    };
  }

  /// The stream is now known: print what was held for it.
  void set_stream(uint32_t id) {
    stream_id = id;
    for (auto& d : held_data) on_data(std::move(d));
    held_data.clear();
    for (auto e : held_ends) on_end(e);
    held_ends.clear();
  }

 private:
  void on_data(api::stream_data d) {
    if (stream_id == 0) return held_data.push_back(std::move(d));
    if (d.stream_id != stream_id) return;
    int fd = d.fd == 2 ? STDERR_FILENO : STDOUT_FILENO;
    if (!timestamps) return write_all(fd, d.data.data(), d.data.size());
    // One timestamp per line, like docker logs -t.
    std::string out;
    std::size_t start = 0;
    while (start < d.data.size()) {
      auto nl = std::find(d.data.begin() + static_cast<long>(start), d.data.end(), '\n');
      auto end = static_cast<std::size_t>(nl - d.data.begin()) + (nl == d.data.end() ? 0 : 1);
      out += rfc3339(d.time) + " ";
      out.append(d.data.data() + start, end - start);
      start = end;
    }
    write_all(fd, out.data(), out.size());
  }
  void on_end(uint32_t id) {
    if (stream_id == 0) return held_ends.push_back(id);
    if (id == stream_id) ended = true;
  }
};

int cmd_run(context& ctx, const parsed& p, bool detach_default, bool create_only) {
  auto spec = spec_from(p);
  auto& c = ctx.conn();
  api::created created;
  try {
    created = c.call<api::created>(api::method::container_create, spec);
  } catch (const rpc::call_error& e) {
    throw cli_error(125, e.what());
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
  printer.set_stream(c.call<api::stream>(api::method::container_attach, ref).stream_id);
  auto start_id = c.send(api::method::container_start, ref);
  auto wait_id = c.send(api::method::container_wait, ref);
  bool started_checked = false;
  for (;;) {
    if (!started_checked && c.has_response(start_id)) {
      started_checked = true;
      try {
        rpc::result_as<api::empty>(c.wait(start_id));
      } catch (const rpc::call_error& e) {
        throw cli_error(run_exit_code(e), e.what());
      }
    }
    if (printer.ended && c.has_response(wait_id)) break;
    c.poll_once(std::nullopt);
  }
  auto exit = rpc::result_as<api::exit_info>(c.wait(wait_id));
  return exit.exit_code;
}

int cmd_start(context& ctx, const parsed& p) {
  auto& c = ctx.conn();
  if (p.has("attach")) {
    if (p.positionals.size() != 1) throw cli_error(1, "you cannot start and attach multiple containers at once");
    api::container_ref ref{p.positionals[0]};
    stream_printer printer;
    printer.install(c);
    printer.set_stream(c.call<api::stream>(api::method::container_attach, ref).stream_id);
    auto start_id = c.send(api::method::container_start, ref);
    auto wait_id = c.send(api::method::container_wait, ref);
    try {
      rpc::result_as<api::empty>(c.wait(start_id));
    } catch (const rpc::call_error& e) {
      throw cli_error(run_exit_code(e), e.what());
    }
    while (!(printer.ended && c.has_response(wait_id))) c.poll_once(std::nullopt);
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

int cmd_stop(context& ctx, const parsed& p) {
  int32_t timeout = 10;
  if (p.has("time")) {
    try {
      timeout = std::stoi(p.get("time"));
    } catch (...) {
      throw cli_error(1, "invalid --time value: " + p.get("time"));
    }
  }
  auto& c = ctx.conn();
  // Stop them all at once, then report each.
  std::vector<std::pair<std::string, uint32_t>> calls;
  for (auto& name : p.positionals) calls.emplace_back(name, c.send(api::method::container_stop, api::stop_request{name, timeout}));
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

json container_json(const api::container_info& c) {
  return json{{"Id", c.id},
              {"Name", c.name},
              {"Image", c.image},
              {"ImageID", c.image_id},
              {"Command", c.command},
              {"Created", rfc3339(c.created)},
              {"State",
               {{"Status", c.state},
                {"Running", c.state == "running"},
                {"ExitCode", c.exit_code},
                {"Error", c.reason},
                {"Pid", c.pid},
                {"StartedAt", rfc3339(c.started)},
                {"FinishedAt", rfc3339(c.finished)}}},
              {"HostConfig", {{"AutoRemove", c.auto_remove}, {"NanoCpus", int64_t(c.cpus) * 1000000000}, {"Memory", c.memory}}}};
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
  std::printf("%-14s%-22s%-24s%-18s%-28s%s\n", "CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "NAMES");
  for (auto& c : list) {
    auto created = human_duration((now - c.created) / 1000000000) + " ago";
    std::printf("%-14s%-22s%-24s%-18s%-28s%s\n", short_id(c.id).c_str(), c.image.substr(0, 20).c_str(),
                command_text(c.command, 22).c_str(), created.c_str(),
                status_text(c.state, c.exit_code, c.started, c.finished, now).c_str(), c.name.c_str());
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
  stream_printer printer;
  printer.timestamps = p.has("timestamps");
  printer.install(c);
  printer.set_stream(c.call<api::stream>(api::method::container_logs,
                                         api::logs_request{p.positionals[0], printer.timestamps})
                         .stream_id);
  while (!printer.ended) c.poll_once(std::nullopt);
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
  auto& c = ctx.conn();
  uploader up(c);
  if (input != "-" && fs::is_directory(input)) {
    if (!fs::exists(fs::path(input) / "index.json"))
      throw cli_error(1, input + " is not an OCI image layout (no index.json)");
    tar_directory(input, up);
  } else {
    int fd = input == "-" ? STDIN_FILENO : ::open(input.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw cli_error(1, "open " + input + ": " + std::strerror(errno));
    std::vector<char> buf(1 << 20);
    ssize_t n;
    while ((n = ::read(fd, buf.data(), buf.size())) > 0) up.write(buf.data(), static_cast<std::size_t>(n));
    if (fd != STDIN_FILENO) ::close(fd);
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

std::vector<command> container_commands() {
  return {
      {"run", "[OPTIONS] IMAGE [COMMAND] [ARG...]", "Create and run a new container in its own VM", run_flags(true), true, 1,
       SIZE_MAX, [](context& c, const parsed& p) { return cmd_run(c, p, false, false); }},
      {"create", "[OPTIONS] IMAGE [COMMAND] [ARG...]", "Create a new container", run_flags(false), true, 1, SIZE_MAX,
       [](context& c, const parsed& p) { return cmd_run(c, p, false, true); }},
      {"start", "[OPTIONS] CONTAINER [CONTAINER...]", "Start one or more stopped containers",
       {{"attach", 'a', false, "", "Attach stdout/stderr and wait for the container"}}, false, 1, SIZE_MAX, cmd_start},
      {"stop", "[OPTIONS] CONTAINER [CONTAINER...]", "Stop one or more running containers",
       {{"time", 't', true, "SECONDS", "Seconds to wait before killing it (default 10)"}}, false, 1, SIZE_MAX, cmd_stop},
      {"rm", "[OPTIONS] CONTAINER [CONTAINER...]", "Remove one or more containers",
       {{"force", 'f', false, "", "Kill and remove a running container"}}, false, 1, SIZE_MAX, cmd_rm},
      {"ps", "[OPTIONS]", "List containers",
       {{"all", 'a', false, "", "Show all containers (default shows just running)"},
        {"quiet", 'q', false, "", "Only display container IDs"},
        {"format", 0, true, "json", "Print as JSON"}},
       false, 0, 0, cmd_ps},
      {"logs", "[OPTIONS] CONTAINER", "Fetch the logs of a container",
       {{"timestamps", 't', false, "", "Show timestamps"}}, false, 1, 1, cmd_logs},
      {"wait", "CONTAINER [CONTAINER...]", "Block until containers stop, then print their exit codes", {}, false, 1,
       SIZE_MAX, cmd_wait},
      {"inspect", "CONTAINER [CONTAINER...]", "Return low-level information on containers as JSON", {}, false, 1,
       SIZE_MAX, cmd_inspect},
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
  rm          Remove one or more containers
  ps          List containers
  logs        Fetch the logs of a container
  wait        Block until containers stop, then print their exit codes
  inspect     Return low-level information on containers

Management commands:
  image       Manage images (load, ls)
  system      Manage berth (info)

Shortcuts: images = image ls, load = image load, info = system info.
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
    out += "  " + name + c.summary + "\n";
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
  if (cmd == "image") return dispatch(ctx, "image ", images, rest, group_usage("image", "Manage images", images));
  if (cmd == "system") return dispatch(ctx, "system ", systems, rest, group_usage("system", "Manage berth", systems));
  if (cmd == "images") return run_command(ctx, "image ", images[1], rest);
  if (cmd == "load") return run_command(ctx, "image ", images[0], rest);
  if (cmd == "info") return run_command(ctx, "system ", systems[0], rest);
  if (cmd == "version") {
    std::printf("berth version 0.1.0\n");
    return 0;
  }
  return dispatch(ctx, "", container_commands(), args.size() > i ? std::vector<std::string>(args.begin() + static_cast<long>(i), args.end()) : std::vector<std::string>{}, main_usage);
}

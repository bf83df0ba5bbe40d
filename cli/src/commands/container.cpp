// container.cpp: the commands that create, run and change containers (run, create, start, stop,
// restart, kill, rm, exec, attach, wait, cp, container prune) and the container table.
// `run` exits with the container's exit code, 125 when berth itself failed, 126/127 when the
// command could not be executed or found, as docker run does.
#include "command.hpp"
#include "commands/common.hpp"
#include "commands/container_view.hpp"
#include "copy.hpp"
#include "copy_plan.hpp"
#include "format.hpp"
#include "progress.hpp"
#include "run_flags.hpp"
#include "stream_io.hpp"

#include "berth/rpc/api.hpp"

#include <cstdio>
#include <cstdlib>

namespace berth::cli {

namespace {

// Pulls an image with progress on stderr (stdout is the container's); throws cli_error(125).
void pull_for_run(rpc::client& c, const std::string& reference, const std::string& platform) {
  progress_view view(false, stderr);
  view.install(c);
  try {
    auto img =
        c.call<api::image_info>(api::method::image_pull, api::pull_request{reference, platform});
    std::fprintf(stderr, "Status: Downloaded newer image for %s\n",
                 img.tags.empty() ? reference.c_str() : img.tags.front().c_str());
  } catch (const rpc::call_error& e) {
    throw cli_error(125, e.what());
  }
  c.on_notification = nullptr;
}

// Creates the container, pulling its image first as --pull says; its id.
std::string create(rpc::client& c, const run_options& o) {
  if (o.pull == "always") pull_for_run(c, o.spec.image, o.platform);
  try {
    return c.call<api::created>(api::method::container_create, o.spec).id;
  } catch (const rpc::call_error& e) {
    // As docker run: a missing image is pulled, then the container is created.
    if (e.code() != errc::not_found || o.pull != "missing" ||
        std::string(e.what()).rfind("No such image", 0) != 0)
      throw cli_error(125, e.what());
  }
  std::fprintf(stderr, "Unable to find image '%s' locally\n", o.spec.image.c_str());
  pull_for_run(c, o.spec.image, o.platform);
  try {
    return c.call<api::created>(api::method::container_create, o.spec).id;
  } catch (const rpc::call_error& again) {
    throw cli_error(125, again.what());
  }
}

// Attaches to container `id`, starts it and streams it until it exits; its exit code. Until it
// runs nothing is sent: a failed start is reported as docker run does.
int start_attached(rpc::client& c, const std::string& id, bool send_stdin, bool tty) {
  stream_printer printer;
  printer.install(c);
  auto stream =
      c.call<api::stream>(api::method::container_attach, api::attach_request{id, send_stdin})
          .stream_id;
  printer.set_stream(stream);
  api::container_ref ref{id};
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
  opts.tty = tty;
  if (!tty) opts.kill_container = id;
  run_stream(c, printer, stream, opts, [&] { return c.has_response(wait_id); });
  return rpc::result_as<api::exit_info>(c.wait(wait_id)).exit_code;
}

int cmd_create(context& ctx, const parsed& p) {
  auto o = run_options_from(p);
  std::printf("%s\n", create(ctx.conn(), o).c_str());
  return 0;
}

int cmd_run(context& ctx, const parsed& p) {
  auto o = run_options_from(p);
  auto& c = ctx.conn();
  auto id = create(c, o);
  if (!o.detach) return start_attached(c, id, o.spec.open_stdin, o.spec.tty);
  try {
    c.call<api::empty>(api::method::container_start, api::container_ref{id});
  } catch (const rpc::call_error& e) {
    throw cli_error(run_exit_code(e), e.what());
  }
  std::printf("%s\n", id.c_str());
  return 0;
}

int cmd_start(context& ctx, const parsed& p) {
  auto& c = ctx.conn();
  if (p.has("attach") || p.has("interactive")) {
    if (p.positionals.size() != 1)
      throw cli_error(1, "you cannot start and attach multiple containers at once");
    auto info = c.call<api::container_info>(api::method::container_inspect,
                                            api::container_ref{p.positionals[0]});
    return start_attached(c, info.id, p.has("interactive") && info.open_stdin, info.tty);
  }
  return for_each_name(p.positionals, [&](const std::string& name) {
    c.call<api::empty>(api::method::container_start, api::container_ref{name});
    std::printf("%s\n", name.c_str());
  });
}

int cmd_attach(context& ctx, const parsed& p) {
  auto& c = ctx.conn();
  auto info = c.call<api::container_info>(api::method::container_inspect,
                                          api::container_ref{p.positionals[0]});
  if (info.state != "running")
    throw cli_error(1, "You cannot attach to a stopped container, start it first");
  bool send_stdin = !p.has("no-stdin") && info.open_stdin;
  stream_printer printer;
  printer.install(c);
  auto stream =
      c.call<api::stream>(api::method::container_attach, api::attach_request{info.id, send_stdin})
          .stream_id;
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
  return for_each_name(p.positionals, [&](const std::string& name) {
    c.call<api::empty>(api::method::container_kill,
                       api::kill_request{name, p.get("signal", "SIGKILL")});
    std::printf("%s\n", name.c_str());
  });
}

// -t/--time of stop and restart; -2: the container's own stop timeout.
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
  return for_each_name(p.positionals, [&](const std::string& name) {
    c.call<api::empty>(api::method::container_restart,
                       api::stop_request{name, timeout_flag(p), ""});
    std::printf("%s\n", name.c_str());
  });
}

int cmd_stop(context& ctx, const parsed& p) {
  auto timeout = timeout_flag(p);
  auto& c = ctx.conn();
  // Stop them all at once, then report each.
  std::vector<std::pair<std::string, uint32_t>> calls;
  for (auto& name : p.positionals)
    calls.emplace_back(name, c.send(api::method::container_stop,
                                    api::stop_request{name, timeout, p.get("signal")}));
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
  return for_each_name(p.positionals, [&](const std::string& name) {
    c.call<api::empty>(api::method::container_remove, api::remove_request{name, p.has("force")});
    std::printf("%s\n", name.c_str());
  });
}

int cmd_wait(context& ctx, const parsed& p) {
  auto& c = ctx.conn();
  return for_each_name(p.positionals, [&](const std::string& name) {
    auto info = c.call<api::exit_info>(api::method::container_wait, api::container_ref{name});
    std::printf("%d\n", info.exit_code);
  });
}

int cmd_cp(context& ctx, const parsed& p) {
  cp_request req;
  req.src = p.positionals[0];
  req.dest = p.positionals[1];
  req.archive = p.has("archive");
  req.follow_link = p.has("follow-link");
  try {
    if (p.has("max-size"))
      req.limits.max_bytes = static_cast<uint64_t>(parse_memory(p.get("max-size")));
    if (p.has("max-entries")) req.limits.max_entries = std::stoull(p.get("max-entries"));
    if (p.has("max-depth"))
      req.limits.max_depth = static_cast<uint32_t>(std::stoul(p.get("max-depth")));
  } catch (const std::exception&) {
    throw cli_error(125, "invalid --max-size, --max-entries or --max-depth value");
  }
  try {
    run_cp(ctx.conn(), req);
  } catch (const cp_error& e) {
    throw cli_error(1, e.what());
  }
  return 0;
}

int cmd_container_prune(context& ctx, const parsed& p) {
  if (!confirm(p, "WARNING! This will remove all stopped containers.")) return 0;
  auto r = ctx.conn().call<api::removed>(api::method::container_prune, api::empty{});
  return print_removed(r, "Containers");
}

std::vector<flag> exec_flags() {
  return {{"interactive", 'i', false, "", "Keep stdin open and send it to the process"},
          {"tty", 't', false, "", "Give the process a terminal"},
          {"detach", 'd', false, "", "Run it in the background"},
          {"env", 'e', true, "KEY=VALUE", "Set an environment variable"},
          {"workdir", 'w', true, "DIR", "Working directory inside the container"},
          {"user", 'u', true, "USER[:GROUP]", "Username or UID"}};
}

const flag time_flag{"time", 't', true, "SECONDS",
                     "Seconds to wait before killing it (default: its stop timeout, 10)"};

}  // namespace

std::vector<command> container_commands() {
  constexpr auto any = SIZE_MAX;
  return {
      {"run", "[OPTIONS] IMAGE [COMMAND] [ARG...]", "Create and run a new container in its own VM",
       run_flags(true), true, 1, any, cmd_run, 125},
      {"create", "[OPTIONS] IMAGE [COMMAND] [ARG...]", "Create a new container", run_flags(false),
       true, 1, any, cmd_create, 125},
      {"start",
       "[OPTIONS] CONTAINER [CONTAINER...]",
       "Start one or more stopped containers",
       {{"attach", 'a', false, "", "Attach stdout/stderr and wait for the container"},
        {"interactive", 'i', false, "", "Attach the container's stdin"}},
       false,
       1,
       any,
       cmd_start},
      {"stop",
       "[OPTIONS] CONTAINER [CONTAINER...]",
       "Stop one or more running containers",
       {time_flag,
        {"signal", 's', true, "SIGNAL",
         "Signal to send first (default: its stop signal, SIGTERM)"}},
       false,
       1,
       any,
       cmd_stop},
      {"restart",
       "[OPTIONS] CONTAINER [CONTAINER...]",
       "Restart one or more containers",
       {time_flag},
       false,
       1,
       any,
       cmd_restart},
      {"kill",
       "[OPTIONS] CONTAINER [CONTAINER...]",
       "Send a signal to one or more running containers",
       {{"signal", 's', true, "SIGNAL", "Signal to send (default SIGKILL)"}},
       false,
       1,
       any,
       cmd_kill},
      {"rm",
       "[OPTIONS] CONTAINER [CONTAINER...]",
       "Remove one or more containers",
       {{"force", 'f', false, "", "Kill and remove a running container"},
        {"volumes", 'v', false, "",
         "Remove anonymous volumes (berth has none; named volumes are kept)"}},
       false,
       1,
       any,
       cmd_rm},
      ps_command(),
      logs_command(),
      {"exec", "[OPTIONS] CONTAINER COMMAND [ARG...]", "Run a command in a running container",
       exec_flags(), true, 2, any, cmd_exec},
      {"attach",
       "[OPTIONS] CONTAINER",
       "Attach to a running container's output (and stdin with -i at create)",
       {{"no-stdin", 0, false, "", "Do not attach stdin"},
        {"no-sig-proxy", 0, false, "", "Do not forward signals"}},
       false,
       1,
       1,
       cmd_attach},
      {"wait",
       "CONTAINER [CONTAINER...]",
       "Block until containers stop, then print their exit codes",
       {},
       false,
       1,
       any,
       cmd_wait},
      inspect_command(),
      stats_command(),
      {"cp",
       "[OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-\n        cp [OPTIONS] SRC_PATH|- "
       "CONTAINER:DEST_PATH",
       "Copy files/folders between a running container and the local filesystem\n\n"
       "SRC_PATH \"dir/.\" copies the contents of dir; a file needs its destination directory to "
       "exist.\n"
       "Use '-' as the source to read a tar archive from stdin and extract it to a directory in "
       "the\n"
       "container. Use '-' as the destination to stream a tar archive of a container source to "
       "stdout.\n"
       "Modes, times and symlinks are kept; files copied in belong to root (0:0) unless -a is "
       "given.\n"
       "Copied out, files never keep setuid or setgid bits, and only files, directories and "
       "symlinks are made.",
       {{"archive", 'a', false, "", "Archive mode (copy all uid/gid information)"},
        {"follow-link", 'L', false, "", "Always follow symbol link in SRC_PATH"},
        {"max-size", 0, true, "SIZE", "Refuse a copy out of more file data (default 64g)"},
        {"max-entries", 0, true, "N", "Refuse a copy out of more entries (default 1000000)"},
        {"max-depth", 0, true, "N", "Refuse a copy out nested deeper (default 256)"}},
       false,
       2,
       2,
       cmd_cp},
  };
}

std::vector<command> container_group_commands() {
  return {{"prune",
           "[OPTIONS]",
           "Remove all stopped containers",
           {{"force", 'f', false, "", "Do not prompt for confirmation"}},
           false,
           0,
           0,
           cmd_container_prune}};
}

}  // namespace berth::cli

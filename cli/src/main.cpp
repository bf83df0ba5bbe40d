// berth: the command line. Speaks msgpack-RPC to berthd (docs/protocol.md) over the socket
// named by -H/--host or BERTH_HOST. Commands, flags, output and exit codes follow Docker's,
// so that `berth run --rm busybox echo hi` does what a Docker user expects.
//
// This file owns the global flags, the table of command groups and shortcuts, and how a command
// line becomes a call of one command: its --help, its flag errors (exit 1, or 125 for run and
// create) and the errors it throws. The commands themselves live in commands/<resource>.cpp.
#include "command.hpp"
#include "global_flags.hpp"

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

using namespace berth;
using namespace berth::cli;

namespace {

constexpr const char* version_text = "berth version 0.1.0\n";

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

/// A management command: `berth <name> COMMAND`.
struct group {
  std::string name;
  std::string summary;
  std::vector<command> commands;
};

/// A top-level name for a command of a group: `berth images` is `berth image ls`.
struct shortcut {
  std::string name;
  std::string group;
  std::string command;
};

std::vector<command> joined(std::vector<command> a, const std::vector<command>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

std::vector<group> groups() {
  return {
      {"image", "Manage images", image_commands()},
      {"system", "Manage berth", system_commands()},
      {"volume", "Manage volumes", volume_commands()},
      {"network", "Manage networks", network_commands()},
      {"registry", "Manage registry logins", registry_commands()},
      {"container", "Manage containers", joined(container_commands(), container_group_commands())}};
}

const std::vector<shortcut> shortcuts = {
    {"images", "image", "ls"},  {"load", "image", "load"},      {"pull", "image", "pull"},
    {"push", "image", "push"},  {"rmi", "image", "rm"},         {"tag", "image", "tag"},
    {"save", "image", "save"},  {"login", "registry", "login"}, {"logout", "registry", "logout"},
    {"info", "system", "info"},
};

std::string help_of(const std::string& prefix, const command& c) {
  auto flags = c.flags;
  flags.push_back({"help", 0, false, "", "Print usage"});
  return "Usage:  " + prefix + c.name + " " + c.usage + "\n\n" + c.summary + "\n\n" +
         describe_flags(flags);
}

// Runs one command with its arguments; its exit code.
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
      throw usage_error("\"" + prefix + cmd.name + "\" requires at least " +
                        std::to_string(cmd.min_args) +
                        (cmd.min_args == 1 ? " argument." : " arguments."));
    if (p.positionals.size() > cmd.max_args)
      throw usage_error("\"" + prefix + cmd.name + "\" accepts " +
                        (cmd.max_args == 0
                             ? std::string("no arguments.")
                             : "at most " + std::to_string(cmd.max_args) + " argument(s)."));
  } catch (const usage_error& e) {
    std::fprintf(stderr, "berth: %s\nSee 'berth %s%s --help'.\n", e.what(), prefix.c_str(),
                 cmd.name.c_str());
    return cmd.failure_code;
  }
  try {
    return cmd.run(ctx, p);
  } catch (const cli_error& e) {
    std::fprintf(stderr, "berth: %s\n", e.what());
    return e.code;
  } catch (const rpc::call_error& e) {
    std::fprintf(stderr, "berth: %s\n", e.what());
    return cmd.failure_code;
  }
}

std::string group_usage(const group& g) {
  std::string out = "Usage:  berth " + g.name + " COMMAND\n\n" + g.summary + "\n\nCommands:\n";
  for (auto& c : g.commands) {
    auto name = c.name;
    name.resize(12, ' ');
    out += "  " + name + c.summary.substr(0, c.summary.find('\n')) + "\n";  // its first line
  }
  return out + "\nRun 'berth " + g.name + " COMMAND --help' for more information on a command.\n";
}

// Finds the command named by args[0] in `cmds` and runs it with the rest.
int dispatch(context& ctx, const std::string& prefix, const std::vector<command>& cmds,
             const std::vector<std::string>& args, const std::string& usage) {
  if (args.empty() || args[0] == "--help") {
    std::fputs(usage.c_str(), args.empty() ? stderr : stdout);
    return args.empty() ? 1 : 0;
  }
  for (auto& c : cmds)
    if (c.name == args[0]) return run_command(ctx, prefix, c, {args.begin() + 1, args.end()});
  std::fprintf(stderr, "berth: '%s' is not a berth command.\nSee 'berth --help'.\n",
               (prefix + args[0]).c_str());
  return 1;
}

const group* find_group(const std::vector<group>& all, const std::string& name) {
  for (auto& g : all)
    if (g.name == name) return &g;
  return nullptr;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  auto global = parse_global_flags(args, std::getenv("BERTH_HOST"));
  switch (global.what) {
    case global_options::action::error:
      std::fprintf(stderr, "berth: %s\n", global.error.c_str());
      return 1;
    case global_options::action::version:
      std::fputs(version_text, stdout);
      return 0;
    case global_options::action::help:
      std::fputs(main_usage, stdout);
      return 0;
    case global_options::action::usage:
      std::fputs(main_usage, stderr);
      return 1;
    case global_options::action::run:
      break;
  }
  context ctx(global.host);
  auto first = args.begin() + static_cast<long>(global.command);
  const auto& name = *first;
  std::vector<std::string> rest(first + 1, args.end());
  auto all = groups();
  if (auto* g = find_group(all, name))
    return dispatch(ctx, g->name + " ", g->commands, rest, group_usage(*g));
  for (auto& s : shortcuts) {
    if (s.name != name) continue;
    auto* g = find_group(all, s.group);
    for (auto& c : g->commands)
      if (c.name == s.command) return run_command(ctx, g->name + " ", c, rest);
  }
  if (name == "version") {
    std::fputs(version_text, stdout);
    return 0;
  }
  return dispatch(ctx, "", container_commands(), {first, args.end()}, main_usage);
}

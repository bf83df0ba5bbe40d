// command: what every berth command is made of, and the entry points of each resource's
// commands. main.cpp owns the global flags and routes a command line to one of the tables
// declared here; each table lives in commands/<resource>.cpp.
#pragma once

#include "args.hpp"
#include "error.hpp"

#include "berth/rpc/client.hpp"

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace berth::cli {

/// The daemon a command talks to; connected on first use, so `--help` needs no daemon.
class context {
 public:
  explicit context(std::string host) : host_(std::move(host)) {}
  /// The connection to berthd, opened now if it is not yet.
  rpc::client& conn() {
    if (!client_) client_.emplace(rpc::client::connect(host_));
    return *client_;
  }

 private:
  std::string host_;
  std::optional<rpc::client> client_;
};

/// One command: its flags, its help, how many positionals it takes, and its handler.
struct command {
  std::string name;
  std::string usage;  ///< "[OPTIONS] IMAGE [COMMAND] [ARG...]"
  std::string summary;
  std::vector<flag> flags;
  bool stop_at_positional = false;  ///< The first positional ends the flags (run, exec).
  std::size_t min_args = 0;
  std::size_t max_args = SIZE_MAX;
  std::function<int(context&, const parsed&)> run;
  /// Exit code of a usage error and of an unexpected daemon error (125 for run and create).
  int failure_code = 1;
};

/// run, create, start, stop, restart, kill, rm, ps, logs, exec, attach, wait, inspect, stats, cp.
std::vector<command> container_commands();
/// The commands only `berth container` has (prune).
std::vector<command> container_group_commands();
/// The commands of `berth image`.
std::vector<command> image_commands();
/// The commands of `berth network`.
std::vector<command> network_commands();
/// The commands of `berth volume`.
std::vector<command> volume_commands();
/// The commands of `berth registry` (login, logout).
std::vector<command> registry_commands();
/// The commands of `berth system` (info).
std::vector<command> system_commands();

}  // namespace berth::cli

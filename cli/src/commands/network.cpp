// network.cpp: the network commands (create, ls, inspect, rm, prune) and their table. A network
// is a bridge with its own subnet, DNS and NAT, run by berthd's net supervisor.
#include "command.hpp"
#include "commands/common.hpp"
#include "inspect_json.hpp"

#include "berth/rpc/api.hpp"

#include <cstdio>

namespace berth::cli {

namespace {

int cmd_network_create(context& ctx, const parsed& p) {
  api::network_create_request req;
  req.name = p.positionals.at(0);
  req.subnet = p.get("subnet");
  req.gateway = p.get("gateway");
  req.internal = p.has("internal");
  std::printf("%s\n",
              ctx.conn().call<api::network_info>(api::method::network_create, req).id.c_str());
  return 0;
}

int cmd_network_ls(context& ctx, const parsed& p) {
  auto list =
      ctx.conn().call<std::vector<api::network_info>>(api::method::network_list, api::empty{});
  if (print_quiet_or_json(
          p, list, [](auto& n) { return n.id.substr(0, 12); }, network_json))
    return 0;
  if (p.has("format")) throw cli_error(1, "unsupported --format (use json)");
  std::printf("%-14s%-22s%-10s%-18s%s\n", "NETWORK ID", "NAME", "DRIVER", "SUBNET", "INTERNAL");
  for (auto& n : list)
    std::printf("%-14s%-22s%-10s%-18s%s\n", n.id.substr(0, 12).c_str(), n.name.c_str(),
                n.driver.c_str(), n.subnet.c_str(), n.internal ? "true" : "false");
  return 0;
}

int cmd_network_inspect(context& ctx, const parsed& p) {
  return inspect_each(p.positionals, [&](const std::string& n) {
    return network_json(
        ctx.conn().call<api::network_info>(api::method::network_inspect, api::network_ref{n}));
  });
}

int cmd_network_rm(context& ctx, const parsed& p) {
  return for_each_name(p.positionals, [&](const std::string& n) {
    ctx.conn().call<api::empty>(api::method::network_remove, api::network_ref{n});
    std::printf("%s\n", n.c_str());
  });
}

int cmd_network_prune(context& ctx, const parsed& p) {
  if (!confirm(p, "WARNING! This will remove all networks not used by at least one container."))
    return 0;
  auto r = ctx.conn().call<api::removed>(api::method::network_prune, api::empty{});
  if (!r.deleted.empty()) {
    std::printf("Deleted Networks:\n");
    for (auto& d : r.deleted) std::printf("%s\n", d.c_str());
  }
  return 0;
}

}  // namespace

std::vector<command> network_commands() {
  return {
      {"create",
       "[OPTIONS] NETWORK",
       "Create a network (a bridge with its own subnet, DNS and NAT)",
       {{"subnet", 0, true, "CIDR",
         "Subnet, e.g. 10.90.5.0/24 (default: the next free /24 of 10.90.0.0/16)"},
        {"gateway", 0, true, "IP", "Gateway address (default: the subnet's first address)"},
        {"internal", 0, false, "", "No way in or out: no NAT, no default route, no upstream DNS"}},
       false,
       1,
       1,
       cmd_network_create},
      {"ls",
       "[OPTIONS]",
       "List networks",
       {{"quiet", 'q', false, "", "Only display network IDs"},
        {"format", 0, true, "json", "Print as JSON"}},
       false,
       0,
       0,
       cmd_network_ls},
      {"inspect",
       "NETWORK [NETWORK...]",
       "Display detailed information on networks, with their leases",
       {},
       false,
       1,
       SIZE_MAX,
       cmd_network_inspect},
      {"rm",
       "NETWORK [NETWORK...]",
       "Remove networks no container is attached to",
       {},
       false,
       1,
       SIZE_MAX,
       cmd_network_rm},
      {"prune",
       "[OPTIONS]",
       "Remove all networks no container is attached to (not default)",
       {{"force", 'f', false, "", "Do not prompt for confirmation"}},
       false,
       0,
       0,
       cmd_network_prune},
  };
}

}  // namespace berth::cli

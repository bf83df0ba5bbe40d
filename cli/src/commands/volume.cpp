// volume.cpp: the volume commands (create, ls, inspect, rm, prune) and their table. A volume is
// an ext4 disk of its own that outlives its containers.
#include "command.hpp"
#include "commands/common.hpp"
#include "format.hpp"
#include "inspect_json.hpp"

#include "berth/rpc/api.hpp"

#include <cstdio>

namespace berth::cli {

namespace {

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
  std::printf("%s\n",
              ctx.conn().call<api::volume_info>(api::method::volume_create, req).name.c_str());
  return 0;
}

int cmd_volume_ls(context& ctx, const parsed& p) {
  auto list =
      ctx.conn().call<std::vector<api::volume_info>>(api::method::volume_list, api::empty{});
  if (print_quiet_or_json(
          p, list, [](auto& v) { return v.name; }, volume_json))
    return 0;
  std::printf("%-12s%-34s%-12s%s\n", "DRIVER", "VOLUME NAME", "SIZE", "USED");
  for (auto& v : list)
    std::printf("%-12s%-34s%-12s%s\n", v.driver.c_str(), v.name.c_str(),
                human_size(static_cast<uint64_t>(v.size)).c_str(),
                human_size(static_cast<uint64_t>(v.used)).c_str());
  return 0;
}

int cmd_volume_inspect(context& ctx, const parsed& p) {
  return inspect_each(p.positionals, [&](const std::string& n) {
    return volume_json(
        ctx.conn().call<api::volume_info>(api::method::volume_inspect, api::volume_ref{n}));
  });
}

int cmd_volume_rm(context& ctx, const parsed& p) {
  return for_each_name(p.positionals, [&](const std::string& n) {
    ctx.conn().call<api::empty>(api::method::volume_remove,
                                api::volume_remove_request{n, p.has("force")});
    std::printf("%s\n", n.c_str());
  });
}

int cmd_volume_prune(context& ctx, const parsed& p) {
  if (!confirm(p, "WARNING! This will remove all volumes not used by at least one container."))
    return 0;
  return print_removed(ctx.conn().call<api::removed>(api::method::volume_prune, api::empty{}),
                       "Volumes");
}

}  // namespace

std::vector<command> volume_commands() {
  return {
      {"create",
       "[OPTIONS] [VOLUME]",
       "Create a volume (an ext4 disk of its own)",
       {{"name", 0, true, "NAME", "Volume name"},
        {"opt", 'o', true, "size=SIZE", "Capacity (default 10g, sparse)"}},
       false,
       0,
       1,
       cmd_volume_create},
      {"ls",
       "[OPTIONS]",
       "List volumes",
       {{"quiet", 'q', false, "", "Only display volume names"},
        {"format", 0, true, "json", "Print as JSON"}},
       false,
       0,
       0,
       cmd_volume_ls},
      {"inspect",
       "VOLUME [VOLUME...]",
       "Display detailed information on volumes",
       {},
       false,
       1,
       SIZE_MAX,
       cmd_volume_inspect},
      {"rm",
       "[OPTIONS] VOLUME [VOLUME...]",
       "Remove volumes no container uses",
       {{"force", 'f', false, "", "Remove even if stopped containers name it"}},
       false,
       1,
       SIZE_MAX,
       cmd_volume_rm},
      {"prune",
       "[OPTIONS]",
       "Remove volumes no container uses",
       {{"force", 'f', false, "", "Do not prompt for confirmation"}},
       false,
       0,
       0,
       cmd_volume_prune},
  };
}

}  // namespace berth::cli

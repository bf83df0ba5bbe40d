// container_view.cpp: ps (with --filter, in a table sized to its content), logs, inspect and
// stats.
#include "commands/container_view.hpp"

#include "commands/common.hpp"
#include "format.hpp"
#include "inspect_json.hpp"
#include "ps_filter.hpp"
#include "stream_io.hpp"
#include "table.hpp"

#include "berth/rpc/api.hpp"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <map>
#include <thread>

namespace berth::cli {

using json = nlohmann::json;

namespace {

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

int cmd_ps(context& ctx, const parsed& p) {
  auto filter = ps_filter::parse(p.all("filter"));
  auto list = ctx.conn().call<std::vector<api::container_info>>(
      api::method::container_list, api::list_request{p.has("all") || filter.needs_all()});
  std::erase_if(list, [&](const api::container_info& c) { return !filter.matches(c); });
  if (print_quiet_or_json(
          p, list, [](auto& c) { return short_id(c.id); }, container_json))
    return 0;
  if (p.has("format")) throw cli_error(1, "unsupported --format (use json)");
  auto now = now_ns();
  table_rows rows{{"CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS", "NAMES"}};
  for (auto& c : list)
    rows.push_back({short_id(c.id), c.image.substr(0, 20), command_text(c.command, 22),
                    human_duration((now - c.created) / 1000000000) + " ago",
                    status_text(c.state, c.exit_code, c.started, c.finished, now, c.health.status),
                    c.state == "running" ? ports_text(c.ports) : std::string{}, c.name});
  std::fputs(format_table(rows).c_str(), stdout);
  return 0;
}

int cmd_inspect(context& ctx, const parsed& p) {
  return inspect_each(p.positionals, [&](const std::string& name) {
    return container_json(ctx.conn().call<api::container_info>(api::method::container_inspect,
                                                               api::container_ref{name}));
  });
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

json stats_json(const api::container_stats& s) {
  return {{"ID", s.id},
          {"Name", s.name},
          {"CPUNanos", s.cpu_ns},
          {"CPUs", s.cpus},
          {"MemUsage", s.memory_used},
          {"MemLimit", s.memory_limit},
          {"HostRSS", s.host_rss},
          {"BlockRead", s.block_read},
          {"BlockWrite", s.block_write},
          {"NetRx", s.net_rx},
          {"NetTx", s.net_tx},
          {"PIDs", s.pids}};
}

// One table of stats; `previous` holds the last sample of each, for CPU % over the interval.
void print_stats(const std::vector<api::container_stats>& now,
                 const std::map<std::string, api::container_stats>& previous, bool first) {
  std::printf("%-14s%-20s%-9s%-22s%-9s%-12s%-22s%-22s%s\n", "CONTAINER ID", "NAME", "CPU %",
              "MEM USAGE / LIMIT", "MEM %", "HOST RSS", "NET I/O", "BLOCK I/O", "PIDS");
  for (auto& s : now) {
    // CPU % over the interval since the last sample, like docker stats (100% = one vCPU).
    double cpu = 0;
    if (auto it = previous.find(s.id); it != previous.end() && s.time > it->second.time)
      cpu = 100.0 * static_cast<double>(s.cpu_ns - it->second.cpu_ns) /
            static_cast<double>(s.time - it->second.time);
    char cpu_text[16], mem_pct[16];
    std::snprintf(cpu_text, sizeof cpu_text, "%.2f%%", cpu);
    std::snprintf(mem_pct, sizeof mem_pct, "%.2f%%",
                  s.memory_limit ? 100.0 * static_cast<double>(s.memory_used) /
                                       static_cast<double>(s.memory_limit)
                                 : 0.0);
    auto mem = human_size(s.memory_used) + " / " + human_size(s.memory_limit);
    auto net = human_size(s.net_rx) + " / " + human_size(s.net_tx);
    auto blk = human_size(s.block_read) + " / " + human_size(s.block_write);
    std::printf("%-14s%-20s%-9s%-22s%-9s%-12s%-22s%-22s%u\n", short_id(s.id).c_str(),
                s.name.substr(0, 19).c_str(), first ? "--" : cpu_text, mem.c_str(), mem_pct,
                human_size(s.host_rss).c_str(), net.c_str(), blk.c_str(), s.pids);
  }
}

int cmd_stats(context& ctx, const parsed& p) {
  auto& c = ctx.conn();
  std::vector<std::string> names = p.positionals;
  if (names.empty())
    for (auto& info : c.call<std::vector<api::container_info>>(api::method::container_list,
                                                               api::list_request{false}))
      names.push_back(info.name);
  std::map<std::string, api::container_stats> previous;
  bool stream = !p.has("no-stream");
  bool json_out = p.get("format") == "json";
  for (int round = 0;; ++round) {
    std::vector<api::container_stats> now;
    for (auto& n : names) {
      try {
        now.push_back(
            c.call<api::container_stats>(api::method::container_stats, api::container_ref{n}));
      } catch (const rpc::call_error& e) {
        if (!stream) throw cli_error(1, e.what());
      }
    }
    if (json_out) {
      json out = json::array();
      for (auto& s : now) out.push_back(stats_json(s));
      std::printf("%s\n", out.dump().c_str());
    } else {
      if (stream && ::isatty(STDOUT_FILENO)) std::printf("\033[2J\033[H");
      print_stats(now, previous, round == 0 && stream);
      std::fflush(stdout);
    }
    if (!stream) return 0;
    for (auto& s : now) previous[s.id] = s;
    std::this_thread::sleep_for(std::chrono::seconds(1));
  }
}

}  // namespace

command ps_command() {
  return {"ps",
          "[OPTIONS]",
          "List containers",
          {{"all", 'a', false, "", "Show all containers (default shows just running)"},
           {"filter", 'f', true, "KEY=VALUE",
            "Filter: status, name, id, ancestor, network, health, exited or label=KEY[=VALUE] "
            "(repeatable)"},
           {"quiet", 'q', false, "", "Only display container IDs"},
           {"format", 0, true, "json", "Print as JSON"}},
          false,
          0,
          0,
          cmd_ps};
}

command logs_command() {
  return {"logs",
          "[OPTIONS] CONTAINER",
          "Fetch the logs of a container",
          {{"follow", 'f', false, "", "Follow the output until the container exits"},
           {"tail", 'n', true, "N", "Only the last N lines (default all)"},
           {"timestamps", 't', false, "", "Show timestamps"},
           {"boot", 0, false, "", "Show the VM's console (kernel and berth-init) instead"}},
          false,
          1,
          1,
          cmd_logs};
}

command inspect_command() {
  return {"inspect",
          "CONTAINER [CONTAINER...]",
          "Return low-level information on containers as JSON",
          {},
          false,
          1,
          SIZE_MAX,
          cmd_inspect};
}

command stats_command() {
  return {"stats",
          "[OPTIONS] [CONTAINER...]",
          "Display a live stream of resource usage",
          {{"no-stream", 0, false, "", "Print one sample and exit"},
           {"format", 0, true, "json", "Print as JSON"}},
          false,
          0,
          SIZE_MAX,
          cmd_stats};
}

}  // namespace berth::cli

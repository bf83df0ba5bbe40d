// inspect_json.cpp: Docker-shaped JSON of containers, images, networks and volumes.
#include "inspect_json.hpp"

#include "format.hpp"
#include "run_flags.hpp"

namespace berth::cli {

using json = nlohmann::json;

namespace {

json network_settings_json(const api::container_info& c) {
  json networks = json::object();
  for (auto& e : c.networks)
    networks[e.network] = {{"IPAddress", e.ip},
                           {"IPPrefixLen", e.prefix_len},
                           {"Gateway", e.gateway},
                           {"MacAddress", e.mac},
                           {"Aliases", e.aliases}};
  json ports = json::object();
  for (auto& m : c.ports) {
    auto key = std::to_string(m.container_port) + "/" + m.protocol;
    if (!ports.contains(key)) ports[key] = json::array();
    ports[key].push_back({{"HostIp", m.host_ip.empty() ? "0.0.0.0" : m.host_ip},
                          {"HostPort", std::to_string(m.host_port)}});
  }
  std::string first_ip = c.networks.empty() ? std::string{} : c.networks[0].ip;
  return {{"NetworkMode", c.network_mode},
          {"IPAddress", first_ip},
          {"Networks", networks},
          {"Ports", ports}};
}

// `text` with invalid UTF-8 replaced by U+FFFD: a check's output is any bytes, cut anywhere.
std::string valid_utf8(const std::string& text) {
  return json::parse(json(text).dump(-1, ' ', false, json::error_handler_t::replace))
      .get<std::string>();
}

// State.Health as Docker shows it.
json health_json(const api::health_state& h) {
  json log = json::array();
  for (auto& r : h.log)
    log.push_back({{"Start", rfc3339(r.start)},
                   {"End", rfc3339(r.end)},
                   {"ExitCode", r.exit_code},
                   {"Output", valid_utf8(r.output)}});
  return {{"Status", h.status}, {"FailingStreak", h.failing_streak}, {"Log", log}};
}

// HostConfig.LogConfig: berth's own log format, rotated as Docker's json-file is.
json log_config_json(const api::log_config& given) {
  auto c = api::effective_log_config(given);
  return {
      {"Type", "berth"},
      {"Config",
       {{"max-size", api::format_log_size(c.max_size)}, {"max-file", std::to_string(c.max_file)}}}};
}

}  // namespace

json restart_policy_json(const std::string& policy) {
  // berthd stores only policies it parsed; anything else is shown by name, as it is.
  auto p = api::parse_restart_policy(policy).value_or(api::restart_policy_spec{policy, 0});
  return {{"Name", p.name}, {"MaximumRetryCount", p.max_retries}};
}

json healthcheck_json(const api::healthcheck& h) {
  return {{"Test", h.test},
          {"Interval", h.interval},
          {"Timeout", h.timeout},
          {"StartPeriod", h.start_period},
          {"Retries", h.retries}};
}

json container_json(const api::container_info& c) {
  json mounts = json::array();
  for (auto& m : c.mounts)
    mounts.push_back({{"Type", m.type},
                      {"Source", m.source},
                      {"Destination", m.target},
                      {"RW", !m.readonly},
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
            {{"Hostname", c.hostname},
             {"Env", c.env},
             {"WorkingDir", c.workdir},
             {"User", c.user},
             {"Tty", c.tty},
             {"OpenStdin", c.open_stdin},
             {"Labels", c.labels}}},
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
            {{"NetworkMode", c.network_mode},
             {"AutoRemove", c.auto_remove},
             {"NanoCpus", int64_t(c.cpus) * 1000000000},
             {"Memory", c.memory},
             {"RestartPolicy", restart_policy_json(c.restart)},
             {"LogConfig", log_config_json(c.log_config)},
             {"ReadonlyRootfs", c.read_only}}}};
  if (!c.healthcheck.test.empty()) out["Config"]["Healthcheck"] = healthcheck_json(c.healthcheck);
  if (!c.health.status.empty()) out["State"]["Health"] = health_json(c.health);
  return out;
}

json image_json(const api::image_detail& d) {
  json image{{"Id", d.info.id},
             {"RepoTags", d.info.tags},
             {"Digest", d.info.manifest_digest},
             {"Os", d.info.os},
             {"Architecture", d.info.architecture},
             {"Size", d.info.size},
             {"DiskSize", d.info.disk_size},
             {"Created", d.info.created},
             {"Config",
              {{"Entrypoint", d.entrypoint},
               {"Cmd", d.cmd},
               {"Env", d.env},
               {"WorkingDir", d.workdir},
               {"User", d.user},
               {"StopSignal", d.stop_signal},
               {"ExposedPorts", d.exposed_ports},
               {"Volumes", d.volumes},
               {"Labels", d.labels}}},
             {"RootFS", {{"Layers", d.layers}}}};
  if (!d.healthcheck.test.empty()) image["Config"]["Healthcheck"] = healthcheck_json(d.healthcheck);
  return image;
}

json image_list_json(const api::image_info& i) {
  return {{"Id", i.id},
          {"RepoTags", i.tags},
          {"Digest", i.manifest_digest},
          {"Os", i.os},
          {"Architecture", i.architecture},
          {"Size", i.size},
          {"DiskSize", i.disk_size},
          {"Created", i.created}};
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

json volume_json(const api::volume_info& v) {
  return {{"Name", v.name},
          {"Driver", v.driver},
          {"Mountpoint", v.mountpoint},
          {"Size", v.size},
          {"UsedBytes", v.used},
          {"CreatedAt", rfc3339(v.created)},
          {"Containers", v.containers}};
}

}  // namespace berth::cli

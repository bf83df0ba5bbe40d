// inspect_json: berth's records as the JSON Docker's inspect and `--format json` print, with
// Docker's field names and shapes, so that tools written against Docker's output read ours.
#pragma once

#include "berth/rpc/api.hpp"

#include <nlohmann/json.hpp>

#include <string>

namespace berth::cli {

/// A container as docker inspect shows it (Id, Name, Config, State, NetworkSettings, HostConfig).
nlohmann::json container_json(const api::container_info& c);

/// HostConfig.RestartPolicy from a stored policy ("no", "always", "unless-stopped",
/// "on-failure[:N]"): {"Name": ..., "MaximumRetryCount": N}; "" is "no".
nlohmann::json restart_policy_json(const std::string& policy);

/// A health check as Docker's Config.Healthcheck (durations in ns; zero: the default).
nlohmann::json healthcheck_json(const api::healthcheck& h);

/// An image as docker image inspect shows it.
nlohmann::json image_json(const api::image_detail& d);

/// A line of `image ls --format json`.
nlohmann::json image_list_json(const api::image_info& i);

/// A network as docker network inspect shows it, with its leases as Containers.
nlohmann::json network_json(const api::network_info& n);

/// A volume as docker volume inspect shows it.
nlohmann::json volume_json(const api::volume_info& v);

}  // namespace berth::cli

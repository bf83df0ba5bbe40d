// records: what berthd keeps durably about containers and images.
//
// Plain structs, stored by the store actor as msgpack maps (fields can be added without a schema
// migration), passed between actors with inspect() from vocabulary.hpp; both from the one field
// list of BERTH_FIELDS (rpc/fields.hpp). CAF-free.
#pragma once

#include "berth/agent/protocol.hpp"
#include "berth/rpc/api.hpp"
#include "berth/rpc/fields.hpp"

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace berth {

/// The lifecycle states of a container, as `ps` shows them.
namespace state {
inline constexpr const char* created = "created";
inline constexpr const char* starting = "starting";
inline constexpr const char* running = "running";
inline constexpr const char* stopping = "stopping";
inline constexpr const char* exited = "exited";
}  // namespace state

/// A container: its spec as resolved at create time, and where it is in its lifecycle.
struct container_record {
  std::string id;  ///< 64 hex digits.
  std::string name;
  std::string image;            ///< Reference as typed at create.
  std::string image_id;         ///< "sha256:..." of the image config.
  std::string image_disk;       ///< Path of the image's erofs disk.
  agent::process_spec process;  ///< The main process, with image config and flags applied.
  std::string stop_signal = "SIGTERM";
  uint32_t cpus = 1;
  int64_t memory = 0;  ///< Bytes the workload may use; the VM gets a fixed overhead on top.
  bool auto_remove = false;
  std::string state = state::created;
  int32_t exit_code = 0;
  std::string reason;   ///< Why it exited or failed to start.
  int64_t created = 0;  ///< Unix time in nanoseconds.
  int64_t started = 0;
  int64_t finished = 0;
  int64_t qemu_pid = 0;            ///< Host pid of the VM while it runs.
  uint32_t vsock_cid = 0;          ///< The guest's vsock CID while it runs (vsock transport only).
  std::string restart = "no";      ///< no, on-failure[:N], always, unless-stopped.
  uint32_t restart_count = 0;      ///< Restarts by the policy since the user last started it.
  bool stopped_by_user = false;    ///< The last stop was asked for: policies leave it stopped.
  int32_t stop_timeout = 10;       ///< Seconds between the stop signal and SIGKILL.
  bool read_only = false;          ///< The root filesystem is read-only.
  std::vector<api::mount> mounts;  ///< Volumes, host directories and tmpfs, in order.
  std::string network_mode = "none";         ///< "bridge", "none" or "user".
  std::vector<api::endpoint> endpoints;      ///< Leases on bridge networks, in attach order.
  std::vector<std::string> dns;              ///< --dns; empty: each network's resolver.
  std::vector<api::port_mapping> ports;      ///< Ports to publish, as asked (-p, -P resolved).
  std::vector<api::port_mapping> published;  ///< Ports as open while it runs (host ports
                                             ///< resolved); empty when it does not run.
  api::healthcheck healthcheck;  ///< The image's and the flags' merged; an empty test: none.
  api::health_state health;      ///< Runtime state, kept for ps and inspect; reset at each start.
  std::map<std::string, std::string> labels;  ///< The image's labels with --label over them.
  api::log_config
      log_config;  ///< --log-opt as resolved at create; zeros (older records): defaults.
  BERTH_FIELDS(container_record, id, name, image, image_id, image_disk, process, stop_signal, cpus,
               memory, auto_remove, state, exit_code, reason, created, started, finished, qemu_pid,
               vsock_cid, restart, restart_count, stopped_by_user, stop_timeout, read_only, mounts,
               network_mode, endpoints, dns, ports, published, healthcheck, health, labels,
               log_config);
};

/// A network: a Linux bridge, its subnet and the addresses leased on it.
struct network_record {
  std::string id;  ///< 64 hex digits.
  std::string name;
  std::string subnet;   ///< "10.88.0.0/16".
  std::string gateway;  ///< "10.88.0.1".
  std::string bridge;   ///< "brth-1a2b3c4d".
  bool internal = false;
  int64_t created = 0;
  std::vector<api::network_lease>
      leases;  ///< Addresses handed out, kept until the container is removed.
  BERTH_FIELDS(network_record, id, name, subnet, gateway, bridge, internal, created, leases);
};

/// A named volume: an ext4 disk image of its own, kept after its containers are removed.
struct volume_record {
  std::string name;
  std::string disk;     ///< Path of the disk image.
  int64_t size = 0;     ///< Capacity in bytes (the file is sparse).
  int64_t created = 0;  ///< Unix ns.
  BERTH_FIELDS(volume_record, name, disk, size, created);
};

/// An image: where its content and disk are, and its names.
struct image_record {
  std::string id;                 ///< "sha256:<hex>" of the config blob.
  std::vector<std::string> tags;  ///< Full references ("docker.io/library/busybox:latest").
  std::string manifest_digest;
  std::string index_digest;               ///< The index it was chosen from, if any (kept for GC).
  std::vector<std::string> repo_digests;  ///< "repo@sha256:..." it was pulled or pushed as.
  std::string os;
  std::string architecture;
  std::vector<std::string> layers;       ///< Layer digests, bottom first.
  std::vector<std::string> layer_types;  ///< Media type of each layer (for save and push).
  uint64_t size = 0;                     ///< Bytes of the compressed layers.
  std::string disk;                      ///< Path of the erofs image disk.
  uint64_t disk_size = 0;
  int64_t created = 0;  ///< Unix seconds from the image config.
  int64_t loaded = 0;   ///< Unix nanoseconds when berthd got it.
  // What containers take from the image config.
  std::vector<std::string> entrypoint;
  std::vector<std::string> cmd;
  std::vector<std::string> env;
  std::string workdir;
  std::string user;
  std::string stop_signal;
  std::vector<std::string> exposed_ports;
  std::vector<std::string> volumes;
  std::map<std::string, std::string> labels;
  api::healthcheck healthcheck;  ///< config.Healthcheck; an empty test: none.
  BERTH_FIELDS(image_record, id, tags, manifest_digest, index_digest, repo_digests, os,
               architecture, layers, layer_types, size, disk, disk_size, created, loaded,
               entrypoint, cmd, env, workdir, user, stop_signal, exposed_ports, volumes, labels,
               healthcheck);
};

/// What a container needs of its image to be created: the disk and the config defaults.
struct image_runtime {
  std::string id;
  std::string reference;  ///< The full reference it was found under.
  std::string disk;
  std::vector<std::string> entrypoint;
  std::vector<std::string> cmd;
  std::vector<std::string> env;
  std::string workdir;
  std::string user;
  std::string stop_signal;
  std::vector<std::string> exposed_ports;     ///< "80/tcp", for -P.
  api::healthcheck healthcheck;               ///< config.Healthcheck; an empty test: none.
  std::map<std::string, std::string> labels;  ///< config.Labels: a container's start from them.
  BERTH_FIELDS(image_runtime, id, reference, disk, entrypoint, cmd, env, workdir, user, stop_signal,
               exposed_ports, healthcheck, labels);
};

}  // namespace berth

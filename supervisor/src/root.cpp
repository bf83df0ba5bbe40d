// root.cpp: the child specs of berthd's supervision tree.
#include "berth/supervisor/berthd.hpp"

#include "berth/actors/log.hpp"
#include "berth/actors/supervision.hpp"
#include "berth/image/image_supervisor.hpp"
#include "berth/net/net_supervisor.hpp"
#include "berth/supervisor/api_server.hpp"
#include "berth/supervisor/store.hpp"
#include "berth/vm/vm_supervisor.hpp"

#include <caf/actor_cast.hpp>
#include <caf/actor_system.hpp>

namespace berth {

namespace {

inline constexpr log::logger root_log("root");

}  // namespace

caf::actor spawn_root(caf::actor_system& sys, const daemon_options& opts,
                      std::shared_ptr<const vm::vm_environment> env) {
  using namespace std::chrono_literals;
  std::vector<child_spec> children;

  child_spec store;
  store.name = store_name;
  store.max_restarts = 3;
  store.window = 60s;
  store.start = [db = opts.data_root / "berth.db"](caf::local_actor* sup) -> caf::actor {
    auto h = spawn_store(sup, db);
    if (!h) {
      root_log.error("{}", describe(h.error()));
      return {};
    }
    return caf::actor_cast<caf::actor>(*h);
  };
  children.push_back(store);

  child_spec images;
  images.name = image_supervisor_name;
  image::image_options image_opts;
  image_opts.data_root = opts.data_root;
  image_opts.registry.certs_dir = opts.registry_certs;
  image_opts.registry.insecure_registries = opts.insecure_registries;
  image_opts.registry.max_concurrent_downloads = opts.max_concurrent_downloads;
  images.start = [image_opts](caf::local_actor* sup) -> caf::actor {
    return caf::actor_cast<caf::actor>(image::spawn_image_supervisor(sup, image_opts));
  };
  children.push_back(images);

  if (!opts.bridge_none) {
    child_spec nets;
    nets.name = net_supervisor_name;
    net::net_options net_opts;
    net_opts.default_subnet = opts.default_subnet;
    net_opts.upstream_dns = opts.dns;
    nets.start = [net_opts](caf::local_actor* sup) -> caf::actor {
      return caf::actor_cast<caf::actor>(net::spawn_net_supervisor(sup, net_opts));
    };
    children.push_back(nets);
  }

  child_spec vms;
  vms.name = vm_supervisor_name;
  vms.start = [env](caf::local_actor* sup) -> caf::actor {
    return caf::actor_cast<caf::actor>(vm::spawn_vm_supervisor(sup, env));
  };
  children.push_back(vms);

  child_spec rpc;
  rpc.name = "rpc";
  api_server::options server_opts;
  server_opts.host = opts.host;
  server_opts.upload_dir = opts.data_root / "tmp";
  server_opts.version = berthd_version;
  server_opts.fault_injection = opts.fault_injection;
  server_opts.group = opts.group;
  server_opts.max_connections = opts.max_connections;
  rpc.start = [server = server_opts](caf::local_actor* sup) -> caf::actor {
    auto h = api_server::spawn(sup, server);
    if (!h) {
      root_log.error("{}", describe(h.error()));
      return {};
    }
    return *h;
  };
  children.push_back(rpc);

  return sys.spawn(one_for_one_supervisor, std::move(children));
}

}  // namespace berth

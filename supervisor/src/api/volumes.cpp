// volumes.cpp: the volume.* methods, served by the vm supervisor (volumes are disks of its
// containers).
#include "api/handler.hpp"

namespace berth::api_server {

namespace {

void create(caf::io::broker* self, const session_ptr& st, rpc::message& m) {
  vm_call<api::volume_info>(self, st, m.id, volume_atom_v, create_atom_v,
                            rpc::arg<api::volume_create_request>(m));
}

void list(caf::io::broker* self, const session_ptr& st, rpc::message& m) {
  vm_call<std::vector<api::volume_info>>(self, st, m.id, volume_atom_v, list_atom_v);
}

void inspect(caf::io::broker* self, const session_ptr& st, rpc::message& m) {
  vm_call<api::volume_info>(self, st, m.id, volume_atom_v, inspect_atom_v,
                            rpc::arg<api::volume_ref>(m).name);
}

void remove(caf::io::broker* self, const session_ptr& st, rpc::message& m) {
  auto req = rpc::arg<api::volume_remove_request>(m);
  vm_call<void>(self, st, m.id, volume_atom_v, remove_atom_v, req.name, req.force);
}

void prune(caf::io::broker* self, const session_ptr& st, rpc::message& m) {
  vm_call<api::removed>(self, st, m.id, volume_atom_v, prune_atom_v);
}

}  // namespace

void volume_routes(route_table& table) {
  namespace mth = api::method;
  table.emplace(mth::volume_create, create);
  table.emplace(mth::volume_list, list);
  table.emplace(mth::volume_inspect, inspect);
  table.emplace(mth::volume_remove, remove);
  table.emplace(mth::volume_prune, prune);
}

}  // namespace berth::api_server

// networks.cpp: the network.* methods, served by the net supervisor (absent with
// berthd --bridge=none). network.connect and network.disconnect are named in the api but not
// served yet.
#include "api/handler.hpp"

namespace berth::api_server {

namespace {

template <class Result, class... Ts>
void net_call(caf::io::broker* self, const session_ptr& st, uint32_t id, Ts&&... xs) {
  ask<Result>(self, st, id, net_supervisor_of(self->home_system()),
              make_error(errc::unavailable,
                         "bridge networking is off (berthd --bridge=none) or "
                         "the network service is not running"),
              std::forward<Ts>(xs)...);
}

void create(caf::io::broker* self, const session_ptr& st, rpc::message& m) {
  net_call<api::network_info>(self, st, m.id, create_atom_v,
                              rpc::arg<api::network_create_request>(m));
}

void list(caf::io::broker* self, const session_ptr& st, rpc::message& m) {
  net_call<std::vector<api::network_info>>(self, st, m.id, list_atom_v);
}

void inspect(caf::io::broker* self, const session_ptr& st, rpc::message& m) {
  net_call<api::network_info>(self, st, m.id, inspect_atom_v, rpc::arg<api::network_ref>(m).name);
}

void remove(caf::io::broker* self, const session_ptr& st, rpc::message& m) {
  net_call<void>(self, st, m.id, remove_atom_v, rpc::arg<api::network_ref>(m).name);
}

void prune(caf::io::broker* self, const session_ptr& st, rpc::message& m) {
  net_call<api::removed>(self, st, m.id, prune_atom_v);
}

}  // namespace

void network_routes(route_table& table) {
  namespace mth = api::method;
  table.emplace(mth::network_create, create);
  table.emplace(mth::network_list, list);
  table.emplace(mth::network_inspect, inspect);
  table.emplace(mth::network_remove, remove);
  table.emplace(mth::network_prune, prune);
}

}  // namespace berth::api_server

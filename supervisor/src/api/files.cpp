// files.cpp: the container.file.* calls of berth cp, routed by the vm supervisor to the
// container's vm actor: one bounded chunk per call, so the client's pace is the flow control and
// nothing of a file is buffered here.
#include "api/handler.hpp"

namespace berth::api_server {

namespace {

void stat(caf::io::broker* self, const session_ptr& st, rpc::message& m) {
  vm_call<api::file_info>(self, st, m.id, file_atom_v, rpc::arg<api::file_ref>(m));
}

void list(caf::io::broker* self, const session_ptr& st, rpc::message& m) {
  vm_call<std::vector<api::file_info>>(self, st, m.id, file_atom_v, list_atom_v,
                                       rpc::arg<api::file_ref>(m));
}

void read(caf::io::broker* self, const session_ptr& st, rpc::message& m) {
  auto req = rpc::arg<api::file_read_request>(m);
  if (req.length > api::max_file_chunk)
    return reply_error(self, *st, m.id,
                       make_error(errc::invalid_argument, "file reads are at most 1 MiB"));
  vm_call<api::file_data>(self, st, m.id, file_atom_v, read_atom_v, std::move(req));
}

void write(caf::io::broker* self, const session_ptr& st, rpc::message& m) {
  auto req = rpc::arg<api::file_write_request>(m);
  if (req.data.size() > api::max_file_chunk)
    return reply_error(self, *st, m.id,
                       make_error(errc::invalid_argument, "file writes are at most 1 MiB"));
  vm_call<void>(self, st, m.id, file_atom_v, write_atom_v, std::move(req));
}

void mkdir(caf::io::broker* self, const session_ptr& st, rpc::message& m) {
  vm_call<void>(self, st, m.id, file_atom_v, mkdir_atom_v, rpc::arg<api::file_spec>(m));
}

void symlink(caf::io::broker* self, const session_ptr& st, rpc::message& m) {
  vm_call<void>(self, st, m.id, file_atom_v, symlink_atom_v, rpc::arg<api::file_spec>(m));
}

void set_times(caf::io::broker* self, const session_ptr& st, rpc::message& m) {
  vm_call<void>(self, st, m.id, file_atom_v, touch_atom_v, rpc::arg<api::file_spec>(m));
}

}  // namespace

void file_routes(route_table& table) {
  namespace mth = api::method;
  table.emplace(mth::file_stat, stat);
  table.emplace(mth::file_list, list);
  table.emplace(mth::file_read, read);
  table.emplace(mth::file_write, write);
  table.emplace(mth::file_mkdir, mkdir);
  table.emplace(mth::file_symlink, symlink);
  table.emplace(mth::file_set_times, set_times);
}

}  // namespace berth::api_server

// file_calls.cpp: berth cp's calls, forwarded to the guest agent of the running container; its
// answers are checked (from_guest), since the guest is not trusted.
#include "vm_state.hpp"

#include "berth/rpc/codec.hpp"

namespace berth::vm::detail {

// The file calls of berth cp need the guest's agent, so a VM that runs.
caf::error files_unavailable(const vm_state& st) {
  return make_error(errc::conflict,
                    "container " + st.rec.name + " is not running; berth cp needs its VM");
}

// A file of the guest as the API shows it. The guest is not trusted: an unknown type is "other".
api::file_info to_api(agent::file_info&& f) {
  api::file_info out;
  out.path = std::move(f.path);
  out.type =
      f.type == "file" || f.type == "dir" || f.type == "symlink" ? std::move(f.type) : "other";
  out.mode = f.mode & 07777;
  out.uid = f.uid;
  out.gid = f.gid;
  out.size = f.size;
  out.mtime_ns = f.mtime_ns;
  out.link = std::move(f.link);
  return out;
}

// Whether `name` is one path component, as a directory entry must be (clients join it to paths).
bool entry_name_ok(const std::string& name) {
  return !name.empty() && name != "." && name != ".." && name.find('/') == std::string::npos &&
         name.find('\0') == std::string::npos;
}

// Sends a file call to the agent and answers `convert(packed answer)`, a caf::expected. The
// guest is not trusted: an answer of the wrong shape is its fault (from_guest ends its VM) and
// an error for this call, never a crash of the actor.
template <class Result, class Convert>
caf::result<Result> file_call(self_ptr self, std::string_view method, std::string packed,
                              Convert convert) {
  auto& st = self->state;
  if (st.ph != phase::running || !st.agent) return files_unavailable(st);
  auto rp = self->make_response_promise<Result>();
  call_agent(self, method, std::move(packed))
      .then(
          [rp, convert](const std::string& answer) mutable {
            caf::expected<Result> out = convert(answer);
            if (out)
              rp.deliver(std::move(*out));
            else
              rp.deliver(std::move(out.error()));
          },
          [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
  return rp;
}

// A file call whose answer is empty.
caf::result<void> file_change(self_ptr self, std::string_view method, std::string packed) {
  auto& st = self->state;
  if (st.ph != phase::running || !st.agent) return files_unavailable(st);
  auto rp = self->make_response_promise();
  call_agent(self, method, std::move(packed))
      .then([rp](const std::string&) mutable { rp.deliver(caf::unit); },
            [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
  return rp;
}

agent::file_info agent_spec(const api::file_spec& spec) {
  agent::file_info f;
  f.path = spec.path;
  f.mode = spec.mode & 07777;
  f.uid = spec.uid;
  f.gid = spec.gid;
  f.mtime_ns = spec.mtime_ns;
  f.link = spec.link;
  return f;
}

caf::result<api::file_info> file_stat(self_ptr self, const api::file_ref& ref) {
  return file_call<api::file_info>(
      self, agent::method::stat, rpc::pack(agent::path_request{ref.path}),
      [self](const std::string& answer) -> caf::expected<api::file_info> {
        auto got = from_guest<agent::file_info>(self, "stat answer", answer);
        if (!got) return std::move(got.error());
        return to_api(std::move(*got));
      });
}

caf::result<std::vector<api::file_info>> file_list(self_ptr self, const api::file_ref& ref) {
  return file_call<std::vector<api::file_info>>(
      self, agent::method::list, rpc::pack(agent::path_request{ref.path}),
      [self,
       path = ref.path](const std::string& answer) -> caf::expected<std::vector<api::file_info>> {
        auto got = from_guest<std::vector<agent::file_info>>(self, "list answer", answer);
        if (!got) return std::move(got.error());
        std::vector<api::file_info> out;
        for (auto& f : *got) {
          if (!entry_name_ok(f.path)) {
            vm_log.warn("container={} the agent listed a bad entry name in {}; dropped it",
                        self->state.short_id(), path);
            continue;
          }
          out.push_back(to_api(std::move(f)));
        }
        return out;
      });
}

caf::result<api::file_data> file_read(self_ptr self, const api::file_read_request& req) {
  agent::read_request r;
  r.path = req.path;
  r.offset = req.offset;
  r.length = std::min(req.length, api::max_file_chunk);
  return file_call<api::file_data>(
      self, agent::method::read, rpc::pack(r),
      [self, length = r.length](const std::string& answer) -> caf::expected<api::file_data> {
        auto got = from_guest<agent::read_result>(self, "read answer", answer);
        if (!got) return std::move(got.error());
        if (got->data.size() > length) {
          auto err = make_error(errc::protocol, std::to_string(got->data.size()) +
                                                    " bytes where at most " +
                                                    std::to_string(length) + " were asked for");
          guest_fault(self, "read answer", err);
          return err;
        }
        return api::file_data{std::move(got->data), got->eof};
      });
}

caf::result<void> file_write(self_ptr self, api::file_write_request& req) {
  if (req.data.size() > api::max_file_chunk)
    return make_error(errc::invalid_argument, "file writes are at most 1 MiB");
  agent::write_request w;
  w.path = std::move(req.path);
  w.offset = req.offset;
  w.data = std::move(req.data);
  w.create = req.create;
  w.mode = req.mode & 07777;
  w.uid = req.uid;
  w.gid = req.gid;
  return file_change(self, agent::method::write, rpc::pack(w));
}

caf::result<void> file_mkdir(self_ptr self, const api::file_spec& spec) {
  return file_change(self, agent::method::mkdir, rpc::pack(agent_spec(spec)));
}

caf::result<void> file_symlink(self_ptr self, const api::file_spec& spec) {
  return file_change(self, agent::method::symlink, rpc::pack(agent_spec(spec)));
}

caf::result<void> file_touch(self_ptr self, const api::file_spec& spec) {
  return file_change(self, agent::method::set_times, rpc::pack(agent_spec(spec)));
}

}  // namespace berth::vm::detail

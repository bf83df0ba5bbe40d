// server.cpp: the listener broker, session brokers and stream forwarders.
#include "berth/rpc/server.hpp"

#include "berth/actors/log.hpp"
#include "berth/os/fd.hpp"
#include "berth/os/socket.hpp"
#include "berth/os/random.hpp"
#include "berth/actors/store.hpp"
#include "berth/actors/vocabulary.hpp"
#include "berth/actors/images.hpp"
#include "berth/actors/nets.hpp"
#include "berth/rpc/api.hpp"
#include "berth/rpc/client.hpp"
#include "berth/rpc/codec.hpp"
#include "berth/vm/container.hpp"
#include "berth/vm/vm_supervisor.hpp"

#include <caf/actor_registry.hpp>
#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/io/broker.hpp>
#include <caf/io/middleman.hpp>
#include <caf/io/system_messages.hpp>
#include <caf/local_actor.hpp>
#include <caf/send.hpp>

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <map>
#include <memory>

namespace berth::rpc {

namespace fs = std::filesystem;

namespace {

inline constexpr log::logger rpc_log("rpc");

// Forwards one stream's messages to its session, tagged with the stream id. Starts paused:
// messages wait until the session has sent the response that names the stream (go_atom).
caf::behavior stream_forwarder(caf::event_based_actor* self, caf::actor session, uint32_t stream) {
  struct state {
    bool paused = true;
    std::vector<caf::message> held;
  };
  auto st = std::make_shared<state>();
  auto forward = [self, session, stream, st](caf::message msg) {
    if (st->paused) {
      st->held.push_back(std::move(msg));
      return;
    }
    if (msg.match_element<end_atom>(0)) {
      int32_t code = msg.size() > 2 && msg.match_element<int32_t>(2) ? msg.get_as<int32_t>(2) : -1;
      self->send(session, end_atom_v, stream, code);
      self->quit();
      return;
    }
    self->send(session, output_atom_v, stream, msg.get_as<uint8_t>(2), msg.get_as<int64_t>(3),
               msg.get_as<std::vector<char>>(4));
  };
  return {
      [forward](output_atom, const std::string& id, uint8_t fd, int64_t time, std::vector<char>& data) {
        forward(caf::make_message(output_atom_v, id, fd, time, std::move(data)));
      },
      [forward](end_atom, const std::string& id) { forward(caf::make_message(end_atom_v, id)); },
      [forward](end_atom, const std::string& id, int32_t code) { forward(caf::make_message(end_atom_v, id, code)); },
      [st, forward](go_atom) {
        st->paused = false;
        auto held = std::move(st->held);
        for (auto& m : held) forward(std::move(m));
      },
  };
}

struct upload_state {
  os::unique_fd fd;
  fs::path path;
  uint64_t size = 0;
};

/// One open stream: who feeds it and, for stdin, which process it belongs to.
struct stream_state {
  caf::actor forwarder;
  std::string container;  ///< Container id.
  std::string process;    ///< The container id for its main process, else an exec id.
  bool stdin = false;     ///< The client may send stream.stdin.
};

struct session_state {
  server_options opts;
  caf::io::connection_handle conn;
  decoder dec;
  std::map<uint32_t, upload_state> uploads;
  std::map<uint32_t, stream_state> streams;
  uint32_t next_upload = 1;
  uint32_t next_stream = 1;
  bool closing = false;

  ~session_state() {
    for (auto& [id, up] : uploads) ::unlink(up.path.c_str());
    for (auto& [id, s] : streams) caf::anon_send_exit(s.forwarder, caf::exit_reason::user_shutdown);
  }
};

using session_ptr = std::shared_ptr<session_state>;

void send_bytes(caf::io::broker* self, session_state& st, const std::string& bytes) {
  if (st.closing) return;
  self->write(st.conn, bytes.size(), bytes.data());
  self->flush(st.conn);
}

template <class T>
void reply(caf::io::broker* self, session_state& st, uint32_t id, const T& value) {
  send_bytes(self, st, encode_result(id, value));
}

void reply_error(caf::io::broker* self, session_state& st, uint32_t id, const caf::error& err) {
  send_bytes(self, st, encode_error(id, code_of(err), describe(err)));
}

vm_supervisor_actor vms(caf::io::broker* self) {
  return self->home_system().registry().get<vm_supervisor_actor>(
      caf::atom_from_string(vm_supervisor_name));
}

image_supervisor_actor images(caf::io::broker* self) {
  return self->home_system().registry().get<image_supervisor_actor>(
      caf::atom_from_string(image_supervisor_name));
}

net_supervisor_actor nets(caf::io::broker* self) {
  return self->home_system().registry().get<net_supervisor_actor>(caf::atom_from_string(net_supervisor_name));
}

caf::error unavailable(const char* what) {
  return make_error(errc::unavailable, std::string("the ") + what + " service is not running");
}

// Routes a request whose answer is one value from the vm supervisor.
template <class Result, class... Ts>
void vm_call(caf::io::broker* self, const session_ptr& st, uint32_t id, Ts&&... xs) {
  auto h = vms(self);
  if (!h) return reply_error(self, *st, id, unavailable("container"));
  auto handle = self->request(h, caf::infinite, std::forward<Ts>(xs)...);
  if constexpr (std::is_void_v<Result>)
    handle.then([self, st, id] { reply(self, *st, id, api::empty{}); },
                [self, st, id](caf::error& err) { reply_error(self, *st, id, err); });
  else
    handle.then([self, st, id](Result& r) { reply(self, *st, id, r); },
                [self, st, id](caf::error& err) { reply_error(self, *st, id, err); });
}

// Opens a stream: spawns its forwarder, asks `ask(forwarder)` to feed it (a request answering
// the container id), answers the stream id and releases the forwarder.
template <class Ask>
void open_stream(caf::io::broker* self, const session_ptr& st, uint32_t id, bool stdin, Ask ask) {
  auto stream = st->next_stream++;
  auto fwd = self->spawn(stream_forwarder, caf::actor_cast<caf::actor>(self), stream);
  st->streams.emplace(stream, stream_state{fwd, {}, {}, stdin});
  ask(fwd).then(
      [self, st, id, stream, fwd](const std::string& container) {
        if (auto it = st->streams.find(stream); it != st->streams.end()) {
          it->second.container = container;
          it->second.process = container;
        }
        reply(self, *st, id, api::stream{stream});
        caf::anon_send(fwd, go_atom_v);
      },
      [self, st, id, stream, fwd](caf::error& err) {
        st->streams.erase(stream);
        caf::anon_send_exit(fwd, caf::exit_reason::user_shutdown);
        reply_error(self, *st, id, err);
      });
}

// The stream a stream.* request names, with stdin allowed when `need_stdin`.
caf::expected<stream_state*> stream_of(session_state& st, uint32_t stream, bool need_stdin) {
  auto it = st.streams.find(stream);
  if (it == st.streams.end() || it->second.container.empty())
    return make_error(errc::not_found, "no such stream: " + std::to_string(stream));
  if (need_stdin && !it->second.stdin)
    return make_error(errc::conflict, "this stream was opened without stdin");
  return &it->second;
}

// Routes a request whose answer is one value from the image supervisor.
template <class Result, class... Ts>
void image_call(caf::io::broker* self, const session_ptr& st, uint32_t id, Ts&&... xs) {
  auto h = images(self);
  if (!h) return reply_error(self, *st, id, unavailable("image"));
  auto handle = self->request(h, caf::infinite, std::forward<Ts>(xs)...);
  if constexpr (std::is_void_v<Result>)
    handle.then([self, st, id] { reply(self, *st, id, api::empty{}); },
                [self, st, id](caf::error& err) { reply_error(self, *st, id, err); });
  else
    handle.then([self, st, id](Result& r) { reply(self, *st, id, r); },
                [self, st, id](caf::error& err) { reply_error(self, *st, id, err); });
}

// Routes a request whose answer is one value from the net supervisor.
template <class Result, class... Ts>
void net_call(caf::io::broker* self, const session_ptr& st, uint32_t id, Ts&&... xs) {
  auto h = nets(self);
  if (!h)
    return reply_error(self, *st, id,
                       make_error(errc::unavailable,
                                  "bridge networking is off (berthd --bridge=none) or the network service is not running"));
  auto handle = self->request(h, caf::infinite, std::forward<Ts>(xs)...);
  if constexpr (std::is_void_v<Result>)
    handle.then([self, st, id] { reply(self, *st, id, api::empty{}); },
                [self, st, id](caf::error& err) { reply_error(self, *st, id, err); });
  else
    handle.then([self, st, id](Result& r) { reply(self, *st, id, r); },
                [self, st, id](caf::error& err) { reply_error(self, *st, id, err); });
}

void dispatch(caf::io::broker* self, const session_ptr& st, message& m) {
  namespace mth = api::method;
  auto id = m.id;
  const auto& name = m.method;
  if (name == mth::system_ping) return reply(self, *st, id, api::empty{});
  if (name == mth::debug_crash && st->opts.fault_injection) {
    // Fault injection for the chaos tests: a supervisor of the tree ends with an error (its
    // own supervisor restarts it), or a container's vm actor throws.
    auto target = arg<api::crash_request>(m).target;
    if (target == store_name || target == image_supervisor_name || target == net_supervisor_name ||
        target == vm_supervisor_name) {
      auto h = self->home_system().registry().get(caf::atom_from_string(target));
      if (!h) return reply_error(self, *st, id, make_error(errc::not_found, "no actor " + target + " is running"));
      rpc_log.warn("debug.crash: crashing {}", target);
      self->send_exit(caf::actor_cast<caf::actor>(h), make_error(errc::internal, "a crash injected by debug.crash"));
      return reply(self, *st, id, api::empty{});
    }
    rpc_log.warn("debug.crash: crashing the vm actor of {}", target);
    return vm_call<void>(self, st, id, crash_atom_v, target);
  }
  if (name == mth::system_info) {
    auto h = vms(self);
    if (!h) return reply_error(self, *st, id, unavailable("container"));
    self->request(h, caf::infinite, info_atom_v)
        .then(
            [self, st, id](api::system_info& info) {
              info.version = st->opts.version;
              auto imgs = images(self);
              if (!imgs) return reply(self, *st, id, info);
              self->request(imgs, caf::infinite, list_atom_v)
                  .then(
                      [self, st, id, info](std::vector<api::image_info>& list) mutable {
                        info.images = static_cast<uint32_t>(list.size());
                        reply(self, *st, id, info);
                      },
                      [self, st, id, info](caf::error&) { reply(self, *st, id, info); });
            },
            [self, st, id](caf::error& err) { reply_error(self, *st, id, err); });
    return;
  }
  if (name == mth::image_list) {
    auto h = images(self);
    if (!h) return reply_error(self, *st, id, unavailable("image"));
    self->request(h, caf::infinite, list_atom_v)
        .then([self, st, id](std::vector<api::image_info>& list) { reply(self, *st, id, list); },
              [self, st, id](caf::error& err) { reply_error(self, *st, id, err); });
    return;
  }
  if (name == mth::image_load_begin) {
    std::error_code ec;
    fs::create_directories(st->opts.upload_dir, ec);
    upload_state up;
    up.path = st->opts.upload_dir / ("upload-" + os::random_hex(8) + ".tar");
    up.fd.reset(::open(up.path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
    if (!up.fd)
      return reply_error(self, *st, id,
                         make_error(errc::io, "cannot spool the upload to " + up.path.string() + ": " +
                                                  std::strerror(errno)));
    auto upload_id = st->next_upload++;
    st->uploads.emplace(upload_id, std::move(up));
    return reply(self, *st, id, api::upload{upload_id});
  }
  if (name == mth::image_load_chunk) {
    auto chunk = arg<api::upload_chunk>(m);
    auto it = st->uploads.find(chunk.upload_id);
    if (it == st->uploads.end())
      return reply_error(self, *st, id, make_error(errc::not_found, "no such upload"));
    auto& up = it->second;
    up.size += chunk.data.size();
    if (up.size > st->opts.max_upload) {
      ::unlink(up.path.c_str());
      st->uploads.erase(it);
      return reply_error(self, *st, id, make_error(errc::invalid_argument, "the archive is larger than the upload limit"));
    }
    std::string_view rest(chunk.data.data(), chunk.data.size());
    while (!rest.empty()) {
      auto n = ::write(up.fd.get(), rest.data(), rest.size());
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        auto msg = "cannot spool the upload: " + std::string(std::strerror(errno));
        ::unlink(up.path.c_str());
        st->uploads.erase(it);
        return reply_error(self, *st, id, make_error(errc::io, msg));
      }
      rest.remove_prefix(static_cast<std::size_t>(n));
    }
    return reply(self, *st, id, api::empty{});
  }
  if (name == mth::image_load_end) {
    auto ref = arg<api::upload>(m);
    auto it = st->uploads.find(ref.upload_id);
    if (it == st->uploads.end())
      return reply_error(self, *st, id, make_error(errc::not_found, "no such upload"));
    auto path = it->second.path;
    it->second.fd.reset();
    st->uploads.erase(it);
    auto h = images(self);
    if (!h) {
      ::unlink(path.c_str());
      return reply_error(self, *st, id, unavailable("image"));
    }
    self->request(h, caf::infinite, load_atom_v, path.string())
        .then(
            [self, st, id, path](std::vector<api::image_info>& loaded) {
              ::unlink(path.c_str());
              reply(self, *st, id, loaded);
            },
            [self, st, id, path](caf::error& err) {
              ::unlink(path.c_str());
              reply_error(self, *st, id, err);
            });
    return;
  }
  if (name == mth::container_create)
    return vm_call<api::created>(self, st, id, create_atom_v, arg<api::container_spec>(m));
  if (name == mth::container_start)
    return vm_call<void>(self, st, id, start_atom_v, arg<api::container_ref>(m).container);
  if (name == mth::container_stop) {
    auto req = arg<api::stop_request>(m);
    int32_t sig = 0;
    if (!req.signal.empty() && (sig = vm::parse_signal(req.signal)) == 0)
      return reply_error(self, *st, id, make_error(errc::invalid_argument, "invalid signal: " + req.signal));
    return vm_call<void>(self, st, id, stop_atom_v, req.container, req.timeout, sig);
  }
  if (name == mth::container_wait)
    return vm_call<api::exit_info>(self, st, id, wait_atom_v, arg<api::container_ref>(m).container);
  if (name == mth::container_remove) {
    auto req = arg<api::remove_request>(m);
    return vm_call<void>(self, st, id, remove_atom_v, req.container, req.force);
  }
  if (name == mth::container_list)
    return vm_call<std::vector<api::container_info>>(self, st, id, list_atom_v, arg<api::list_request>(m).all);
  if (name == mth::container_inspect)
    return vm_call<api::container_info>(self, st, id, inspect_atom_v, arg<api::container_ref>(m).container);
  if (name == mth::container_attach) {
    auto req = arg<api::attach_request>(m);
    auto h = vms(self);
    if (!h) return reply_error(self, *st, id, unavailable("container"));
    return open_stream(self, st, id, req.stdin, [self, h, req](const caf::actor& fwd) {
      return self->request(h, caf::infinite, attach_atom_v, req.container, fwd);
    });
  }
  if (name == mth::container_logs) {
    auto req = arg<api::logs_request>(m);
    auto h = vms(self);
    if (!h) return reply_error(self, *st, id, unavailable("container"));
    return open_stream(self, st, id, false, [self, h, req](const caf::actor& fwd) {
      return self->request(h, caf::infinite, logs_atom_v, req.container, fwd, req);
    });
  }
  if (name == mth::container_exec) {
    auto req = arg<api::exec_request>(m);
    auto h = vms(self);
    if (!h) return reply_error(self, *st, id, unavailable("container"));
    if (req.detach) {
      self->request(h, caf::infinite, exec_atom_v, req, caf::actor{})
          .then([self, st, id](std::vector<std::string>& ids) { reply(self, *st, id, api::exec_started{ids.at(1), 0}); },
                [self, st, id](caf::error& err) { reply_error(self, *st, id, err); });
      return;
    }
    auto stream = st->next_stream++;
    auto fwd = self->spawn(stream_forwarder, caf::actor_cast<caf::actor>(self), stream);
    st->streams.emplace(stream, stream_state{fwd, {}, {}, req.open_stdin});
    self->request(h, caf::infinite, exec_atom_v, req, fwd)
        .then(
            [self, st, id, stream, fwd](std::vector<std::string>& ids) {
              if (auto it = st->streams.find(stream); it != st->streams.end()) {
                it->second.container = ids.at(0);
                it->second.process = ids.at(1);
              }
              reply(self, *st, id, api::exec_started{ids.at(1), stream});
              caf::anon_send(fwd, go_atom_v);
            },
            [self, st, id, stream, fwd](caf::error& err) {
              st->streams.erase(stream);
              caf::anon_send_exit(fwd, caf::exit_reason::user_shutdown);
              reply_error(self, *st, id, err);
            });
    return;
  }
  if (name == mth::stream_stdin) {
    auto req = arg<api::stdin_request>(m);
    if (req.data.size() > (1u << 20))
      return reply_error(self, *st, id, make_error(errc::invalid_argument, "stdin chunks are at most 1 MiB"));
    auto s = stream_of(*st, req.stream_id, true);
    if (!s) return reply_error(self, *st, id, s.error());
    return vm_call<void>(self, st, id, stdin_atom_v, (*s)->container, (*s)->process, std::move(req.data));
  }
  if (name == mth::stream_close_stdin) {
    auto s = stream_of(*st, arg<api::stream>(m).stream_id, true);
    if (!s) return reply_error(self, *st, id, s.error());
    return vm_call<void>(self, st, id, eof_atom_v, (*s)->container, (*s)->process);
  }
  if (name == mth::stream_resize) {
    auto req = arg<api::resize_request>(m);
    auto s = stream_of(*st, req.stream_id, false);
    if (!s) return reply_error(self, *st, id, s.error());
    return vm_call<void>(self, st, id, resize_atom_v, (*s)->container, (*s)->process, req.rows, req.cols);
  }
  if (name == mth::container_kill) {
    auto req = arg<api::kill_request>(m);
    int sig = vm::parse_signal(req.signal);
    if (sig == 0) return reply_error(self, *st, id, make_error(errc::invalid_argument, "invalid signal: " + req.signal));
    return vm_call<void>(self, st, id, kill_atom_v, req.container, static_cast<int32_t>(sig));
  }
  if (name == mth::container_restart) {
    auto req = arg<api::stop_request>(m);
    return vm_call<void>(self, st, id, restart_atom_v, req.container, req.timeout);
  }
  if (name == mth::container_ping)
    return vm_call<api::ping_result>(self, st, id, ping_atom_v, arg<api::container_ref>(m).container);
  if (name == mth::container_stats)
    return vm_call<api::container_stats>(self, st, id, stats_atom_v, arg<api::container_ref>(m).container);
  if (name == mth::container_prune) return vm_call<api::removed>(self, st, id, prune_atom_v);
  // The file calls of berth cp: one bounded chunk per call, so the client's pace is the flow
  // control and nothing of a file is buffered here.
  if (name == mth::file_stat) return vm_call<api::file_info>(self, st, id, file_atom_v, arg<api::file_ref>(m));
  if (name == mth::file_list)
    return vm_call<std::vector<api::file_info>>(self, st, id, file_atom_v, list_atom_v, arg<api::file_ref>(m));
  if (name == mth::file_read) {
    auto req = arg<api::file_read_request>(m);
    if (req.length > api::max_file_chunk)
      return reply_error(self, *st, id, make_error(errc::invalid_argument, "file reads are at most 1 MiB"));
    return vm_call<api::file_data>(self, st, id, file_atom_v, read_atom_v, std::move(req));
  }
  if (name == mth::file_write) {
    auto req = arg<api::file_write_request>(m);
    if (req.data.size() > api::max_file_chunk)
      return reply_error(self, *st, id, make_error(errc::invalid_argument, "file writes are at most 1 MiB"));
    return vm_call<void>(self, st, id, file_atom_v, write_atom_v, std::move(req));
  }
  if (name == mth::file_mkdir) return vm_call<void>(self, st, id, file_atom_v, mkdir_atom_v, arg<api::file_spec>(m));
  if (name == mth::file_symlink)
    return vm_call<void>(self, st, id, file_atom_v, symlink_atom_v, arg<api::file_spec>(m));
  if (name == mth::file_set_times)
    return vm_call<void>(self, st, id, file_atom_v, touch_atom_v, arg<api::file_spec>(m));
  if (name == mth::volume_create)
    return vm_call<api::volume_info>(self, st, id, volume_atom_v, create_atom_v, arg<api::volume_create_request>(m));
  if (name == mth::volume_list) return vm_call<std::vector<api::volume_info>>(self, st, id, volume_atom_v, list_atom_v);
  if (name == mth::volume_inspect)
    return vm_call<api::volume_info>(self, st, id, volume_atom_v, inspect_atom_v, arg<api::volume_ref>(m).name);
  if (name == mth::volume_remove) {
    auto req = arg<api::volume_remove_request>(m);
    return vm_call<void>(self, st, id, volume_atom_v, remove_atom_v, req.name, req.force);
  }
  if (name == mth::volume_prune) return vm_call<api::removed>(self, st, id, volume_atom_v, prune_atom_v);
  if (name == mth::network_create)
    return net_call<api::network_info>(self, st, id, create_atom_v, arg<api::network_create_request>(m));
  if (name == mth::network_list) return net_call<std::vector<api::network_info>>(self, st, id, list_atom_v);
  if (name == mth::network_inspect)
    return net_call<api::network_info>(self, st, id, inspect_atom_v, arg<api::network_ref>(m).name);
  if (name == mth::network_remove) return net_call<void>(self, st, id, remove_atom_v, arg<api::network_ref>(m).name);
  if (name == mth::network_prune) return net_call<api::removed>(self, st, id, prune_atom_v);
  if (name == mth::image_pull) {
    auto req = arg<api::pull_request>(m);
    return image_call<api::image_info>(self, st, id, pull_atom_v, req.reference, req.platform,
                                       caf::actor_cast<caf::actor>(self));
  }
  if (name == mth::image_push)
    return image_call<api::pushed>(self, st, id, push_atom_v, arg<api::push_request>(m).reference,
                                   caf::actor_cast<caf::actor>(self));
  if (name == mth::image_tag) {
    auto req = arg<api::tag_request>(m);
    return image_call<void>(self, st, id, tag_atom_v, req.source, req.target);
  }
  if (name == mth::image_remove) {
    auto req = arg<api::image_remove_request>(m);
    return image_call<api::removed>(self, st, id, remove_atom_v, req.reference, req.force);
  }
  if (name == mth::image_prune) return image_call<api::removed>(self, st, id, prune_atom_v, arg<api::prune_request>(m).all);
  if (name == mth::image_inspect)
    return image_call<api::image_detail>(self, st, id, inspect_atom_v, arg<api::image_ref>(m).reference);
  if (name == mth::registry_login) {
    auto req = arg<api::login_request>(m);
    return image_call<void>(self, st, id, login_atom_v, req.server, req.username, req.password);
  }
  if (name == mth::registry_logout) return image_call<void>(self, st, id, logout_atom_v, arg<api::logout_request>(m).server);
  if (name == mth::image_save) {
    auto req = arg<api::save_request>(m);
    auto h = images(self);
    if (!h) return reply_error(self, *st, id, unavailable("image"));
    // The archive streams while the request runs, so the stream is answered and released at
    // once; a failure ends the stream with its error.
    auto stream = st->next_stream++;
    auto fwd = self->spawn(stream_forwarder, caf::actor_cast<caf::actor>(self), stream);
    st->streams.emplace(stream, stream_state{fwd, "image", "image", false});
    reply(self, *st, id, api::stream{stream});
    caf::anon_send(fwd, go_atom_v);
    self->request(h, caf::infinite, save_atom_v, req.references, fwd)
        .then([] {},
              [self, st, stream, fwd](caf::error& err) {
                if (!st->streams.erase(stream)) return;
                caf::anon_send_exit(fwd, caf::exit_reason::user_shutdown);
                api::stream_end end;
                end.stream_id = stream;
                end.error = describe(err);
                send_bytes(self, *st, encode_notification(api::notice::stream_end, end));
              });
    return;
  }
  reply_error(self, *st, id, make_error(errc::no_such_method, "unknown method " + name));
}

caf::behavior session(caf::io::broker* self, caf::io::connection_handle conn, server_options opts) {
  auto st = std::make_shared<session_state>();
  st->opts = std::move(opts);
  st->conn = conn;
  self->configure_read(conn, caf::io::receive_policy::at_most(64 * 1024));
  auto close = [self, st](const std::string& why) {
    if (st->closing) return;
    rpc_log.debug("session closed: {}", why);
    st->closing = true;
    self->close(st->conn);
    self->quit();
  };
  return {
      [self, st, close](const caf::io::new_data_msg& msg) {
        try {
          st->dec.feed(reinterpret_cast<const char*>(msg.buf.data()), msg.buf.size());
          message m;
          while (!st->closing && st->dec.next(m)) {
            if (m.type != kind::request) continue;  // clients send no notifications we serve
            try {
              dispatch(self, st, m);
            } catch (const call_error& e) {
              send_bytes(self, *st, encode_error(m.id, e.code(), e.what()));
            }
          }
        } catch (const protocol_error& e) {
          rpc_log.warn("client broke the protocol: {}", e.what());
          send_bytes(self, *st, encode_error(0, errc::protocol, e.what()));
          close(e.what());
        }
      },
      [close](const caf::io::connection_closed_msg&) { close("client went away"); },
      [self, st](output_atom, uint32_t stream, uint8_t fd, int64_t time, std::vector<char>& data) {
        api::stream_data note;
        note.stream_id = stream;
        note.fd = fd;
        note.time = time;
        note.data = std::move(data);
        send_bytes(self, *st, encode_notification(api::notice::stream_data, note));
      },
      [self, st](end_atom, uint32_t stream, int32_t code) {
        st->streams.erase(stream);
        api::stream_end end;
        end.stream_id = stream;
        end.has_exit_code = code >= 0;
        end.exit_code = code;
        send_bytes(self, *st, encode_notification(api::notice::stream_end, end));
      },
      [self, st](progress_atom, const api::progress& p) {
        send_bytes(self, *st, encode_notification(api::notice::progress, p));
      },
  };
}

caf::behavior listener(caf::io::broker* self, int fd, server_options opts, std::string path) {
  self->add_doorman(fd);
  self->attach_functor([path] { ::unlink(path.c_str()); });
  return {
      [self, opts](const caf::io::new_connection_msg& msg) { self->fork(session, msg.handle, opts); },
  };
}

}  // namespace

caf::expected<caf::actor> spawn_rpc_server(caf::local_actor* parent, const server_options& opts) {
  std::string path;
  try {
    path = socket_path(opts.host);
  } catch (const call_error& e) {
    return make_error(e.code(), e.what());
  }
  // Another daemon answering here must not lose its socket to us.
  try {
    client::connect(opts.host);
    return make_error(errc::already_exists, "another berthd is listening on " + opts.host);
  } catch (const call_error&) {
  }
  std::error_code ec;
  fs::create_directories(fs::path(path).parent_path(), ec);
  os::unique_fd fd;
  try {
    // Root and berthd's group only (an administrator may chgrp the socket to grant a group).
    fd = os::listen_unix(path, 0660, 64, true);
  } catch (const std::system_error& e) {
    return make_error(e.code().value() == ENAMETOOLONG ? errc::invalid_argument : errc::io,
                      "cannot listen on " + path + ": " + e.what());
  }
  auto server = parent->home_system().middleman().spawn_broker(listener, fd.release(), opts, path);
  parent->link_to(server);
  rpc_log.info("listening on unix://{}", path);
  return server;
}

}  // namespace berth::rpc

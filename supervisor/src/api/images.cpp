// images.cpp: the image.* and registry.* methods, served by the image supervisor: list, pull and
// push (with progress notifications), tag, remove, prune, inspect, save (a stream of tar bytes),
// login and logout, and image.load: an upload in chunks, spooled to a file by a writer actor on
// its own thread (the session never blocks on the disk), then loaded from that file.
#include "api/handler.hpp"

#include "berth/os/fd.hpp"
#include "berth/os/random.hpp"

#include <caf/actor_cast.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/result.hpp>
#include <caf/spawn_options.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

namespace berth::api_server {

namespace {

namespace fs = std::filesystem;

// The writer of one upload, a detached actor that owns its spool file: (create_atom) makes the
// file, (write_atom, bytes) appends, each answered once done, in the order they came; (end_atom)
// closes the file and hands it over, answering its path. The file is deleted when the writer ends
// any other way: a failed write, the upload going over the limit, the session ending.
caf::behavior spool_writer(caf::event_based_actor* self, fs::path path) {
  struct state {
    os::unique_fd fd;
    bool handed_over = false;
  };
  auto st = std::make_shared<state>();
  self->attach_functor([st, path] {
    if (!st->handed_over) ::unlink(path.c_str());
  });
  auto fail = [self](std::string what, int error) -> caf::error {
    auto err = make_error(errc::io, std::move(what) + ": " + std::strerror(error));
    self->quit();
    return err;
  };
  return {
      [st, path, fail](create_atom) -> caf::result<void> {
        std::error_code ec;
        fs::create_directories(path.parent_path(), ec);
        st->fd.reset(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
        if (!st->fd) {
          int error = errno;
          return fail("cannot spool the upload to " + path.string(), error);
        }
        return {};
      },
      [st, fail](write_atom, const std::vector<char>& data) -> caf::result<void> {
        std::string_view rest(data.data(), data.size());
        while (!rest.empty()) {
          auto n = ::write(st->fd.get(), rest.data(), rest.size());
          if (n < 0 && errno == EINTR) continue;
          if (n < 0) return fail("cannot spool the upload", errno);
          rest.remove_prefix(static_cast<std::size_t>(n));
        }
        return {};
      },
      [self, st, path](end_atom) -> std::string {
        st->fd.reset();
        st->handed_over = true;
        self->quit();
        return path.string();
      },
  };
}

void list(caf::io::broker* self, const session_ptr& st, rpc::message& m) {
  image_call<std::vector<api::image_info>>(self, st, m.id, list_atom_v);
}

void load_begin(caf::io::broker* self, const session_ptr& st, rpc::message& m) {
  auto id = m.id;
  auto path = st->opts.upload_dir / ("upload-" + os::random_hex(8) + ".tar");
  auto writer = self->spawn<caf::detached>(spool_writer, path);
  auto upload_id = st->next_upload++;
  st->uploads.emplace(upload_id, upload_state{writer, 0});
  self->request(writer, caf::infinite, create_atom_v)
      .then([self, st, id, upload_id] { reply(self, *st, id, api::upload{upload_id}); },
            [self, st, id, upload_id](caf::error& err) {
              st->uploads.erase(upload_id);
              reply_error(self, *st, id, err);
            });
}

void load_chunk(caf::io::broker* self, const session_ptr& st, rpc::message& m) {
  auto id = m.id;
  auto chunk = rpc::arg<api::upload_chunk>(m);
  auto it = st->uploads.find(chunk.upload_id);
  if (it == st->uploads.end())
    return reply_error(self, *st, id, make_error(errc::not_found, "no such upload"));
  auto& up = it->second;
  up.size += chunk.data.size();
  if (up.size > st->opts.max_upload) {
    caf::anon_send_exit(up.writer, caf::exit_reason::user_shutdown);
    st->uploads.erase(it);
    return reply_error(
        self, *st, id,
        make_error(errc::invalid_argument, "the archive is larger than the upload limit"));
  }
  self->request(up.writer, caf::infinite, write_atom_v, std::move(chunk.data))
      .then([self, st, id] { reply(self, *st, id, api::empty{}); },
            [self, st, id, upload_id = chunk.upload_id](caf::error& err) {
              st->uploads.erase(upload_id);
              reply_error(self, *st, id, err);
            });
}

void load_end(caf::io::broker* self, const session_ptr& st, rpc::message& m) {
  auto id = m.id;
  auto it = st->uploads.find(rpc::arg<api::upload>(m).upload_id);
  if (it == st->uploads.end())
    return reply_error(self, *st, id, make_error(errc::not_found, "no such upload"));
  auto writer = it->second.writer;
  st->uploads.erase(it);
  // After the writes before it: the writer answers in order.
  self->request(writer, caf::infinite, end_atom_v)
      .then(
          [self, st, id](const std::string& path) {
            auto images = image_supervisor_of(self->home_system());
            if (!images) {
              ::unlink(path.c_str());
              return reply_error(self, *st, id, unavailable("image"));
            }
            self->request(images, caf::infinite, load_atom_v, path)
                .then(
                    [self, st, id, path](std::vector<api::image_info>& loaded) {
                      ::unlink(path.c_str());
                      reply(self, *st, id, loaded);
                    },
                    [self, st, id, path](caf::error& err) {
                      ::unlink(path.c_str());
                      reply_error(self, *st, id, err);
                    });
          },
          [self, st, id](caf::error& err) { reply_error(self, *st, id, err); });
}

void pull(caf::io::broker* self, const session_ptr& st, rpc::message& m) {
  auto req = rpc::arg<api::pull_request>(m);
  image_call<api::image_info>(self, st, m.id, pull_atom_v, req.reference, req.platform,
                              caf::actor_cast<caf::actor>(self));
}

void push(caf::io::broker* self, const session_ptr& st, rpc::message& m) {
  image_call<api::pushed>(self, st, m.id, push_atom_v, rpc::arg<api::push_request>(m).reference,
                          caf::actor_cast<caf::actor>(self));
}

void tag(caf::io::broker* self, const session_ptr& st, rpc::message& m) {
  auto req = rpc::arg<api::tag_request>(m);
  image_call<void>(self, st, m.id, tag_atom_v, req.source, req.target);
}

void remove(caf::io::broker* self, const session_ptr& st, rpc::message& m) {
  auto req = rpc::arg<api::image_remove_request>(m);
  image_call<api::removed>(self, st, m.id, remove_atom_v, req.reference, req.force);
}

void prune(caf::io::broker* self, const session_ptr& st, rpc::message& m) {
  image_call<api::removed>(self, st, m.id, prune_atom_v, rpc::arg<api::prune_request>(m).all);
}

void inspect(caf::io::broker* self, const session_ptr& st, rpc::message& m) {
  image_call<api::image_detail>(self, st, m.id, inspect_atom_v,
                                rpc::arg<api::image_ref>(m).reference);
}

// The archive streams while the request runs, so the stream is answered and released at once;
// a failure ends the stream with its error. The archive's writer cannot be paused (it sends as
// it reads the image's blobs), so its stream has no backlog limit: it waits for the client like
// every stream, holding at most the image in between (docs/protocol.md, flow control).
void save(caf::io::broker* self, const session_ptr& st, rpc::message& m) {
  auto req = rpc::arg<api::save_request>(m);
  auto images = image_supervisor_of(self->home_system());
  if (!images) return reply_error(self, *st, m.id, unavailable("image"));
  auto s = add_stream(self, *st, false, SIZE_MAX);
  stream_ready(self, *st, m.id, s, "image", "image", api::stream{s.id});
  self->request(images, caf::infinite, save_atom_v, req.references, s.forwarder)
      .then([] {}, [self, st, s](caf::error& err) { end_stream(self, *st, s.id, err); });
}

void login(caf::io::broker* self, const session_ptr& st, rpc::message& m) {
  auto req = rpc::arg<api::login_request>(m);
  image_call<void>(self, st, m.id, login_atom_v, req.server, req.username, req.password);
}

void logout(caf::io::broker* self, const session_ptr& st, rpc::message& m) {
  image_call<void>(self, st, m.id, logout_atom_v, rpc::arg<api::logout_request>(m).server);
}

}  // namespace

void image_routes(route_table& table) {
  namespace mth = api::method;
  table.emplace(mth::image_list, list);
  table.emplace(mth::image_load_begin, load_begin);
  table.emplace(mth::image_load_chunk, load_chunk);
  table.emplace(mth::image_load_end, load_end);
  table.emplace(mth::image_pull, pull);
  table.emplace(mth::image_push, push);
  table.emplace(mth::image_tag, tag);
  table.emplace(mth::image_remove, remove);
  table.emplace(mth::image_prune, prune);
  table.emplace(mth::image_inspect, inspect);
  table.emplace(mth::image_save, save);
  table.emplace(mth::registry_login, login);
  table.emplace(mth::registry_logout, logout);
}

}  // namespace berth::api_server

// listener.cpp: binds berthd's socket and forks a session broker for each client; the route
// table is built once here and shared by every session.
#include "api/session.hpp"

#include "berth/actors/log.hpp"
#include "berth/os/fd.hpp"
#include "berth/os/socket.hpp"
#include "berth/rpc/client.hpp"
#include "berth/supervisor/api_server.hpp"

#include <caf/actor_system.hpp>
#include <caf/io/middleman.hpp>
#include <caf/io/system_messages.hpp>
#include <caf/local_actor.hpp>

#include <unistd.h>

#include <cerrno>
#include <system_error>

namespace berth::api_server {

namespace fs = std::filesystem;

namespace {

inline constexpr log::logger listener_log("rpc");

caf::behavior listener(caf::io::broker* self, int fd, options opts, std::string path) {
  self->add_doorman(fd);
  self->attach_functor([path] { ::unlink(path.c_str()); });
  auto routes = std::make_shared<const route_table>(make_routes(opts));
  return {
      [self, opts, routes](const caf::io::new_connection_msg& msg) {
        self->fork(session, msg.handle, opts, routes);
      },
  };
}

}  // namespace

caf::expected<caf::actor> spawn(caf::local_actor* parent, const options& opts) {
  std::string path;
  try {
    path = rpc::socket_path(opts.host);
  } catch (const rpc::call_error& e) {
    return make_error(e.code(), e.what());
  }
  // Another daemon answering here must not lose its socket to us.
  try {
    rpc::client::connect(opts.host);
    return make_error(errc::already_exists, "another berthd is listening on " + opts.host);
  } catch (const rpc::call_error&) {
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
  listener_log.info("listening on unix://{}", path);
  return server;
}

}  // namespace berth::api_server
